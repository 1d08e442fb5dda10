"""Shared fixtures: the rule book and a helper that writes a case file; the hypothesis profiles."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from patientavgift.rules import RuleBook, load_rules

# Random-example tests run a few dozen examples each by default (`make unit`), many more with
# HYPOTHESIS_PROFILE=thorough (`make test-thorough`). Pricing a register is slow next to
# hypothesis' own pace, so neither profile has a deadline.
_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("quick", max_examples=25, deadline=None, suppress_health_check=_SLOW)
settings.register_profile("thorough", max_examples=500, deadline=None, suppress_health_check=_SLOW)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))

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
