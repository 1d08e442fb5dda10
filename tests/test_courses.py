"""Whole internet-treatment courses priced per region (patientavgift.courses).

Expected amounts are read off the source documents and the reference facts, not off the code:
"Skåne" is Region Skåne's page "Digitala vårdkontakter samt internetbaserade behandlingar" (undated
web page), "JH" Region Jämtland Härjedalen's proposal "Sänkt patientavgift för skriftlig
distanskontakt" (2025), "VGR" Västra Götalandsregionen's routine "Registrering av distanskontakter,
fr o m 240401, Vårdval Rehab" (version 6.0) and "Västerbotten" the county council's final report
"Avgifter och ersättning vid internetbehandling" (2016); "facts" is the handbook's reference facts.
"""

from __future__ import annotations

from datetime import date, timedelta

import matplotlib
import pytest

from patientavgift import courses as cs
from patientavgift.handbook import covered_regions
from patientavgift.model import Mode, ProgrammeEvent, Region
from patientavgift.rules import RuleBook

matplotlib.use("Agg")

RJH_PROPOSAL = "jamtland-harjedalen-written-100"


def fees(book: RuleBook, region: Region, chosen: cs.Chosen = "none", course: cs.Course = cs.IKBT_8) -> list[int | None]:
    return [o.fee for o in cs.price_steps(book, region, chosen=chosen, course=course).outcomes]


def events(course: cs.Course = cs.IKBT_8) -> list[ProgrammeEvent | None]:
    return [s.contact.programme_event for s in cs.course_steps(cs.START, course)]


# --------------------------------------------------------------------------- the course as data


def test_eight_week_course_has_the_steps_of_the_brief() -> None:
    # One booked first visit (video), 8 modules, 8 written check-ins, one booked phone follow-up
    # initiated by the therapist, one booked last visit: 19 steps.
    steps = cs.course_steps(date(2026, 2, 2))
    kinds = [s.contact.programme_event for s in steps]
    assert len(steps) == 19
    assert kinds.count(ProgrammeEvent.module_completed) == 8
    assert kinds.count(ProgrammeEvent.weekly_checkin) == 8
    assert kinds[0] is ProgrammeEvent.first_visit and steps[0].contact.mode is Mode.video
    assert kinds[-1] is ProgrammeEvent.last_visit and steps[-1].contact.mode is Mode.video
    (follow_up,) = [s.contact for s in steps if s.contact.programme_event is ProgrammeEvent.therapist_followup]
    assert follow_up.mode is Mode.phone and follow_up.booked and follow_up.initiated_by == "provider"
    assert all(
        s.contact.mode is Mode.platform for s in steps if s.contact.programme_event is ProgrammeEvent.module_completed
    )
    assert all(
        s.contact.mode is Mode.written and s.contact.booked and s.contact.medical_assessment
        for s in steps
        if s.contact.programme_event is ProgrammeEvent.weekly_checkin
    )


@pytest.mark.parametrize("start", [date(2026, 2, 2), date(2018, 1, 29), date(2025, 6, 4)])
def test_steps_are_dated_week_by_week_from_the_start(start: date) -> None:
    steps = cs.course_steps(start)
    days = [s.contact.date for s in steps]
    assert days == sorted(days)
    assert days[0] == start
    assert days[-1] == start + timedelta(weeks=8)
    assert [s.week for s in steps] == sorted(s.week for s in steps)


def test_every_programme_step_meets_skanes_basic_requirements() -> None:
    # Skåne, "Grundkrav": ordered by licensed staff, approved in Region Skåne's process,
    # therapist support, login via 1177.
    for step in cs.course_steps(cs.START):
        p = step.contact.programme
        assert p is not None
        assert (p.kind, p.ordered_by_licensed, p.approved_by_region, p.therapist_support, p.login_1177) == (
            "treatment",
            True,
            True,
            True,
            True,
        )


def test_each_region_is_priced_where_its_rules_are_in_force(book: RuleBook) -> None:
    # Västerbotten's decided rules for internet treatment are from 2017–2019 (Västerbotten: decided June
    # 2016 for January 2017; facts §6.1: another fee from 2020), the others are in force in 2026.
    assert cs.start_for(Region.vasterbotten).year == 2018
    for region in covered_regions(book):
        priced = cs.price_steps(book, region)
        assert not any("Inga regler" in why for o in priced.outcomes for why in o.reasons)
        assert priced.service in book.regions[region].services


# --------------------------------------------------------------------------- Region Skåne


