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
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"desktop": 1280, "phone": 390}
"""The widths the handbook is read at: a desktop screen and a phone."""
ENGLISH_LABELS = [
    "Skip to main content",
    "Back to top",
    "Search this book",
    "Search the docs",
    "Toggle primary sidebar",
    "Toggle secondary sidebar",
    "previous page",
    "next page",
    "On this page",
    "Color mode",
    "System Settings",
    "Link to this heading",
    "Click to expand",
    "Click to collapse",
    "Version warning",
    "Site navigation",
    "Section Navigation",
]
"""Labels of the theme that a reader must see in Swedish (in the text, tooltips and accessible names)."""
ENGLISH_EXACT = {"Main", "Page", "Search", "Light", "Dark", "Index", "Contents"}
"""Short English labels, matched as a whole attribute value."""
LABEL_ATTRIBUTES = ["title", "aria-label", "placeholder", "data-bs-title", "data-bs-original-title", "alt"]
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

    def __init__(self, browser: Any, site: str, path: str, width: int = 1280) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page = browser.new_page(viewport={"width": width, "height": 900})
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


def english_labels(visit: Visit) -> list[str]:
    """English theme labels anywhere a reader looks: visible text, tooltips, accessible names, placeholders."""
    found: list[str] = visit.page.evaluate(
        """([labels, exact, attributes]) => {
            const out = [];
            const text = document.body.innerText;
            for (const label of labels) if (text.includes(label)) out.push(`text: ${label}`);
            for (const el of document.querySelectorAll('*')) {
                for (const attr of attributes) {
                    const value = el.getAttribute(attr);
                    if (!value) continue;
                    if (exact.includes(value.trim()) || labels.some(l => value.includes(l)))
                        out.push(`${el.tagName.toLowerCase()}[${attr}]: ${value}`);
                }
            }
            return [...new Set(out)];
        }""",
        [ENGLISH_LABELS, sorted(ENGLISH_EXACT), LABEL_ATTRIBUTES],
    )
    return found


def sideways_overflow(visit: Visit) -> int:
    """How many pixels the page is wider than the window (0 when nothing scrolls sideways)."""
    width: int = visit.page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return width


def serious_accessibility_problems(visit: Visit) -> list[str]:
    """axe-core's serious and critical violations on the page (rule, impact, first elements)."""
    assert AXE.exists(), "axe-core is not installed (make browser-deps)"
    visit.page.add_script_tag(path=str(AXE))
    found: list[str] = visit.page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => `${v.id} (${v.impact}): ${v.help} – ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')}`);
        }"""
    )
    return found


@pytest.mark.parametrize("width", WIDTHS.values(), ids=list(WIDTHS))
@pytest.mark.parametrize("page", chapter_pages(), ids=lambda p: p.stem)
def test_page_reads_in_swedish_at_every_width(browser: Any, site: str, page: Path, width: int) -> None:
    """Every page at a desktop and a phone width: Swedish labels only, nothing scrolls sideways, no serious or
    critical accessibility problem (axe-core), and a full-page screenshot."""
    visit = Visit(browser, site, str(page.relative_to(HTML)), width=width)
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        visit.page.screenshot(path=str(SHOTS / f"{page.stem}-{width}.png"), full_page=True)
        assert english_labels(visit) == [], f"{page.name} at {width} px shows English theme labels"
        assert sideways_overflow(visit) <= 0, f"{page.name} scrolls sideways at {width} px"
        problems = serious_accessibility_problems(visit)
        assert problems == [], f"{page.name} at {width} px:\n" + "\n".join(problems)
    finally:
        visit.page.close()


def test_worked_cases_print_expanded(browser: Any, site: str) -> None:
    """A region chapter printed: every worked case is open, and the chapter fits in a few pages of A4."""
    visit = Visit(browser, site, "book/04-vgr.html")
    try:
        cases = visit.page.locator("details.pa-case")
        assert cases.count() > 0
        visit.page.emulate_media(media="print")
        visit.page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
        assert all(d.evaluate("d => d.open") for d in cases.all())
        assert visit.page.locator(".bd-sidebar-primary").first.is_hidden()
        SHOTS.mkdir(parents=True, exist_ok=True)
        pdf = visit.page.pdf(path=str(SHOTS / "04-vgr-print.pdf"), format="A4")
        pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
        assert 0 < pages <= PRINT_PAGES, f"the VGR chapter prints on {pages} pages"
    finally:
        visit.page.close()


PRINT_PAGES = 40
"""At most this many A4 pages for a region chapter with every worked case expanded."""


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
