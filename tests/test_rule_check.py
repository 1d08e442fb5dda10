"""`patientavgift check` names every problem in the rule data with file and line, and fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from patientavgift.cli import main
from patientavgift.rules import PACKAGE_RULES, check_rules


def _edit(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the package's rule data with one text replaced in one file."""
    rules = tmp_path / "rules"
    shutil.copytree(PACKAGE_RULES, rules)
    path = rules / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return rules


def _line(path: Path, text: str, occurrence: int = 1) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if text in line]
    return hits[occurrence - 1]


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A copy of the rule data with four mistakes a policy officer could make."""
    rules = tmp_path / "rules"
    shutil.copytree(PACKAGE_RULES, rules)
    # 1. A typo'd key in VGR's table.
    vgr = rules / "vgr" / "contacts.yaml"
    vgr.write_text(vgr.read_text(encoding="utf-8").replace("registration: TB", "registraton: TB"), encoding="utf-8")
    # 2. A second unit fee from the same day as another (a later value would simply replace it).
    rjh = rules / "jamtland-harjedalen" / "contacts.yaml"
    rjh.write_text(
        rjh.read_text(encoding="utf-8").replace(
            "        cite: [rjh.fee-2025, facts.rjh-2026]\n",
            "        cite: [rjh.fee-2025, facts.rjh-2026]\n"
            "      - valid_from: 2026-01-01\n        amount: 400\n        cite: [rjh.fee-2025]\n",
        ),
        encoding="utf-8",
    )
    # 3. An exemption without a citation.
    skane = rules / "skane" / "region.yaml"
    skane.write_text(
        skane.read_text(encoding="utf-8").replace("    cite: [facts.skane-visit-fees, facts.regional-ages]\n", ""),
        encoding="utf-8",
    )
    # 4. A negative amount.
    national = rules / "national.yaml"
    national.write_text(
        national.read_text(encoding="utf-8").replace("amount: 44300", "amount: -44300"), encoding="utf-8"
    )
    return rules


def test_the_package_rules_are_valid() -> None:
    _, problems = check_rules(PACKAGE_RULES)
    assert problems == []


def test_check_names_each_problem_with_file_and_line(broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--rules", str(broken), "check", str(broken / "no-cases-here")])
    out = capsys.readouterr().out
    vgr = broken / "vgr" / "contacts.yaml"
    rjh = broken / "jamtland-harjedalen" / "contacts.yaml"
    skane = broken / "skane" / "region.yaml"
    national = broken / "national.yaml"
    expected = [
        f"{vgr}:{_line(vgr, 'registraton: TB')}: rows[5].registraton: okänd nyckel 'registraton'; menade du 'registration'?",
        f"{rjh}:{_line(rjh, 'valid_from: 2026-01-01', 2)}: parameters[0].values[2].valid_from: giltighetstiden "
        "för 'jamtland-harjedalen.unit-fee' överlappar ett tidigare värde (fr.o.m. 2026-01-01)",
        f"{skane}:{_line(skane, '- id: skane.free-under-20')}: exemptions[0].cite: saknas men måste anges",
        f"{national}:{_line(national, 'amount: -44300')}: ceiling.prisbasbelopp[4].amount: -44300 ligger "
        "utanför det tillåtna intervallet 1–1 000 000 kr",
    ]
    for line in expected:
        assert line in out
    assert status == 1


def test_overlapping_rule_versions_are_reported(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PACKAGE_RULES, rules)
    table = rules / "vgr" / "contacts.yaml"
    text = table.read_text(encoding="utf-8")
    block = text[text.index("  - id: vgr.phone\n") : text.index("  - id: vgr.video-individual\n")]
    table.write_text(
        text.replace(block, block + block.replace("    valid_from: 2024-04-01\n", "    valid_from: 2025-01-01\n", 1)),
        encoding="utf-8",
    )
    _, problems = check_rules(rules)
    assert [p.message for p in problems] == [
        "giltighetstiden för regeln 'vgr.phone' överlappar dess tidigare version (fr.o.m. 2024-04-01 t.o.m. 2027-11-27)"
    ]


def test_unknown_citation_is_reported(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PACKAGE_RULES, rules)
    table = rules / "vgr" / "contacts.yaml"
    table.write_text(
        table.read_text(encoding="utf-8").replace("cite: [vgr.proxy]", "cite: [vgr.proxie]"), encoding="utf-8"
    )
    _, problems = check_rules(rules)
    assert [str(p).split(": ", 1)[1] for p in problems] == [
        "rows[0].cite[0]: hänvisar till 'vgr.proxie', som inte är ett påstående i källregistret sources.yaml"
    ]


def test_bad_condition_value_is_reported(tmp_path: Path) -> None:
    rules = _edit(tmp_path, "vgr/contacts.yaml", "when: {mode: phone}", "when: {mode: telephone}")
    _, problems = check_rules(rules)
    assert len(problems) == 1
    assert problems[0].field == "rows[6].when.mode"
    assert "'telephone' är inte tillåtet för mode; tillåtna värden: physical, phone, video" in problems[0].message


def test_unknown_parameter_is_reported_with_its_line(tmp_path: Path) -> None:
    rules = _edit(
        tmp_path,
        "jamtland-harjedalen/contacts.yaml",
        "    when: {mode: physical}\n    fee: {param: jamtland-harjedalen.unit-fee}",
        "    when: {mode: physical}\n    fee: {param: jamtland-harjedalen.unitfee}",
    )
    table = rules / "jamtland-harjedalen" / "contacts.yaml"
    _, problems = check_rules(rules)
    assert [str(p) for p in problems] == [
        f"{table}:{_line(table, 'unitfee')}: rows[7].fee.param: okänd parameter 'jamtland-harjedalen.unitfee'; "
        "menade du 'jamtland-harjedalen.unit-fee'?"
    ]