def test_skane_charges_only_the_booked_visits_and_the_therapists_follow_up(book: RuleBook) -> None:
    # Skåne, "Internetbaserade behandlingar (oavsett kontakttyp)": 200 kronor, taken at the first
    # booked visit, the last booked visit and booked follow-ups the therapist initiates; the
    # patient's own work and the check-ins are no such occasion (facts §4.2; cases/skane/ikbt-path-2025).
    expected = {
        ProgrammeEvent.first_visit: 200,
        ProgrammeEvent.module_completed: 0,
        ProgrammeEvent.weekly_checkin: 0,
        ProgrammeEvent.therapist_followup: 200,
        ProgrammeEvent.last_visit: 200,
    }
    assert fees(book, Region.skane) == [expected[e] for e in events() if e is not None]
    frame = cs.course_totals(book, regions=[Region.skane])
    assert frame["Summa betalt"].tolist() == [600]
    assert frame["Betalda kontakter"].tolist() == [3]
    assert frame["Ej avgjorda steg"].tolist() == [0]


def test_skane_short_course_without_follow_up(book: RuleBook) -> None:
    # Skåne: first and last booked visit, 200 kronor each; 400 kr is below the 2026 ceiling.
    assert cs.course_totals(book, course=cs.IKBT_5, regions=[Region.skane])["Summa betalt"].tolist() == [400]


# --------------------------------------------------------------------------- Region Jämtland Härjedalen


def test_jamtland_harjedalen_decided_unit_fee_reaches_the_ceiling(book: RuleBook) -> None:
    # JH, "Ärendebeskrivning": a written distance contact costs the same as a visit, 400 kronor
    # (the proposal's patient path keeps 400 kr for the visits in 2026); own work in the modules is
    # free (facts §1.2). Ceiling 2026: 1 450 kr (facts §2.2); the crossing fee is partial (facts §2.3):
    # 400 + 400 + 400 + 250, then frikort.
    paid = fees(book, Region.jamtland_harjedalen)
    assert [f for f in paid if f] == [400, 400, 400, 250]
    frame = cs.course_totals(book, regions=[Region.jamtland_harjedalen])
    assert frame["Summa betalt"].tolist() == [1450]
    assert frame["Frikort från"].tolist() == [date(2026, 2, 20)]  # the third check-in (Friday, week 3)


def test_jamtland_harjedalen_proposal_lowers_the_short_course(book: RuleBook) -> None:
    # JH, "Förslag på sänkt patientavgift": 100 kr per qualified written check-in, 400 kr for the
    # first and the last visit: 400 + 5 × 100 + 400 = 1 300 kr, below the 1 450 kr ceiling.
    # Decided rules: 400 per check-in, so the ceiling (1 450 kr) is reached.
    decided = cs.course_totals(book, "none", cs.IKBT_5, regions=[Region.jamtland_harjedalen])
    proposal = cs.course_totals(book, [RJH_PROPOSAL], cs.IKBT_5, regions=[Region.jamtland_harjedalen])
    assert decided["Summa betalt"].tolist() == [1450]
    assert proposal["Summa betalt"].tolist() == [1300]
    assert proposal["Betalda kontakter"].tolist() == [7]


def test_jamtland_harjedalen_proposal_does_not_change_the_long_course(book: RuleBook) -> None:
    # JH: "i det läget har patienten oftast uppnått högkostnadsskyddsnivån". With the booked
    # phone follow-up at the unit fee (facts §1.2, 400 kr) the eight-week course still reaches 1 450 kr:
    # 400 + 4 × 100 + 400 + 3 × 100 = 1 500 > 1 450.
    frame = cs.course_totals(book, [RJH_PROPOSAL], regions=[Region.jamtland_harjedalen])
    assert frame["Summa betalt"].tolist() == [1450]
    paid = fees(book, Region.jamtland_harjedalen, [RJH_PROPOSAL])
    assert [f for f in paid if f] == [400, 100, 100, 100, 100, 400, 100, 100, 50]


# --------------------------------------------------------------------------- VGR, Vårdval Rehab


def test_vgr_leaves_platform_work_undetermined_but_the_ceiling_is_reached(book: RuleBook) -> None:
    # VGR: video individual 200 kr; a written or phone contact that replaces a visit 160 kr
    # (facts §5.3). No VGR fee for iKBT modules was found (facts §5.5), so module steps are
    # undetermined. Without them: 200 + 8 × 160 + 160 + 200 = 1 840 kr, above the 1 450 kr ceiling,
    # so the total is at least and at most 1 450 kr.
    priced = cs.price_steps(book, Region.vgr)
    first, module, checkin = priced.outcomes[:3]
    assert first.fee == 200
    assert module.fee is None and module.list_fee is None
    assert checkin.list_fee == 160
    frame = cs.course_totals(book, regions=[Region.vgr])
    assert frame["Summa betalt"].tolist() == [None]
    assert frame["Varav taxan ej avgjord"].tolist() == [8]
    assert (frame["Minst"].tolist(), frame["Högst"].tolist()) == ([1450], [1450])


