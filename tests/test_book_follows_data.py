"""Changing one fee in a rule file changes the handbook's tables, with no edit to a chapter.

The VGR routine's fee for a written digital contact that replaces a visit (160 kr, the routine's
table row BR + ZV051) is raised in a copy of the rule data; the VGR chapter and the comparison
chapter are executed against the copy and must show the new amount where, and only where, that
row is used.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from patientavgift.rules import rules_dir
from tests.chapters import ROOT, execute, outputs

pytestmark = pytest.mark.chapters

PARAM = "  - id: vgr.fee.written-replaces-visit\n"


@pytest.fixture(scope="module")
def raised_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(rules_dir(), copy)
    path = copy / "vgr" / "contacts.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index(PARAM)
    end = text.index("\n  - id: ", start + 1)
    block = text[start:end]
    assert "amount: 160," in block, "the VGR fee for BR + ZV051 no longer has the routine's 160 kr"
    path.write_text(text[:start] + block.replace("amount: 160,", "amount: 175,") + text[end:], encoding="utf-8")
    # The cited statements must state the new amount too, or the rule data is refused.
    sources = copy / "sources.yaml"
    text = sources.read_text(encoding="utf-8")
    for sid in ("vgr.row-br-zv051", "facts.vgr-2024"):
        start = text.index(f"      - id: {sid}\n")
        end = text.index("\n      - id: ", start + 1)
        text = text[:start] + text[start:end].replace("160 kr", "175 kr") + text[end:]
    sources.write_text(text, encoding="utf-8")
    return copy


def _changed(chapter: str, rules: Path) -> list[tuple[str, str]]:
    path = ROOT / "book" / chapter
    before = outputs(execute(path))
    after = outputs(execute(path, env_rules=str(rules)))
    assert len(before) == len(after)
    return [(b, a) for b, a in zip(before, after, strict=True) if b != a]


def test_vgr_chapter_table_follows_the_rule_file(raised_rules: Path) -> None:
    changed = _changed("04-vgr.md", raised_rules)
    assert changed, "the VGR chapter did not change when the fee changed"
    registration_tables = [a for _, a in changed if a.startswith("Kontakttyp |")]
    assert registration_tables, "the registration table did not change"
    row = next(line for line in registration_tables[0].splitlines() if line.startswith("BR + KVÅ-kod ZV051"))
    assert "175 kr" in row and "160 kr" not in row
    for _, a in changed:
        assert "175" in a, f"an output changed that does not show the new fee:\n{a[:300]}"


def test_comparison_chapter_follows_the_rule_file(raised_rules: Path) -> None:
    changed = _changed("08-jamforelse.md", raised_rules)
    grids = [a for _, a in changed if a.startswith("Situation | ") and "Västra Götalandsregionen" in a.splitlines()[0]]
    assert grids, "the comparison table did not change when the fee changed"
    header = grids[0].splitlines()[0].split(" | ")
    vgr = header.index("Västra Götalandsregionen")
    row = next(
        line.split(" | ") for line in grids[0].splitlines() if line.startswith("Skriftlig kontakt med bedömning")
    )
    assert row[vgr] == "175 kr"
