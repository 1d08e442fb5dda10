"""Avgiftsguiden's decision tree against the engine it was built from.

Random paths through the tree must end where `price_contacts` ends on the same facts (same fee,
same list fee, same undetermined reason, same rule chain), on any day of the segment and for any
age of the band; every case of the corpus that describes one contact, re-entered through the tree,
must give the case's expected fee.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patientavgift import finder
from patientavgift.cases import case_files, read_case_file
from patientavgift.engine import Visit, price_contacts
from patientavgift.model import Case, Patient, Region
from patientavgift.register import REGION_IDS, SERVICE_IDS
from patientavgift.rules import RuleBook, load_rules

from .conftest import CASES


@cache
def tree() -> dict[str, Any]:
    data, _ = finder.build(load_rules())
    return data


def _engine(
    book: RuleBook, facts: dict[str, Any], region: str, service: str, on: date, age: int | None, pid: str
) -> Any:
    contact = finder.contact_of(on, facts)
    assert contact is not None, f"the tree leads to contradicting facts {facts}"
    chosen = frozenset({pid}) if pid else frozenset()
    visit = Visit(contact, REGION_IDS[region], SERVICE_IDS[service])
    outcomes, _ = price_contacts(book, Patient(age=age), [visit], chosen)
    return outcomes[0]


@st.composite
def paths(draw: st.DrawFn) -> tuple[str, str, str, date, dict[str, Any], int | None, dict[str, Any]]:
    data = tree()
    region = draw(st.sampled_from(data["regions"]))
    seg = draw(st.sampled_from(region["segments"]))
    start, end = date.fromisoformat(seg["from"]), date.fromisoformat(seg["to"])
    on = start + timedelta(days=draw(st.integers(0, (end - start).days)))
    service = draw(st.sampled_from(sorted(seg["roots"])))
    pid = draw(st.sampled_from(sorted(seg["roots"][service])))
    node = data["nodes"][seg["roots"][service][pid]]
    facts: dict[str, Any] = {}
    while "q" in node:
        value, child = draw(st.sampled_from(node["a"]))
        facts[node["q"]] = finder.parse_answer(node["q"], value)
        node = data["nodes"][child]
    band = facts.get("age")
    age = draw(st.integers(band.low, band.high if band.high is not None else 130)) if band else None
    leaf = json.loads(json.dumps(data["outcomes"][node["o"]]).replace(finder.DATE_MARK, on.isoformat()))
    leaf["trace"] = [
        json.loads(json.dumps(data["steps"][i]).replace(finder.DATE_MARK, on.isoformat())) for i in leaf["trace"]
    ]
    return region["id"], service, pid, on, facts, age, leaf


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paths())
def test_every_leaf_is_what_the_engine_says(
    book: RuleBook, path: tuple[str, str, str, date, dict[str, Any], int | None, dict[str, Any]]
) -> None:
    region, service, pid, on, facts, age, leaf = path
    band = facts.get("age")
    # Any age of the band costs the same; the texts name the band's representative age.
    anyone = _engine(book, facts, region, service, on, age, pid)
    assert (leaf["fee"], leaf["list_fee"]) == (anyone.fee, anyone.list_fee)
    shown = _engine(book, facts, region, service, on, band.age if band else None, pid)
    ceiling_rules = finder.Builder(book).ceiling_rules()
    expected = finder.outcome_json(book, shown, ceiling_rules, band.age if band else None)
    assert leaf == expected
    assert (leaf["fee"] is None) == shown.undetermined


def test_mode_is_asked_first_and_age_last() -> None:
    data = tree()
    for region in data["regions"]:
        for seg in region["segments"]:
            for per in seg["roots"].values():
                for root in per.values():
                    assert data["nodes"][root]["q"] == "mode"
    for node in data["nodes"]:
        if node.get("q") == "age":
            assert all("o" in data["nodes"][child] for _, child in node["a"])


def test_the_tree_is_built_the_same_way_twice() -> None:
    again, _ = finder.build(load_rules())
    assert finder.dumps(again) == finder.dumps(tree())


def test_questions_and_answers_are_the_vocabulary_in_swedish() -> None:
    facts = tree()["facts"]
    assert facts["mode"]["label"] == "kontaktform"
    assert facts["mode"]["values"]["written"] == "skriftlig digital kontakt (chatt, meddelande i plattform; ej brev)"
    assert facts["booked"] == {"label": "bokad / överenskommen tid i förväg", "values": {"true": "ja", "false": "nej"}}
    assert facts["programme_event"]["values"][finder.NOT_GIVEN] == (
        "ingen – kontakten hör inte till ett program i stöd- och behandlingsplattformen"
    )
    assert facts["age"]["values"] == {
        "0-17": "under 18 år",
        "0-19": "under 20 år",
        "18-84": "18–84 år",
        "20-84": "20–84 år",
        "85-": "85 år eller äldre",
    }


def test_age_bands_follow_the_exemptions_in_force(book: RuleBook) -> None:

    def labels(region: Region, on: date) -> list[str]:
        return [b.label for b in finder.bands(book, region, on)]

    assert labels(Region.skane, date(2026, 3, 1)) == ["under 20 år", "20–84 år", "85 år eller äldre"]
    assert labels(Region.jamtland_harjedalen, date(2026, 3, 1)) == ["under 18 år", "18–84 år", "85 år eller äldre"]
    # Before Jämtland Härjedalen's own exemption, ages under the highest regional limit are open.
    assert labels(Region.jamtland_harjedalen, date(2022, 3, 1)) == ["under 20 år", "20–84 år", "85 år eller äldre"]


def test_a_written_contact_in_jamtland_harjedalen_and_its_proposal() -> None:
    answers = {"mode": "written", "via_proxy": "false", "purpose": "care", "medical_assessment": "true"}
    answers |= {"booked": "true", "age": "18-84"}
    data = tree()
    on = date(2026, 3, 15)
    asked, now = finder.walk(data, "jamtland-harjedalen", "primary_care", on, answers)
    assert now is not None and (now["fee"], now["list_fee"], now["confidence"]) == (400, 400, "ej belagd")
    assert set(asked) <= set(answers)
    asked, proposed = finder.walk(
        data, "jamtland-harjedalen", "primary_care", on, answers, "jamtland-harjedalen-written-100"
    )
    assert proposed is not None and (proposed["fee"], proposed["list_fee"]) == (100, 100)
    seg = finder.find_segment(next(r for r in data["regions"] if r["id"] == "jamtland-harjedalen"), on)
    assert seg is not None and seg["ceiling"]["amount"] == load_rules().ceiling(Region.jamtland_harjedalen, on).amount  # type: ignore[union-attr]
    assert sorted(data["proposals"]) == sorted(load_rules().proposals)


def test_a_programme_visit_by_phone_in_skane() -> None:
    """Region Skåne's fee for internet-based treatment (200 kr at the first booked visit, when all
    four basic requirements hold) is reached for a visit by phone, not only for work on the platform;
    without a programme event the same call is an ordinary distance contact."""
    answers = {"mode": "phone", "programme_event": "first_visit", "booked": "true", "via_proxy": "false"}
    answers |= {f"programme.{k}": "true" for k in ("ordered_by_licensed", "approved_by_region")}
    answers |= {f"programme.{k}": "true" for k in ("therapist_support", "login_1177")}
    answers |= {"changed_character": "false", "realtime": "true", "medical_assessment": "true", "age": "20-84"}
    data = tree()
    asked, now = finder.walk(data, "skane", "specialist_care", date(2026, 3, 15), answers)
    assert now is not None and (now["fee"], now["qualified"], now["confidence"]) == (200, True, "antagen")
    assert "programme_event" in asked and set(asked) <= set(answers)
    assert "medical_assessment" not in asked  # (the programme's fee does not turn on it)
    answers["programme.login_1177"] = "false"
    asked, ordinary = finder.walk(data, "skane", "specialist_care", date(2026, 3, 15), answers)
    assert ordinary is None or ordinary["fee"] != 200
    assert "programme.login_1177" in asked


def test_citations_link_to_statements(book: RuleBook) -> None:
    data = tree()
    ids = {sid for step in data["steps"] for sid in step[1][1::2]}
    assert ids and ids <= set(book.statements)
    assert finder.statement_link("rjh.proposal-100") == "10-kalltackning.html#kalla-rjh.proposal-100"


# --------------------------------------------------------------------------- the cases, re-entered


def _single_contact_cases() -> list[Case]:
    book = load_rules()
    regions = {r["id"] for r in tree()["regions"]}
    found = []
    for path in case_files([CASES]):
        for entry in read_case_file(path, book):
            case = entry.case
            if case is None or len(case.contacts) != 1 or case.region.value not in regions:
                continue
            contact = case.contacts[0]
            p = case.patient
            if contact.region or p.paid_in_period or p.period_start or p.home_region not in (None, case.region):
                continue
            if contact.expect is None or (contact.expect.list_fee is None and contact.expect.fee is None):
                continue
            if case.proposals == "all" or (isinstance(case.proposals, list) and len(case.proposals) > 1):
                continue
            found.append(case)
    return found


CASES_IN = _single_contact_cases()


def _answer(case: Case, key: str, band_ids: list[str]) -> str | None:
    contact = case.contacts[0]
    if key == "age":
        age = case.patient.age_on(contact.date)
        if age is None:
            return None
        return next(
            b
            for b in band_ids
            if finder.parse_answer("age", b).low <= age <= (finder.parse_answer("age", b).high or 200)
        )
    value = contact.fact(key)
    return None if value is None else finder.value_id(value)


def _leaves(data: dict[str, Any], case: Case, node: dict[str, Any]) -> list[dict[str, Any]]:
    """The outcomes the case's facts lead to: every branch where the case leaves a fact open."""
    if "o" in node:
        return [data["outcomes"][node["o"]]]
    options = dict((v, c) for v, c in node["a"])
    given = _answer(case, node["q"], list(options))
    if given is None and finder.NOT_GIVEN in options:
        given = finder.NOT_GIVEN
    chosen = [options[given]] if given is not None else list(options.values())
    return [leaf for child in chosen for leaf in _leaves(data, case, data["nodes"][child])]


@pytest.mark.parametrize("case", CASES_IN, ids=[c.id for c in CASES_IN])
def test_a_case_re_entered_through_the_tree_gives_its_fee(case: Case, book: RuleBook) -> None:
    data = tree()
    contact = case.contacts[0]
    region = next(r for r in data["regions"] if r["id"] == case.region.value)
    seg = finder.find_segment(region, contact.date)
    assert seg is not None, f"{contact.date} is outside the guide's days"
    service = (case.service or book.regions[case.region].services[0]).value
    pid = case.proposals[0] if isinstance(case.proposals, list) else ""
    leaves = _leaves(data, case, data["nodes"][seg["roots"][service][pid]])
    expect = contact.expect
    assert expect is not None and leaves
    for leaf in leaves:
        if expect.list_fee is not None:
            assert leaf["list_fee"] == expect.list_fee
        if expect.fee is not None:
            assert leaf["fee"] == expect.fee


def test_every_region_has_a_case_re_entered() -> None:
    assert {c.region.value for c in CASES_IN} == {r["id"] for r in tree()["regions"]}
