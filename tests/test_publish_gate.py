"""`make book` runs `scripts/publish_gate.py` first: an edit that makes a case fail stops the build
with a short Swedish summary naming the case, not a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from patientavgift.rules import PACKAGE_RULES

ROOT = Path(__file__).resolve().parent.parent


def _gate(rules: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATIENTAVGIFT_RULES": str(rules)}
    script = ROOT / "scripts" / "publish_gate.py"
    return subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def test_the_gate_passes_the_repository_as_it_is(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PACKAGE_RULES, rules)
    done = _gate(rules)
    assert (done.returncode, done.stdout.strip()) == (0, "Regeldata och fall stämmer: handboken kan byggas.")


def test_an_edit_that_breaks_a_case_stops_the_book(tmp_path: Path) -> None:
    # VGR's written contact that replaces a visit costs 160 kr (routine v6.0); made 175 kr in a copy,
    # the cases that expect the routine's amount fail and the book is not built.
    rules = tmp_path / "rules"
    shutil.copytree(PACKAGE_RULES, rules)
    table = rules / "vgr" / "contacts.yaml"
    text = table.read_text(encoding="utf-8")
    old = "amount: 160, cite: [vgr.row-br-zv051"
    table.write_text(text.replace(old, "amount: 175, cite: [vgr.row-br-zv051"), encoding="utf-8")
    done = _gate(rules)
    assert done.returncode == 1
    assert done.stdout.startswith("Handboken byggs inte: regeldata och fall stämmer inte överens.")
    assert "175 kr står inte i källorna" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_a_consistent_edit_that_contradicts_cases_stops_the_book(tmp_path: Path) -> None:
    # The same edit, now citing a (made-up) statement that gives 175 kr: check passes, but the cases
    # written from the routine expect 160 kr, so the gate names them.
    rules = tmp_path / "rules"
    shutil.copytree(PACKAGE_RULES, rules)
    sources = rules / "sources.yaml"
    anchor = "      - id: vgr.row-t\n"
    statement = (
        "      - id: vgr.fee-175\n        section: påhittat beslut i testet\n        bears_on: [fee]\n"
        "        text: Kontakten kostar 175 kr.\n"
    )
    sources.write_text(sources.read_text(encoding="utf-8").replace(anchor, statement + anchor, 1), encoding="utf-8")
    table = rules / "vgr" / "contacts.yaml"
    text = table.read_text(encoding="utf-8")
    old = "amount: 160, cite: [vgr.row-br-zv051, facts.vgr-2024]"
    table.write_text(text.replace(old, "amount: 175, cite: [vgr.fee-175]"), encoding="utf-8")
    done = _gate(rules)
    assert done.returncode == 1
    assert "fall stämmer inte med regeldatan: " in done.stdout
    assert "vgr-written-replaces-visit" in done.stdout
