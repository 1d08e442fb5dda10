"""Avgiftsguiden in Chromium, by keyboard only, at phone and desktop width.

The tree in the built page must be the one the engine gives now (a fresh build is compared with it);
for every region one path is answered to a decided fee and one to *ej avgjort*; the page never
scrolls sideways; screenshots of both kinds of path at both widths go to `_build/screenshots/`.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest

from patientavgift import finder
from patientavgift.rules import load_rules
from tests.browser.test_site import CHROMIUM, CHROMIUM_ARGS, HTML, KNOWN_CONSOLE_NOISE, SHOTS, site  # noqa: F401

pytestmark = pytest.mark.browser

PAGE = HTML / "book" / "14-avgiftsguide.html"
DAY = date(2026, 3, 15)


def _embedded() -> dict[str, Any]:
    text = PAGE.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="ag-tree">(.*?)</script>', text, re.S)
    assert found, "the page holds no tree"
    data = json.loads(found.group(1).replace("<\\/", "</"))
    assert isinstance(data, dict)
    return data


def test_the_page_holds_the_tree_the_engine_gives_now() -> None:
    fresh, _ = finder.build(load_rules())
    assert _embedded() == json.loads(finder.dumps(fresh))


def _paths(data: dict[str, Any], region: str) -> tuple[date, dict[str, str], dict[str, str]]:
    """A day, a path to a decided fee (above 0 kr where there is one) and one to ej avgjort on it:
    DAY when the region has both then, else the latest day that has."""
    reg = next(r for r in data["regions"] if r["id"] == region)
    service = reg["services"][0]["id"]
    days = [DAY, *(date.fromisoformat(s["from"]) for s in reversed(reg["segments"]))]
    for day in days:
        seg = finder.find_segment(reg, day)
        assert seg is not None
        found: dict[str, dict[str, str]] = {}

        def walk(node: dict[str, Any], answers: dict[str, str], found: dict[str, dict[str, str]] = found) -> None:
            if "o" in node:
                out = data["outcomes"][node["o"]]
                kind = "open" if out["fee"] is None else "paid" if out["fee"] > 0 else "free"
                found.setdefault(kind, answers)
                return
            for value, child in node["a"]:
                walk(data["nodes"][child], {**answers, node["q"]: value} if len(node["a"]) > 1 else answers)

        walk(data["nodes"][seg["roots"][service][""]], {})
        if "open" in found and ("paid" in found or "free" in found):
            return day, found.get("paid", found.get("free", {})), found["open"]
    raise AssertionError(f"{region}: no day with a decided and an open path")


def _tab_to(page: Any, selector: str, limit: int = 200) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def _choose(page: Any, select_id: str, value: str) -> None:
    _tab_to(page, f"#{select_id}")
    page.keyboard.press("Home")
    for _ in range(50):
        if page.eval_on_selector(f"#{select_id}", "e => e.value") == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"{select_id} has no option {value}")


def _answer(page: Any, data: dict[str, Any], answers: dict[str, str]) -> None:
    """Answer every question the page asks from `answers`, pressing Enter on the focused answer."""
    for _ in range(40):
        question = page.locator("fieldset.pa-guide-question")
        if question.count() == 0:
            return
        key = question.get_attribute("data-fact")
        assert key in answers, f"the page asks {key}, which the path does not answer"
        label = data["facts"][key]["label"]
        assert question.locator("legend").inner_text().lower().startswith(label.lower())
        _tab_to(page, f'fieldset.pa-guide-question button[data-value="{answers[key]}"]')
        page.keyboard.press("Enter")
    raise AssertionError("the questions did not end")


@pytest.mark.parametrize("width", [390, 1280])
def test_every_region_by_keyboard(site: str, width: int) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    data = _embedded()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        errors: list[str] = []
        outside: list[str] = []

        def console(message: Any) -> None:
            if message.type == "error":
                errors.append(message.text)

        def request(sent: Any) -> None:
            if not sent.url.startswith(site):
                outside.append(sent.url)

        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", console)
        page.on("request", request)
        page.goto(site + "book/14-avgiftsguide.html")
        page.wait_for_load_state("networkidle")
        try:
            for region in data["regions"]:
                day, decided, open_ = _paths(data, region["id"])
                for kind, answers in (("avgjord", decided), ("ej-avgjord", open_)):
                    _choose(page, "ag-region", region["id"])
                    _tab_to(page, "#ag-restart")
                    page.keyboard.press("Enter")
                    _tab_to(page, "#ag-date")
                    page.keyboard.press("Control+A")
                    page.keyboard.type(day.isoformat())
                    _answer(page, data, answers)
                    outcome = page.locator(".pa-guide-outcome")
                    fee = outcome.locator("dd").first.inner_text()
                    _, leaf = finder.walk(data, region["id"], region["services"][0]["id"], day, answers)
                    assert leaf is not None
                    if kind == "avgjord":
                        assert fee == leaf["fee_text"]
                    else:
                        assert fee == "ej avgjort"
                        for reason in leaf["reasons"]:
                            assert reason in outcome.inner_text()
                    assert page.evaluate("document.documentElement.scrollWidth") <= width
                    if region["id"] == "jamtland-harjedalen":
                        outcome.scroll_into_view_if_needed()
                        page.screenshot(path=str(SHOTS / f"avgiftsguiden-{kind}-{width}.png"), full_page=True)
            links = page.locator(".pa-guide-outcome a[href^='10-kalltackning.html#kalla-']")
            assert links.count() > 0
            ceiling = page.locator(".pa-guide-ceiling a[href='07-hogkostnadsskydd.html']")
            assert ceiling.count() == 1
        finally:
            browser.close()
        assert not [e for e in errors if not any(n in e for n in KNOWN_CONSOLE_NOISE)], errors
        assert not outside, outside
