"""Source coverage: which rules and which cases cite each statement of the source register.

A statement that bears on a fee, a registration or a reimbursement should be cited by at least one
rule and tested by at least one case, unless the register says why it is not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .cases import CaseEntry
from .engine import ENGINE_CITES
from .rules import RuleBook

MUST_COVER = {"fee", "registration", "reimbursement"}
"""Statements bearing on any of these must be cited by a rule and a case (or say why not)."""


@dataclass
class Coverage:
    """Who cites one statement."""

    statement: str
    document: str
    section: str
    text: str
    must_cover: bool
    not_modelled: str | None
    rules: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)

    @property
    def gap(self) -> str | None:
        """What is missing ('rule', 'case', 'rule and case'), or None when covered or exempt."""
        if not self.must_cover or self.not_modelled:
            return None
        missing = [name for name, cited in (("regel", self.rules), ("fall", self.cases)) if not cited]
        return " och ".join(missing) or None


def rule_citations(book: RuleBook) -> dict[str, list[str]]:
    """statement id → ids of the rules (rows, parameters, exemptions, ceiling values) citing it."""
    cites: dict[str, list[str]] = {}

    def add(rule_id: str, ids: Iterable[str]) -> None:
        for sid in ids:
            if rule_id not in cites.setdefault(sid, []):
                cites[sid].append(rule_id)

    for table in book.tables.values():
        for row in table.rows:
            add(row.id, row.cite)
            for extra in row.points_extra:
                add(extra.id, extra.cite)
            for warning in row.warnings:
                if not isinstance(warning, str):
                    add(row.id, warning.cite)
        for reading in table.readings:
            add(reading.id, reading.cite)
        for param in table.parameters:
            for value in param.values:
                add(param.id, value.cite)
    for region in book.regions.values():
        for ex in region.exemptions:
            add(ex.id, ex.cite)
    if book.national:
        for ex in book.national.exemptions:
            add(ex.id, ex.cite)
        ceiling = book.national.ceiling
        add(ceiling.rule.id, ceiling.rule.cite)
        for pbb in ceiling.prisbasbelopp:
            add(f"prisbasbelopp.{pbb.year}", pbb.cite)
        for own in ceiling.regional:
            add(own.id, own.cite)
        for documented in ceiling.documented:
            add(f"ceiling.{documented.year}", documented.cite)
        add(ceiling.rule.id, ceiling.derived_cite)
    for step, ids in ENGINE_CITES.items():
        add(step, ids)
    return cites


def coverage(book: RuleBook, entries: Iterable[CaseEntry]) -> list[Coverage]:
    """Coverage of every statement in the source register, in register order."""
    by_rule = rule_citations(book)
    by_case: dict[str, list[str]] = {}
    for entry in entries:
        if entry.case:
            for sid in entry.case.cites:
                by_case.setdefault(sid, []).append(entry.case.id)
    result = []
    for sid, (doc, st) in book.statements.items():
        result.append(
            Coverage(
                statement=sid,
                document=doc.id,
                section=st.section,
                text=st.text,
                must_cover=bool(MUST_COVER & set(st.bears_on)),
                not_modelled=st.not_modelled,
                rules=by_rule.get(sid, []),
                cases=by_case.get(sid, []),
            )
        )
    return result
