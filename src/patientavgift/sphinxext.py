"""Sphinx additions for the handbook: chapter numbers and Swedish theme labels.

Every page under ``book/`` in ``_toc.yml`` is a chapter, numbered in reading order with the root
page as chapter 1 (the numbers the chapters' own text uses, "kapitel 7"). The number is put in
front of the page's title before Sphinx records it, so the heading, the sidebar, the previous and
next links and the search results all show it. The analysis notebooks are not numbered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from docutils import nodes  # type: ignore[import-untyped]

SEARCH_TEXT = "Sök i handboken …"
"""The placeholder of the search field (the theme's default is in English)."""


def chapter_numbers(toc_path: Path) -> dict[str, int]:
    """Document name → chapter number, for the pages under book/ in the table of contents."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    files: list[str] = [toc["root"]]

    def walk(entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(str(entry["file"]))
            walk(entry.get("sections", []) + entry.get("chapters", []))

    walk(toc.get("chapters", []))
    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    chapters = [f.removesuffix(".md") for f in files if f.startswith("book/")]
    return {name: n for n, name in enumerate(chapters, 1)}


def _number_title(app: Any, doctree: nodes.document) -> None:
    number = chapter_numbers(Path(app.srcdir) / "_toc.yml").get(app.env.docname)
    if number is None:
        return
    for section in doctree.findall(nodes.section):
        title = section.next_node(nodes.title)
        if title is not None and not title.astext().startswith(f"{number} "):
            title.insert(0, nodes.Text(f"{number} "))
        return


def _swedish_search(app: Any, config: Any) -> None:
    config.html_theme_options = {**(config.html_theme_options or {}), "search_bar_text": SEARCH_TEXT}


def setup(app: Any) -> dict[str, Any]:
    # Before Sphinx's title collector (priority 500), so the number is part of the recorded title.
    app.connect("doctree-read", _number_title, priority=100)
    app.connect("config-inited", _swedish_search)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
