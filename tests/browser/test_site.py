"""What a reader of the published handbook gets, checked in a real browser.

Needs the built site in ``_build/html`` (``make book``) and Debian's Chromium at /usr/bin/chromium.
The site is served on 127.0.0.1 only; any request that leaves the machine fails the test, as does
a console error of ours. Screenshots of every chapter are written to ``_build/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from tests.chapters import ROOT, toc_files

pytestmark = pytest.mark.browser

HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
KNOWN_CONSOLE_NOISE = [
    # sphinx-thebe 0.3.1 writes its configuration script twice on every page (harmless, not ours).
    "Identifier 'THEBE_JS_URL' has already been declared",
]


def chapter_pages() -> list[Path]:
    """The HTML page of every chapter and notebook in the table of contents."""
    return [HTML / path.relative_to(ROOT).with_suffix(".html") for path in toc_files()]


def test_every_chapter_has_html() -> None:
    missing = [str(p.relative_to(ROOT)) for p in chapter_pages() if not p.exists()]
    assert not missing, f"chapters without HTML (run `make book` first): {missing}"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    if not (HTML / "index.html").exists():
        pytest.fail("no built site in _build/html; run `make book` first")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(HTML)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is not installed (apt-get install -y chromium chromium-driver)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Visit:
    """One page visit: console errors of ours and requests that left 127.0.0.1."""

    def __init__(self, browser: Any, site: str, path: str) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.site = site
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self._error(str(e)))
        self.page.on("request", self._request)
        self.response = self.page.goto(site + path)
        self.page.wait_for_load_state("networkidle")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self._error(message.text)

    def _request(self, request: Any) -> None:
        if not request.url.startswith(self.site):
            self.outside.append(request.url)

    def _error(self, text: str) -> None:
        if not any(noise in text for noise in KNOWN_CONSOLE_NOISE):
            self.errors.append(text)


@pytest.mark.parametrize("page", chapter_pages(), ids=lambda p: p.stem)
def test_chapter_page_loads_cleanly(browser: Any, site: str, page: Path) -> None:
    visit = Visit(browser, site, str(page.relative_to(HTML)))
    try:
        assert visit.response is not None and visit.response.status == 200
        heading = visit.page.locator("article h1").first
        assert heading.is_visible()
        assert heading.inner_text().strip(), "chapter without a heading"
        text = visit.page.locator("article").inner_text()
        for bad in ("Traceback", "Exception", "object at 0x", "<patientavgift"):
            assert bad not in text, f"{page.name}: the page shows {bad!r}"
        for img in visit.page.locator("article img").all():
            assert img.evaluate("i => i.complete && i.naturalWidth > 0"), f"{page.name}: an image did not load"
        SHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=str(SHOTS / f"{page.stem}.png"), full_page=True)
        assert not visit.errors, f"{page.name}: console errors {visit.errors}"
        assert not visit.outside, f"{page.name}: requests left 127.0.0.1: {visit.outside}"
    finally:
        visit.page.close()


def _visible_table_with(visit: Visit, header: str) -> Any:
    tables = visit.page.locator("table.pa-table", has=visit.page.locator("th", has_text=header))
    assert tables.count() >= 1, f"no table with the column {header!r}"
    table = tables.first
    table.scroll_into_view_if_needed()
    assert table.is_visible()
    return table


def test_vgr_registration_table_is_visible(browser: Any, site: str) -> None:
    visit = Visit(browser, site, "book/04-vgr.html")
    try:
        table = _visible_table_with(visit, "Kontakttyp")
        headers = [h.strip() for h in table.locator("th").all_inner_texts()]
        assert headers == ["Kontakttyp", "Personalkategori", "Beskrivning", "Patientavgift", "Ersättning, kontaktpoäng"]
        body = table.locator("tbody").inner_text()
        assert "ZV051" in body and "kr" in body
    finally:
        visit.page.close()


def test_case_corpus_table_is_visible(browser: Any, site: str) -> None:
    from patientavgift import handbook

    expected = len(handbook.corpus())
    visit = Visit(browser, site, "book/09-fallsamling.html")
    try:
        table = _visible_table_with(visit, "Resultat")
        assert table.locator("tbody tr").count() == expected
        assert visit.page.locator("details.pa-case").count() == expected
    finally:
        visit.page.close()


def test_search_finds_frikort(browser: Any, site: str) -> None:
    visit = Visit(browser, site, "search.html?q=frikort")
    try:
        hits = visit.page.locator("#search-results ul.search li")
        hits.first.wait_for(timeout=15000)
        titles = " ".join(hits.all_inner_texts())
        assert "Högkostnadsskydd och frikort" in titles
        SHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=str(SHOTS / "search-frikort.png"), full_page=True)
        assert not visit.outside, visit.outside
    finally:
        visit.page.close()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))


@functools.cache
def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_internal_link_resolves() -> None:
    broken: list[str] = []
    for page in chapter_pages():
        base = "http://site/" + str(page.relative_to(HTML))
        for href in _parse(page).links:
            if re.match(r"^(mailto:|javascript:)", href):
                continue
            target = urlsplit(urljoin(base, href))
            if target.netloc != "site":
                continue  # an outside address in the text; the browser tests check nothing is fetched
            path = HTML / unquote(target.path.lstrip("/"))
            if path.is_dir():
                path = path / "index.html"
            if not path.exists():
                broken.append(f"{page.name}: {href}")
            elif target.fragment and path.suffix == ".html" and unquote(target.fragment) not in _parse(path).ids:
                broken.append(f"{page.name}: {href} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(broken)
