"""No guessed fee: a deciding fact that is not given never lets a contact fall through to a row
that charges, and the trace says why an outcome is what it is.

The rule tables are read as data: a row whose condition tests both that a fact is given and its
value (`{given: booked}, {booked: false}`) skips to the next row when the fact is missing, which
is how an unknown fact used to reach a charging row. Only `programme_event` may be tested that
way: by the case contract a contact without it is not a programme event, so its absence is a
fact, not a gap.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from patientavgift.cases import price_case, read_case_file
from patientavgift.conditions import All, Any_, Condition, Equals, Given, Not, Ref
from patientavgift.rules import RuleBook

PRESENCE_IS_A_FACT = {"programme_event"}


def _guards(cond: Condition, book: RuleBook, seen: frozenset[str] = frozenset()) -> set[str]:
    """Fact keys tested both for being given and for a value within one `all`."""
    if isinstance(cond, Ref):
        return set() if cond.name in seen else _guards(book.definitions[cond.name], book, seen | {cond.name})
    if isinstance(cond, Not):
        return _guards(cond.part, book, seen)
    if isinstance(cond, (All, Any_)):
        found = set().union(*(_guards(p, book, seen) for p in cond.parts)) if cond.parts else set()
        if isinstance(cond, All):
            given = {p.key for p in cond.parts if isinstance(p, Given)}
            tested = {p.key for p in cond.parts if isinstance(p, Equals)}
            found |= given & tested
        return found
    return set()


def test_no_row_lets_an_unknown_fact_fall_through(book: RuleBook) -> None:
    offending = []
    for table_id, table in book.tables.items():
        if table.kind == "categories":
            continue  # a stated kind is tested when given; the table's last row makes a missing kind undetermined
        for row in table.rows:
            keys = _guards(book.when(table_id, row), book) - PRESENCE_IS_A_FACT
            if keys:
                offending.append(f"{row.id}: {sorted(keys)}")
    assert offending == []


def _outcomes(tmp_path: Path, book: RuleBook, text: str) -> list[object]:
    path = tmp_path / "case.yaml"
    path.write_text(text, encoding="utf-8")
    (entry,) = read_case_file(path, book)
    assert entry.case is not None
    outcomes, _ = price_case(book, entry.case)
    return list(outcomes)


def test_a_failed_basic_requirement_is_named_in_the_trace(tmp_path: Path, book: RuleBook) -> None:
    # Region Skåne: the 200 kr fee applies to treatments that meet the basic requirements; a
    # treatment without therapist support is priced as an ordinary visit (vårdcentral, psychologist:
    # 200 kr, facts §4.1), and the trace names the requirement that failed.
    (outcome,) = _outcomes(
        tmp_path,
        book,
        """
id: t
region: skane
service: primary_care
patient: {age: 45}
contacts:
  - date: 2025-05-05
    mode: physical
    visit_form: individual
    booked: true
    profession: psychologist
    programme_event: first_visit
    programme: {kind: treatment, ordered_by_licensed: true, approved_by_region: true, therapist_support: false, login_1177: true}
""",
    )
    rules = [step.rule for step in outcome.trace]  # type: ignore[attr-defined]
    assert "skane.req-no-support" in rules and "skane.ikbt-charged" not in rules
    assert outcome.fee == 200  # type: ignore[attr-defined]


def test_a_platform_contact_in_vgr_has_no_rule_for_its_mode(tmp_path: Path, book: RuleBook) -> None:
    (outcome,) = _outcomes(
        tmp_path,
        book,
        """
id: t
region: vgr
service: vardval_rehab
patient: {age: 45}
contacts:
  - {date: 2026-03-02, mode: platform}
""",
    )
    assert outcome.missing == []  # type: ignore[attr-defined]
    assert "kontaktformen patientens eget arbete" in outcome.reasons[0]  # type: ignore[attr-defined]


def test_confidence_of_an_outcome_is_its_weakest_deciding_step(tmp_path: Path, book: RuleBook) -> None:
    # Jämtland Härjedalen: 400 kr is documented for 2025 (the proposal) and carried into 2026
    # without a source; the 2026 fee is therefore unverified, and explained by the value's note.
    first, second = _outcomes(
        tmp_path,
        book,
        """
id: t
region: jamtland-harjedalen
service: primary_care
patient: {age: 45}
contacts:
  - {date: 2025-12-31, mode: physical}
  - {date: 2026-01-01, mode: physical}
""",
    )
    assert (first.fee, first.confidence) == (400, "verified")  # type: ignore[attr-defined]
    assert (second.fee, second.confidence) == (400, "unverified")  # type: ignore[attr-defined]
    assert any("2025" in note for note in second.confidence_notes)  # type: ignore[attr-defined]
    assert first.date == date(2025, 12, 31)  # type: ignore[attr-defined]
