"""The synthetic Jämtland Härjedalen register: it matches the cited figures, says it is synthetic,
is reproducible from its seed, and can be moved to a later year."""

from __future__ import annotations

import math
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from patientavgift import synthetic as syn
from patientavgift.rules import RuleBook

# Region Jämtland Härjedalen, "Sänkt patientavgift för skriftlig distanskontakt", section "Ökade
# intäkter": written distance contacts January–May 2025 in all and per unit. The three units sum to
# 1162; the source does not say where the remaining 29 belong.
WRITTEN_TOTAL = 1191
PER_UNIT = {"primary_care": 645, "child_psychiatry": 428, "eating_disorders": 89}
WITHOUT_UNIT = 29

JAN_1, MAY_31 = date(2025, 1, 1), date(2025, 5, 31)


@pytest.fixture(scope="module")
def register(book: RuleBook) -> pa.Table:
    return syn.rjh_written_2025(book)


def _texts(table: pa.Table, column: str) -> list[str | None]:
    texts: list[str | None] = table.column(column).cast(pa.string()).to_pylist()
    return texts


def test_written_contacts_match_the_source(register: pa.Table) -> None:
    counts = syn.written_contacts(register, JAN_1, MAY_31)
    assert sum(counts.values()) == WRITTEN_TOTAL
    assert {k: counts.get(k, 0) for k in PER_UNIT} == PER_UNIT
    assert counts.get("", 0) == WITHOUT_UNIT
    assert set(counts) == {*PER_UNIT, ""}


def test_written_contacts_lie_in_the_period(register: pa.Table) -> None:
    written = register.filter(pc.equal(register.column("mode").cast(pa.string()), "written"))
    assert written.num_rows == WRITTEN_TOTAL
    days = {date.fromisoformat(d) for d in _texts(written, "date") if d}
    assert min(days) >= JAN_1 and max(days) <= MAY_31


def test_the_figures_come_from_the_rule_data(book: RuleBook) -> None:
    figures = syn.rjh_figures(book)
    assert int(str(figures["written_contacts"])) == WRITTEN_TOTAL
    assert {k: int(str(figures[k])) for k in PER_UNIT} == PER_UNIT


def test_the_register_says_it_is_synthetic(register: pa.Table) -> None:
    ids = _texts(register, "patient_id")
    assert ids and all(pid is not None and pid.startswith("SYN-") for pid in ids)
    metadata = register.schema.metadata or {}
    assert metadata.get(b"synthetic") == b"true"


def test_same_seed_same_register_other_seed_other_register(book: RuleBook, register: pa.Table) -> None:
    assert syn.rjh_written_2025(book, seed=2025).equals(register)
    other = syn.rjh_written_2025(book, seed=7)
    assert not other.equals(register)
    # Another seed still holds the cited counts.
    assert syn.written_contacts(other, JAN_1, MAY_31) == syn.written_contacts(register, JAN_1, MAY_31)


def test_shift_years_moves_dates_and_keeps_birth_dates() -> None:
    table = pa.table(
        {
            "patient_id": ["SYN-test-1", "SYN-test-2"],
            "date": ["2025-03-10", "2024-02-29"],
            "birth_date": ["1980-06-15", "2010-01-02"],
        }
    )
    shifted = syn.shift_years(table, 1)
    assert _texts(shifted, "date") == ["2026-03-10", "2025-03-01"]
    assert _texts(shifted, "birth_date") == ["1980-06-15", "2010-01-02"]
    assert _texts(shifted, "patient_id") == ["SYN-test-1", "SYN-test-2"]


