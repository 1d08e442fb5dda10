"""How sure the handbook is of a value: the confidence of a rule, an amount or a whole outcome.

Every rule row, parameter value and reference statement may carry a confidence tag, the same four
that the reference material uses:

* ``verified`` (*belagd*) – a source states it directly;
* ``derived`` (*härledd*) – calculated from verified inputs with a verified formula;
* ``inferred`` (*antagen*) – a reading or an assumption that no source states;
* ``unverified`` (*ej belagd*) – carried forward without any source for the period.

A value is only as sure as the weakest thing it rests on, so an item's confidence is the weakest of
its own tag and the tags of the statements it cites (a statement of a source document with no tag
counts as verified: the document says it). An outcome's confidence is the weakest of the steps
that decided its fee. Readers see it beside every fee: in `explain`, in a register's
``confidence`` column and in the book's tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .rules import RuleBook

Confidence = Literal["verified", "derived", "inferred", "unverified"]

ORDER: dict[Confidence, int] = {"verified": 0, "derived": 1, "inferred": 2, "unverified": 3}

SV: dict[Confidence, str] = {
    "verified": "belagd",
    "derived": "härledd",
    "inferred": "antagen",
    "unverified": "ej belagd",
}
"""The Swedish word for each level, as the book and the command line show it."""

SV_EXPLAINED: dict[Confidence, str] = {
    "verified": "belagd: en källa anger uppgiften direkt",
    "derived": "härledd: uträknad ur belagda uppgifter med en belagd formel, men ingen källa anger beloppet",
    "inferred": "antagen: en tolkning eller ett antagande som ingen källa anger",
    "unverified": "ej belagd: ingen källa för perioden; värdet är fört vidare från en tidigare period",
}


def weakest(levels: Iterable[Confidence | None]) -> Confidence:
    """The weakest of the given levels (None counts as verified)."""
    worst: Confidence = "verified"
    for level in levels:
        if level is not None and ORDER[level] > ORDER[worst]:
            worst = level
    return worst


def uncertain(level: Confidence | None) -> bool:
    """True for the levels a reader must be warned about (inferred and unverified)."""
    return level in ("inferred", "unverified")


def of_item(book: RuleBook, own: Confidence | None, cite: Iterable[str]) -> Confidence:
    """The confidence of a rule part: its own tag and the tags of every statement it cites."""
    levels: list[Confidence | None] = [own]
    for sid in cite:
        found = book.statements.get(sid)
        if found is not None:
            levels.append(found[1].confidence)
    return weakest(levels)
