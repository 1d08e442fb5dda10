"""The command line as the case contract describes it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from patientavgift.cli import main

PASSING = """\
id: cli-tb
title: Telefonkontakt som ersätter besök
source: VGR Vårdval Rehab v6.0, raden TB
region: vgr
service: vardval_rehab
patient: {age: 45}
contacts:
  - date: 2026-02-10
    mode: phone
    booked: true
    medical_assessment: true
    resolved_by_booking_or_referral: false
    staff: licensed
    expect: {fee: 160, registration: TB, contact_points: 0.2, qualified: true}
"""


def test_cases_prints_closing_line_and_exits_zero(
    write_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case(PASSING)
    assert main(["cases", str(path)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "1 passed, 0 failed"


def test_failing_case_shows_expectation_and_trace(
    write_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    write_case(PASSING, "ok.yaml")
    path = write_case(PASSING.replace("cli-tb", "cli-wrong").replace("fee: 160", "fee: 200"), "wrong.yaml")
    assert main(["cases", str(path.parent)]) == 1
    out = capsys.readouterr().out
    assert "UNDERKÄNT (FAIL) cli-wrong" in out
    assert "kontakt 1 (2026-02-10): avgift (fee): förväntat 200 kr, fick 160 kr" in out
    assert "[vgr.phone-replaces-visit]" in out
    assert out.strip().splitlines()[-1] == "1 passed, 1 failed"


def test_explain_prints_rules_and_citations(
    write_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case(PASSING)
    assert main(["explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Avgift: 160 kr (enligt taxa: 160 kr)" in out
    assert "Registrering: TB" in out
    assert "[vgr.phone-replaces-visit] Distanskontakt telefon som ersätter besök" in out
    assert (
        "(Västra Götalandsregionen, version 6.0): Tabellen, rad Distanskontakt telefon som ersätter besök (TB)" in out
    )


def test_undetermined_names_the_missing_fact(
    write_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case(
        PASSING.replace("    medical_assessment: true\n", "").replace(
            "expect: {fee: 160, registration: TB, contact_points: 0.2, qualified: true}",
            "expect: {undetermined: [medical_assessment]}",
        )
    )
    assert main(["cases", str(path)]) == 0
    main(["explain", str(path)])
    assert "Saknade uppgifter: medical_assessment" in capsys.readouterr().out


def test_module_entry_point_is_the_same_program(write_case: Callable[..., Path]) -> None:
    path = write_case(PASSING)
    done = subprocess.run(
        [sys.executable, "-m", "patientavgift", "cases", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert done.stdout.strip().endswith("1 passed, 0 failed")


def test_missing_path_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cases", str(tmp_path / "nothing")]) == 1
    assert "filen eller mappen finns inte" in capsys.readouterr().err
