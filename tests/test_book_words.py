"""The handbook calls nothing decided or verified that the rule data does not mark so.

Two checks. First, the chapters' own prose (outside code cells) may not type a status or certainty
word that only the data can give ("beslutade regler", "Alla rader är beslutade", "gäller tills
vidare", "kontrollerad mot en primärkälla" …): such words must be generated from each row's status
and confidence. Second, a row is turned into a proposal in a copy of the rule data; the chapter that
shows it is executed against the copy and rendered (prose with its glued values, and every output),
and no paragraph or table line that names the row may still call it decided.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import jupytext
import pytest

from patientavgift.rules import rules_dir
from tests.chapters import ROOT, chapters, execute, outputs

HAND_TYPED = [
    r"beslutade? regl",
    r"beslutad regel",
    r"\bBeslutat:",
    r"[Aa]lla rader är beslutade",
    r"gäller tills vidare",
    r"kontroller\w* mot en primärkälla",
    r"[Bb]eslutade avgifter",
]
"""Status and certainty words a chapter may only show when generated from the data."""

DECIDED = re.compile(r"(?<!ej )(?<!inte )\bbeslutad(e|t)?\b", re.IGNORECASE)
"""A word that calls something decided (not its negation)."""


def prose(path: Path) -> str:
    """A chapter's own text: its Markdown cells, without code."""
    nb = jupytext.read(path, fmt="md:myst")
    return "\n\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_no_hand_typed_status_words(path: Path) -> None:
    text = prose(path)
    found = [pattern for pattern in HAND_TYPED if re.search(pattern, text)]
    assert not found, f"{path.name} types status or certainty words by hand: {found}"


def test_hand_typed_status_words_are_caught(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Rubrik\n\nTabellen visar de beslutade reglerna för raden.\n", encoding="utf-8")
    assert any(re.search(pattern, prose(page)) for pattern in HAND_TYPED)


# --------------------------------------------------------------------------- a row made a proposal

CHANGED = {
    # chapter: (rule file, row id, label the book shows)
    "03-skane.md": (
        "skane/contacts.yaml",
        "skane.distance-replaces-visit",
        "Distanskontakt som ersätter ett fysiskt besök",
    ),
    "04-vgr.md": (
        "vgr/contacts.yaml",
        "vgr.written-replaces-visit",
        "Skriftlig digital kontakt (ej brev) som ersätter besök",
    ),
}


def make_proposal(root: Path, rule_file: str, row_id: str) -> None:
    """Give one row `status: proposed` (a proposal of its own) in a copy of the rule data."""
    path = root / rule_file
    text = path.read_text(encoding="utf-8")
    start = text.index(f"  - id: {row_id}\n")
    end = text.find("\n  - id: ", start + 1)
    end = len(text) if end < 0 else end
    block = text[start:end]
    changed = block.replace(
        f"  - id: {row_id}\n", f"  - id: {row_id}\n    status: proposed\n    proposal: test-proposal-{row_id}\n", 1
    )
    path.write_text(text[:start] + changed + text[end:], encoding="utf-8")


def rendered(path: Path, nb: Any) -> list[str]:
    """The page as a reader sees it, in blocks: paragraphs of prose with glued values filled in, and
    each line of every output (a table row, a list item)."""
    glued: dict[str, str] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                glued[name] = str(out.get("data", {}).get("text/plain", "")).strip("'\"")
    text = prose(path)
    text = re.sub(r"\{glue:text\}`([^`]+)`", lambda m: glued.get(m.group(1), m.group(0)), text)
    blocks = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    for output in outputs(nb):
        blocks += output.splitlines()
    return blocks


def called_decided(blocks: list[str], label: str, row_id: str) -> list[str]:
    """Blocks that name the row and call something decided."""
    return [b for b in blocks if (label in b or row_id in b) and DECIDED.search(b)]


@pytest.fixture(scope="module")
def proposal_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(rules_dir(), copy)
    for rule_file, row_id, _ in CHANGED.values():
        make_proposal(copy, rule_file, row_id)
    return copy


@pytest.mark.chapters
@pytest.mark.parametrize("chapter", sorted(CHANGED))
def test_a_proposal_is_never_called_decided(chapter: str, proposal_rules: Path) -> None:
    _, row_id, label = CHANGED[chapter]
    path = ROOT / "book" / chapter
    blocks = rendered(path, execute(path, env_rules=str(proposal_rules)))
    assert any(label in b or row_id in b for b in blocks), f"{chapter} does not show the row {row_id}"
    # A proposal is named in Swedish: by the label of the row that carries it, never by its id.
    assert any(f"förslag: {label}" in b for b in blocks), f"{chapter} does not show the row as a proposal"
    assert not any("test-proposal" in b for b in blocks), f"{chapter} shows a proposal's id"
    wrong = called_decided(blocks, label, row_id)
    assert not wrong, f"{chapter} still calls the proposal {row_id} decided:\n" + "\n".join(w[:300] for w in wrong)
    assert not any(re.search(r"[Aa]lla raderna är beslutade", b) for b in blocks)


def test_a_hand_typed_decided_beside_a_proposal_is_caught() -> None:
    label = "Distanskontakt som ersätter ett fysiskt besök"
    blocks = [
        f"12 | {label} | 200 kr | fr.o.m. 2019-01-01 | förslag: test-proposal | skane.booked",
        f"Raden {label} är beslutad av regionfullmäktige.",
    ]
    assert called_decided(blocks, label, "skane.distance-replaces-visit") == [blocks[1]]
    assert called_decided([f"Raden {label} är inte beslutad."], label, "x") == []
