"""Every chapter of the handbook executes without error and its outputs match the recorded ones.

After an intended change to rules, cases or chapters, record the new outputs with
``make golden`` (``UPDATE_GOLDEN=1``) and review the diff of ``tests/golden/``.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from tests.chapters import chapters, execute, golden_path, outputs, read_golden, write_golden

pytestmark = pytest.mark.chapters


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapter_runs_and_matches_recorded_outputs(path: Path) -> None:
    found = outputs(execute(path))
    assert not any(text.startswith("FEL:") for text in found), found
    if os.environ.get("UPDATE_GOLDEN"):
        write_golden(path, found)
        return
    recorded = read_golden(path)
    assert recorded is not None, (
        f"no recorded outputs for {path.name}; run `make golden` and review {golden_path(path)}"
    )
    if found != recorded:
        diff = "\n".join(
            difflib.unified_diff(
                "\n".join(recorded).splitlines(), "\n".join(found).splitlines(), "inspelat", "nu", lineterm="", n=1
            )
        )
        pytest.fail(f"{path.name}: outputs differ from {golden_path(path).name}:\n{diff[:6000]}")
