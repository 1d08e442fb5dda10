"""The editing chapter's recommended edit, made exactly as the chapter shows it on a copy of the
rule data, leaves every chapter able to run: a new value for VGR's written contact that replaces a
visit (a made-up 180 kr from 2026-07-01, with a made-up decision in the source register).

Cases written from the routine that expect 160 kr after that day then fail, and the publishing gate
says so in Swedish; the chapters themselves must never crash on edited data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from patientavgift.rules import check_rules, rules_dir
from tests.chapters import chapters, execute

pytestmark = pytest.mark.chapters

PARAM = "  - id: vgr.fee.written-replaces-visit\n"
STATEMENT = (
    "      - id: vgr.example-raise\n"
    "        section: Påhittat beslut (exempel i handboken)\n"
    "        bears_on: [fee]\n"
    "        text: Avgiften för skriftlig digital kontakt som ersätter besök höjs till 180 kr från 2026-07-01.\n"
)


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(rules_dir(), copy)
    sources = copy / "sources.yaml"
    text = sources.read_text(encoding="utf-8")
    anchor = "      - id: vgr.row-t\n"
    sources.write_text(text.replace(anchor, STATEMENT + anchor, 1), encoding="utf-8")
    contacts = copy / "vgr" / "contacts.yaml"
    text = contacts.read_text(encoding="utf-8")
    start = text.index(PARAM)
    end = text.index("\n  - id: ", start + 1) + 1
    line = "      - {valid_from: 2026-07-01, amount: 180, cite: [vgr.example-raise]}\n"
    contacts.write_text(text[:end] + line + text[end:], encoding="utf-8")
    _, problems = check_rules(copy)
    assert problems == []
    return copy


@pytest.mark.parametrize("chapter", [p.name for p in chapters()])
def test_every_chapter_runs_on_the_edited_rules(edited: Path, chapter: str) -> None:
    (path,) = [p for p in chapters() if p.name == chapter]
    execute(path, env_rules=str(edited))
