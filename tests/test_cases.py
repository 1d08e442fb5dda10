"""Every worked case under cases/ runs as its own test, named by its id."""

from __future__ import annotations

import pytest

from patientavgift.cases import CaseEntry, case_files, read_case_file, run_entry
from patientavgift.explain import failure_text
from patientavgift.rules import RuleBook, load_rules

from .conftest import CASES


def _entries() -> list[CaseEntry]:
    book = load_rules()
    return [entry for path in case_files([CASES]) for entry in read_case_file(path, book)]


ENTRIES = _entries()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_case(entry: CaseEntry, book: RuleBook) -> None:
    result = run_entry(book, entry)
    assert result.passed, failure_text(result)


def test_case_ids_are_unique() -> None:
    ids = [e.id for e in ENTRIES]
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


def test_corpus_size() -> None:
    """The corpus holds at least 80 valid cases and at least 15 cases of invalid input."""
    valid = [e for e in ENTRIES if e.case is not None]
    invalid = [e for e in ENTRIES if e.case is None]
    assert len(valid) >= 80
    assert len(invalid) >= 15
