"""Shared fixtures: the rule book and a helper that writes a case file."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from patientavgift.rules import RuleBook, load_rules

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "cases"

# The book judges review dates and "today" by this day, so that the recorded chapter outputs do not
# change with the calendar (a real build uses the day it runs).
os.environ.setdefault("PATIENTAVGIFT_TODAY", "2026-12-04")


@pytest.fixture(scope="session")
def book() -> RuleBook:
    return load_rules()


@pytest.fixture
def write_case(tmp_path: Path) -> Callable[[str], Path]:
    """Write YAML text (dedented) to a case file and return its path."""

    def write(text: str, name: str = "case.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