def test_shift_years_on_the_preset_keeps_every_patient(register: pa.Table) -> None:
    shifted = syn.shift_years(register, 1)
    assert shifted.num_rows == register.num_rows
    assert _texts(shifted, "birth_date") == _texts(register, "birth_date")
    assert _texts(shifted, "patient_id") == _texts(register, "patient_id")
    before = [date.fromisoformat(d) for d in _texts(register, "date") if d]
    after = [date.fromisoformat(d) for d in _texts(shifted, "date") if d]
    assert after == [d.replace(year=d.year + 1) for d in before]
    assert syn.written_contacts(shifted, date(2026, 1, 1), date(2026, 5, 31)) == syn.written_contacts(
        register, JAN_1, MAY_31
    )


def _contacts(table: pa.Table) -> list[tuple[str | None, ...]]:
    """Each row's patient, date, mode and service: what the knobs of the preset must not move."""
    return list(zip(*(_texts(table, c) for c in ("patient_id", "date", "mode", "service")), strict=True))


def test_qualified_share_makes_the_rest_administrative_per_unit(book: RuleBook, register: pa.Table) -> None:
    half = syn.rjh_written_2025(book, qualified_share=0.5)
    written = half.filter(pc.equal(half.column("mode").cast(pa.string()), "written"))
    kinds: dict[tuple[str, str | None], int] = {}
    for service, purpose in zip(_texts(written, "service"), _texts(written, "purpose"), strict=True):
        kinds[(service or "", purpose)] = kinds.get((service or "", purpose), 0) + 1
    # Half of each unit's contacts, rounded half up: 645 → 323, 428 → 214, 89 → 45, 29 → 15.
    assert kinds == {
        ("primary_care", "care"): 323,
        ("primary_care", "administrative"): 322,
        ("child_psychiatry", "care"): 214,
        ("child_psychiatry", "administrative"): 214,
        ("eating_disorders", "care"): 45,
        ("eating_disorders", "administrative"): 44,
        ("", "care"): 15,
        ("", "administrative"): 14,
    }
    assert _contacts(half) == _contacts(register)
    assert syn.written_contacts(half, JAN_1, MAY_31) == syn.written_contacts(register, JAN_1, MAY_31)


def _age_on(born: str, day: date) -> int:
    birth = date.fromisoformat(born)
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _under_18_per_unit(table: pa.Table) -> dict[str, tuple[int, int]]:
    """Per unit: (patients under 18 on 1 January 2025, patients)."""
    seen: dict[str, tuple[str, str]] = {}
    for pid, born, service in zip(
        _texts(table, "patient_id"), _texts(table, "birth_date"), _texts(table, "service"), strict=True
    ):
        assert pid is not None and born is not None
        seen[pid] = (service or "", born)
    out: dict[str, tuple[int, int]] = {}
    for service, born in seen.values():
        under, of = out.get(service, (0, 0))
        out[service] = (under + (_age_on(born, JAN_1) < 18), of + 1)
    return out


def test_under_18_share_sets_the_ages_and_keeps_the_contacts(book: RuleBook, register: pa.Table) -> None:
    default = _under_18_per_unit(register)
    # Without the knob each unit keeps its assumed ages: child psychiatry under 18, primary care 18 and over.
    assert default["child_psychiatry"][0] == default["child_psychiatry"][1]
    assert default["primary_care"][0] == 0
    quarter = syn.rjh_written_2025(book, under_18_share=0.25)
    assert _under_18_per_unit(quarter) == {
        unit: (math.floor(0.25 * patients + 0.5), patients) for unit, (_, patients) in default.items()
    }
    assert _contacts(quarter) == _contacts(register)
    none = _under_18_per_unit(syn.rjh_written_2025(book, under_18_share=0.0))
    assert all(under == 0 for under, _ in none.values())
    everyone = _under_18_per_unit(syn.rjh_written_2025(book, under_18_share=1.0))
    assert all(under == patients for under, patients in everyone.values())


@pytest.mark.parametrize("knob", [{"qualified_share": 1.5}, {"qualified_share": -0.1}, {"under_18_share": 2.0}])
def test_shares_outside_0_to_1_are_refused(book: RuleBook, knob: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        syn.rjh_written_2025(book, **knob)  # type: ignore[arg-type]
