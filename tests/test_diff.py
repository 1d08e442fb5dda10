"""`patientavgift diff`: an edit's consequences before it is published.

The rule data is copied into a fresh git repository and committed; then VGR's written contact that
replaces a visit (160 kr, routine v6.0) gets a made-up new amount of 180 kr from 2026-07-01, citing a
made-up decision. The report must name the new value, the cases written from the routine that now
fail, the table cells and the comparison cells that change, on the change date and on today's date.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

from patientavgift.cli import main
from patientavgift.diff import diff
from patientavgift.rules import PACKAGE_RULES

ROOT = Path(__file__).resolve().parent.parent
OLD = "      - {valid_from: 2024-04-01, amount: 160, cite: [vgr.row-br-zv051, facts.vgr-2024]}\n"
NEW = "      - {valid_from: 2026-07-01, amount: 180, cite: [vgr.fee-example]}\n"
STATEMENT = "      - id: vgr.fee-example\n        section: påhittat beslut\n        bears_on: [fee]\n        text: Kontakten kostar 180 kr.\n"


def _repository(tmp_path: Path) -> Path:
    rules = tmp_path / "repo" / "rules"
    shutil.copytree(PACKAGE_RULES, rules)
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "rules"]):
        subprocess.run(["git", *args], cwd=rules.parent, check=True)
    table = rules / "vgr" / "contacts.yaml"
    table.write_text(table.read_text(encoding="utf-8").replace(OLD, OLD + NEW), encoding="utf-8")
    sources = rules / "sources.yaml"
    anchor = "      - id: vgr.row-t\n"
    sources.write_text(sources.read_text(encoding="utf-8").replace(anchor, STATEMENT + anchor), encoding="utf-8")
    return rules


def test_the_report_names_what_the_edit_changes(tmp_path: Path) -> None:
    rules = _repository(tmp_path)
    report = diff("HEAD", rules, ROOT / "cases", today=date(2026, 12, 4))
    assert report.dates == [date(2026, 7, 1), date(2026, 12, 4)]
    assert (
        "ny: parameter vgr.fee.written-replaces-visit, värdet fr.o.m. 2026-07-01: "
        "{valid_from: 2026-07-01, status: decided, cite: [vgr.fee-example], amount: 180}"
    ) in report.rules
    failing = [line for line in report.cases if "underkänt efter" in line]
    assert any(line.startswith("vgr-physical-visit-without-staff-fact ") for line in failing)
    assert (
        "2026-07-01: Registrering av distanskontakter i Vårdval Rehab, Skriftlig digital kontakt (ej brev) som "
        "ersätter besök, Avgift: 160 kr → 180 kr"
    ) in report.tables
    assert "2026-12-04: Skriftlig kontakt med bedömning, Västra Götalandsregionen: 160 kr → 180 kr" in report.comparison


def test_the_command_prints_the_report_and_writes_the_page(tmp_path: Path, capsys: object) -> None:
    rules = _repository(tmp_path)
    page = tmp_path / "konsekvenser.html"
    assert main(["--rules", str(rules), "diff", "HEAD", "--cases", str(ROOT / "cases"), "--html", str(page)]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert out.startswith("Regeldatan i arbetskopian jämfört med HEAD")
    assert "Ändrade regelvärden: 2" in out
    assert "<h1>Konsekvenser av ändringen jämfört med HEAD</h1>" in page.read_text(encoding="utf-8")


def test_an_unknown_revision_is_one_swedish_line(tmp_path: Path, capsys: object) -> None:
    rules = _repository(tmp_path)
    assert main(["--rules", str(rules), "diff", "no-such-revision"]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert err.startswith("fel: git kunde inte läsa versionen:") and "Traceback" not in err
