"""Every statement of the sources that bears on a fee, a registration or a reimbursement is cited by a
rule and tested by a case, unless the source register says why it is not modelled."""

from __future__ import annotations

from patientavgift.cases import case_files, read_case_file
from patientavgift.coverage import coverage
from patientavgift.rules import RuleBook

from .conftest import CASES


def test_every_statement_is_covered(book: RuleBook) -> None:
    entries = [e for p in case_files([CASES]) for e in read_case_file(p, book)]
    gaps = [f"{c.statement}: saknar {c.gap}" for c in coverage(book, entries) if c.gap]
    assert gaps == []


def test_cases_cite_known_statements(book: RuleBook) -> None:
    entries = [e for p in case_files([CASES]) for e in read_case_file(p, book)]
    unknown = sorted({sid for e in entries if e.case for sid in e.case.cites if sid not in book.statements})
    assert unknown == []