def test_vgr_short_course_bounds(book: RuleBook) -> None:
    # VGR: 200 + 5 × 160 + 200 = 1 200 kr without the modules; at most the 1 450 kr ceiling.
    frame = cs.course_totals(book, course=cs.IKBT_5, regions=[Region.vgr])
    assert (frame["Minst"].tolist(), frame["Högst"].tolist()) == ([1200], [1450])
    assert frame["Summan"].tolist() == ["ej avgjort: minst 1\u00a0200 kr, högst 1\u00a0450 kr (taket)"]


# --------------------------------------------------------------------------- Västerbotten


def test_vasterbotten_charges_per_completed_module(book: RuleBook) -> None:
    # Västerbotten: the county council decided 200 kronor for internet treatment (§3.3.1); §3.3.4
    # proposes taking it per completed section (avsnitt) of a treatment programme, as the data does; the
    # report never mentions weekly check-ins, so their fee is undetermined; the booked visits are left to
    # the ordinary tariff, which is not in the sources. Ceiling 2018: 1 100 kr (facts §2.2), which the
    # eight modules alone exceed (1 600 kr).
    priced = cs.price_steps(book, Region.vasterbotten)
    by_event = {
        e: [o for s, o in zip(priced.steps, priced.outcomes, strict=True) if s.contact.programme_event is e]
        for e in ProgrammeEvent
    }
    assert {o.list_fee for o in by_event[ProgrammeEvent.module_completed]} == {200}
    assert {o.list_fee for o in by_event[ProgrammeEvent.weekly_checkin]} == {None}
    assert by_event[ProgrammeEvent.first_visit][0].list_fee is None
    frame = cs.course_totals(book, regions=[Region.vasterbotten])
    assert frame["Startdatum"].tolist() == [date(2018, 1, 29)]
    assert (frame["Minst"].tolist(), frame["Högst"].tolist()) == ([1100], [1100])
    short = cs.course_totals(book, course=cs.IKBT_5, regions=[Region.vasterbotten])
    assert (short["Minst"].tolist(), short["Högst"].tolist()) == ([1000], [1100])  # 5 × 200; ceiling


def test_vasterbotten_from_2020_is_undetermined(book: RuleBook) -> None:
    # Facts §6.1: from 2020 the 100 kr distance fee also applies to internet treatment, but whether
    # per module, week or contact is not stated: nothing can be priced.
    frame = cs.price_course(book, Region.vasterbotten, cs.START)
    assert frame["Avgift"].tolist() == [None] * 19
    assert all(frame["Skäl om ej avgjort"])


# --------------------------------------------------------------------------- display


def test_step_table_columns_and_undetermined_never_zero(book: RuleBook) -> None:
    frame = cs.price_course(book, Region.vgr)
    assert list(frame.columns) == [
        "Vecka",
        "Datum",
        "Steg",
        "Kontaktform",
        "Avgift enligt taxa",
        "Avgift",
        "Skäl om ej avgjort",
    ]
    table = cs.as_table(frame)
    for fee, shown, why in zip(frame["Avgift"], table.column("Avgift"), frame["Skäl om ej avgjort"], strict=True):
        if fee is None:
            assert shown == "ej avgjort" and why
        else:
            assert shown != "ej avgjort" and why is None


def test_totals_have_one_row_per_covered_region(book: RuleBook) -> None:
    frame = cs.course_totals(book)
    assert frame["Region"].tolist() == [r.label for r in covered_regions(book)]
    assert set(frame["Startdatum"]) == {cs.START, date(2018, 1, 29)}
    shown = cs.as_table(frame).column("Summa betalt")
    assert [s == "ej avgjort" for s in shown] == [p is None for p in frame["Summa betalt"]]


def test_chart_hatches_undetermined_totals(book: RuleBook) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    frame = cs.course_totals(book)
    fig = cs.totals_chart(frame, "test")
    try:
        (ax,) = fig.axes
        bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() > 0]
        hatched = [p for p in bars if p.get_hatch()]
        solid = [p for p in bars if not p.get_hatch()]
        undetermined = sum(1 for p in frame["Summa betalt"] if p is None)
        assert len(hatched) >= undetermined > 0
        assert sorted(p.get_width() for p in solid) == sorted(p for p in frame["Summa betalt"] if p is not None)
    finally:
        plt.close(fig)
