"""Three-valued conditions: a missing fact is unknown, not false."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patientavgift.conditions import ConditionError, Tri, compile_condition
from patientavgift.rules import load_rules

FACTS: dict[str, Any] = {}


def _lookup(facts: dict[str, Any]) -> Any:
    return lambda key: (facts.get(key), frozenset())


def _eval(raw: Any, **facts: Any) -> tuple[bool | None, set[str]]:
    result = compile_condition(raw).evaluate(_lookup(facts), {})
    return result.value, set(result.missing)


def test_all_is_false_as_soon_as_one_part_is_false() -> None:
    cond = {"all": [{"booked": True}, {"medical_assessment": True}]}
    assert _eval(cond, medical_assessment=False) == (False, set())
    assert _eval(cond, medical_assessment=True) == (None, {"booked"})


def test_any_is_true_as_soon_as_one_part_is_true() -> None:
    cond = {"any": [{"initiated_by": "patient"}, {"booked": True}]}
    from patientavgift.model import InitiatedBy

    assert _eval(cond, booked=True) == (True, set())
    assert _eval(cond, booked=False) == (None, {"initiated_by"})
    assert _eval(cond, booked=False, initiated_by=InitiatedBy.provider) == (False, set())


def test_given_never_is_unknown() -> None:
    assert _eval({"given": "visit_form"}) == (False, set())


def test_not_keeps_unknown() -> None:
    assert _eval({"not": {"booked": True}}) == (None, {"booked"})


def test_list_means_one_of() -> None:
    from patientavgift.model import Mode

    assert _eval({"mode": ["phone", "video"]}, mode=Mode.video) == (True, set())
    assert _eval({"mode": ["phone", "video"]}, mode=Mode.written) == (False, set())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"mode": "fax"},
            "'fax' är inte tillåtet för mode; tillåtna värden: physical, phone, video, written, letter, inbox, platform",
        ),
        ({"booked": "yes"}, "'yes' är inte tillåtet för booked; skriv true eller false"),
        ({"bokad": True}, "okänd nyckel 'bokad' i ett villkor"),
        ({"any": []}, "'any' behöver en lista med minst ett villkor"),
    ],
)
def test_malformed_conditions(raw: Any, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        compile_condition(raw)
    assert message in str(info.value)


# --------------------------------------------------------------------------- putting known facts in


def _domain(key: str) -> list[Any]:
    from patientavgift.model import FACT_TYPES, ProgrammeKind, Region, Service

    kinds: dict[str, Any] = {"region": Region, "service": Service, "category": ProgrammeKind}
    kind = FACT_TYPES.get(key, kinds.get(key))
    if kind is bool:
        return [True, False]
    if kind is None:
        return [["ZV051"]]  # kva_codes
    return list(kind)


def _merged_lookup(facts: dict[str, Any]) -> Any:
    """Facts as the engine reads them: `programme` is given when any programme.* fact is."""

    def lookup(key: str) -> tuple[Any, frozenset[str]]:
        if key == "programme":
            given = any(k.startswith("programme.") and v is not None for k, v in facts.items())
            return (object() if given else None), frozenset()
        return facts.get(key), frozenset()

    return lookup


@st.composite
def _split_facts(draw: st.DrawFn) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """A condition of the rule data, facts already known (some left out for good, as None) and
    facts answered later (never a known one)."""
    book = load_rules()
    key = draw(st.sampled_from(sorted(book.conditions)))
    condition = book.conditions[key]
    keys = sorted(k for k in condition.facts(book.definitions) if k != "programme")
    known: dict[str, Any] = {}
    later: dict[str, Any] = {}
    for k in keys:
        where = draw(st.sampled_from(["known", "left-out", "later", "never"]))
        if where == "known":
            known[k] = draw(st.sampled_from(_domain(k)))
        elif where == "left-out":
            known[k] = None
        elif where == "later":
            later[k] = draw(st.sampled_from(_domain(k)))
    return condition, known, later


@given(_split_facts())
def test_putting_known_facts_in_first_changes_no_answer(split: tuple[Any, dict[str, Any], dict[str, Any]]) -> None:
    """Evaluating what a condition leaves open after the known facts, on the facts answered later,
    gives what evaluating the whole condition on all the facts gives, missing facts included: the
    fee finder builds a subtree once for every set of answers that leaves the same conditions open."""
    condition, known, later = split
    defs = load_rules().definitions
    whole = condition.evaluate(_merged_lookup({**known, **later}), defs)
    rest = condition.partial(known, defs)
    if isinstance(rest, bool):
        assert whole == Tri(rest)
    else:
        assert rest.evaluate(_merged_lookup(later), defs) == whole
