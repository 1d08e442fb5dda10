"""Editing the rule data as a policy officer would: a new amount from a date is one added line.

The edits are made on a copy of the rule data. Amounts: VGR's written contact that replaces a
visit costs 160 kr (the routine, row BR + ZV051); the new amount 180 kr and its decision are made
up for the test and live only in the copy.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from patientavgift.cli import main
from patientavgift.engine import param_amount
from patientavgift.rules import PACKAGE_RULES, check_rules

PARAM_LINE = "      - {valid_from: 2024-04-01, amount: 160, cite: [vgr.row-br-zv051, facts.vgr-2024]}\n"
STATEMENT = """      - id: vgr.fee-2026-07
        section: Tabellen, rad BR + ZV051 (påhittat beslut i testet)
        bears_on: [fee]
        text: Från 1 juli 2026 kostar en skriftlig digital kontakt som ersätter besök 180 kr.
"""


def _copy(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(PACKAGE_RULES, rules)
    sources = rules / "sources.yaml"
    text = sources.read_text(encoding="utf-8")
    anchor = "      - id: vgr.row-t\n"
    sources.write_text(text.replace(anchor, STATEMENT + anchor, 1), encoding="utf-8")
    return rules


def _edit(rules: Path, old: str, new: str) -> Path:
    path = rules / "vgr" / "contacts.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_a_new_amount_from_a_date_is_one_added_line(tmp_path: Path) -> None:
    rules = _copy(tmp_path)
    added = "      - {valid_from: 2026-07-01, amount: 180, cite: [vgr.fee-2026-07]}\n"
    _edit(rules, PARAM_LINE, PARAM_LINE + added)
    book, problems = check_rules(rules)
    assert problems == []
    before = param_amount(book, "vgr.fee.written-replaces-visit", date(2026, 6, 30), frozenset())
    after = param_amount(book, "vgr.fee.written-replaces-visit", date(2026, 7, 1), frozenset())
    assert (before[0], after[0]) == (160, 180)
    assert book.parameters["vgr.fee.written-replaces-visit"].period_text(before[1]) == (
        "fr.o.m. 2024-04-01 t.o.m. 2026-06-30"
    )


def test_a_gap_between_two_values_is_refused_in_swedish(tmp_path: Path, capsys: object) -> None:
    rules = _copy(tmp_path)
    ended = PARAM_LINE.replace("amount: 160,", "valid_to: 2026-06-30, amount: 160,")
    added = "      - {valid_from: 2026-07-05, amount: 180, cite: [vgr.fee-2026-07]}\n"
    path = _edit(rules, PARAM_LINE, ended + added)
    _, problems = check_rules(rules)
    line = path.read_text(encoding="utf-8").splitlines().index(added.rstrip("\n")) + 1
    assert [str(p) for p in problems] == [
        f"{path}:{line}: parameters[0].values[1].valid_from: lucka i 'vgr.fee.written-replaces-visit': den "
        "tidigare versionen slutar 2026-06-30 och nästa börjar 2026-07-05, så 2026-07-01 – 2026-07-04 har "
        "ingen version; låt den nya gälla från 2026-07-01 eller den gamla till 2026-07-04"
    ]
    (tmp_path / "no-cases").mkdir()
    assert main(["--rules", str(rules), "check", str(tmp_path / "no-cases")]) == 1
    assert "lucka i" in capsys.readouterr().out  # type: ignore[attr-defined]


def test_a_new_amount_that_cites_the_old_decision_is_refused(tmp_path: Path) -> None:
    rules = _copy(tmp_path)
    added = "      - {valid_from: 2026-07-01, amount: 180, cite: [vgr.row-br-zv051]}\n"
    path = _edit(rules, PARAM_LINE, PARAM_LINE + added)
    _, problems = check_rules(rules)
    line = path.read_text(encoding="utf-8").splitlines().index(added.rstrip("\n")) + 1
    assert [str(p) for p in problems] == [
        f"{path}:{line}: parameters[0].values[1].amount: 180 kr står inte i källorna som värdet citerar "
        "(vgr.row-br-zv051: 160 kr); citera påståendet som anger det nya beloppet (lägg till det i "
        "sources.yaml)"
    ]


def test_cases_dated_after_a_change_fail_and_name_the_case(tmp_path: Path, capsys: object) -> None:
    rules = _copy(tmp_path)
    added = "      - {valid_from: 2026-07-01, amount: 180, cite: [vgr.fee-2026-07]}\n"
    _edit(rules, PARAM_LINE, PARAM_LINE + added)
    case = tmp_path / "case.yaml"
    case.write_text(
        """id: vgr-written-after-change
region: vgr
service: vardval_rehab
patient: {age: 45}
contacts:
  - {date: 2026-07-01, mode: written, initiated_by: patient, medical_assessment: true,
     resolved_by_booking_or_referral: false, staff: licensed, kva_codes: [ZV051], expect: {fee: 160}}
""",
        encoding="utf-8",
    )
    assert main(["--rules", str(rules), "cases", str(case)]) == 1
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "vgr-written-after-change" in out and "180" in out and "0 passed, 1 failed" in out


def test_check_warns_when_a_review_or_a_source_is_due_but_passes(
    tmp_path: Path, capsys: object, monkeypatch: object
) -> None:
    # Every rule file was reviewed 2026-12-04, due again twelve months later; VGR's routine v6.0 is
    # valid to 2027-11-27. On 2028-01-01 both are due: check warns and still passes.
    monkeypatch.setenv("PATIENTAVGIFT_TODAY", "2028-01-01")  # type: ignore[attr-defined]
    (tmp_path / "no-cases").mkdir()
    assert main(["check", str(tmp_path / "no-cases")]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "Varning: " in out and "nästa granskning skulle göras senast 2027-12-04" in out
    assert "var giltig till 2027-11-27" in out
    assert out.rstrip().endswith("regeldata och fall är giltiga")


def test_an_unreadable_build_date_is_one_swedish_line(capsys: object, monkeypatch: object) -> None:
    monkeypatch.setenv("PATIENTAVGIFT_TODAY", "igår")  # type: ignore[attr-defined]
    assert main(["check"]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "PATIENTAVGIFT_TODAY: 'igår' är inget datum; skriv ÅÅÅÅ-MM-DD" in err and "Traceback" not in err
