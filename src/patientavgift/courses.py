"""A whole internet-based treatment course (internetbehandling, iKBT) priced in every region.

The fee for one contact says little about what a treatment costs the patient: the regions charge
at different points of a course (per completed module, per written check-in, or only at booked
visits), and the high-cost ceiling (högkostnadsskydd) caps the sum. This module describes typical
courses as data – the facts of every step, dated week by week from a start day – and prices them
with the same engine as the cases. The notebook `notebooks/internetbehandling-kurs.ipynb` only
calls these functions and shows their results, so a change in the rule data changes the notebook
without editing it.

Nothing here decides a fee. A step the rules do not decide stays undetermined with the engine's
reason, and then so does the course total. `course_totals` adds what can still be said about such
a total without guessing: a lower bound from pricing the course without the undetermined steps,
and the ceiling as the upper bound (see `CourseTotal`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]

from .engine import Outcome, Selection, Totals, Visit, checked_selection, period_end, price_contacts, selection
from .explain import kronor, yes_no
from .handbook import Cell, Prose, Table, covered_regions
from .model import FACT_TERMS, Contact, Patient, Programme, Region, Service, Term
from .rules import RuleBook, sv_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Chosen = str | Sequence[str]
"""Which proposals apply, as in a case file: "none", "all" or a list of proposal ids."""

# --------------------------------------------------------------------------- the course as data

PROGRAMME: dict[str, Any] = {
    "kind": "treatment",
    "ordered_by_licensed": True,
    "approved_by_region": True,
    "therapist_support": True,
    "login_1177": True,
}
"""A treatment programme with therapist support that meets all four basic requirements (grundkrav)
Region Skåne sets for a chargeable internet treatment. Stating all of them keeps every region's
rules from stopping on a missing programme fact, so an undetermined fee means a gap in the rules."""

THERAPIST_CONTACT: dict[str, Any] = {
    "booked": True,
    "initiated_by": "provider",
    "medical_assessment": True,
    "fee_info_given": True,
    "resolved_by_booking_or_referral": False,
    "purpose": "care",
    "visit_form": "individual",
    "staff": "licensed",
    "profession": "psychologist",
    "kva_codes": ["ZV051"],
    "programme": PROGRAMME,
}
"""Facts every contact with the therapist shares: booked by the care team, with a medical
assessment, fee information given, an individual care contact with a licensed psychologist,
registered with the telemedicine code ZV051 (which VGR's routine requires for distance contacts)."""

FIRST_VISIT: dict[str, Any] = {**THERAPIST_CONTACT, "mode": "video", "realtime": True, "programme_event": "first_visit"}
"""The first booked visit, where the assessment is made and the programme offered (by video)."""

MODULE: dict[str, Any] = {
    "mode": "platform",
    "programme_event": "module_completed",
    "staff": "licensed",
    "programme": PROGRAMME,
}
"""The patient completes a module on the platform (own work). The programme is run by licensed
staff; saying so keeps VGR's first rule (unlicensed staff) from stopping on a missing fact, so
that VGR's outcome names the real gap: no rule for work on the platform."""

CHECKIN: dict[str, Any] = {
    **THERAPIST_CONTACT,
    "mode": "written",
    "realtime": False,
    "programme_event": "weekly_checkin",
}
"""The therapist's written weekly check-in: a booked written contact with a medical assessment, as
in the patient path of Region Jämtland Härjedalen's proposal (booked, registered as a written
distance contact)."""

FOLLOW_UP: dict[str, Any] = {
    **THERAPIST_CONTACT,
    "mode": "phone",
    "realtime": True,
    "programme_event": "therapist_followup",
}
"""A booked follow-up by phone that the therapist initiates halfway through the programme."""

LAST_VISIT: dict[str, Any] = {**THERAPIST_CONTACT, "mode": "video", "realtime": True, "programme_event": "last_visit"}
"""The last booked visit, where the treatment is followed up (by video)."""


@dataclass(frozen=True)
class PlannedStep:
    """One step of a course as planned: its week (1 = the first), the day in that week, the facts."""

    week: int
    weekday: int
    name: str
    facts: Mapping[str, Any]


@dataclass(frozen=True)
class Course:
    """A typical course: a name, a description for readers and its steps."""

    id: str
    title: str
    description: str
    plan: tuple[PlannedStep, ...]


def _plan(modules: int, follow_up_week: int | None) -> tuple[PlannedStep, ...]:
    """First visit on the first Monday; each week a module (Thursday) and a check-in (Friday);
    an optional phone follow-up on a Tuesday; the last visit on the Monday after the last week."""
    steps = [PlannedStep(1, 0, "Första bokade besöket (bedömning)", FIRST_VISIT)]
    for week in range(1, modules + 1):
        steps.append(PlannedStep(week, 3, f"Modul {week} genomförd", MODULE))
        steps.append(PlannedStep(week, 4, f"Skriftlig veckoavstämning {week}", CHECKIN))
    if follow_up_week is not None:
        steps.append(PlannedStep(follow_up_week, 1, "Bokad uppföljning på behandlarens initiativ", FOLLOW_UP))
    steps.append(PlannedStep(modules + 1, 0, "Sista bokade besöket (uppföljning)", LAST_VISIT))
    return tuple(sorted(steps, key=lambda s: (s.week, s.weekday)))


IKBT_8 = Course(
    "ikbt-8",
    "8 veckors iKBT med behandlarstöd",
    "Ett bokat första besök via video, åtta moduler som patienten genomför i plattformen, en skriftlig "
    "veckoavstämning med behandlaren efter varje modul, en bokad uppföljning per telefon som behandlaren "
    "tar initiativ till efter halva tiden och ett bokat sista besök via video.",
    _plan(8, follow_up_week=5),
)
"""The main course: eight modules, as in the patient path of Region Jämtland Härjedalen's proposal
(first visit, weekly written check-ins, last visit) with Region Skåne's therapist-initiated follow-up."""

IKBT_5 = Course(
    "ikbt-5",
    "5 veckors kort iKBT",
    "Ett bokat första besök via video, fem moduler med en skriftlig veckoavstämning efter varje och ett "
    "bokat sista besök via video, utan extra uppföljning.",
    _plan(5, follow_up_week=None),
)
"""A shorter course, at the low end of the 5–10 treatment occasions the Västerbotten report names as usual for
KBT in primary care; it shows where the high-cost ceiling is not reached."""

COURSES: tuple[Course, ...] = (IKBT_8, IKBT_5)

PATIENT = Patient(age=40)
"""An adult below every age exemption, with nothing paid earlier in a high-cost period."""

START = date(2026, 2, 2)
"""The common start (a Monday in 2026): Region Skåne's fee for internet treatment (from 2023), VGR's
routine (2024-04-01 – 2027-11-27), Region Jämtland Härjedalen's unit fee and its 2026 proposal are
all in force, and the data has a high-cost ceiling for 2026."""

START_DATES: dict[Region, date] = {Region.vasterbotten: date(2018, 1, 29)}
"""Regions priced at another start. Västerbotten's rules for internet treatment cover 2017–2019 (the
decided 200 kr, charged per completed section as the report proposes; from 2020 the sources do not
say how the fee is charged), so its course starts on a Monday in 2018, within one calendar year and
so under one ceiling."""

SERVICES: dict[Region, Service] = {
    Region.skane: Service.internet_treatment_team,
    Region.vgr: Service.vardval_rehab,
    Region.vasterbotten: Service.internet_treatment_team,
    Region.jamtland_harjedalen: Service.primary_care,
}
"""The care service per region: a team for internet treatment where the cases use one; VGR's rules
cover only Vårdval Rehab; in Jämtland Härjedalen most iKBT contacts are registered at health centres
(the proposal's statistics), as in its cases."""


def start_for(region: Region) -> date:
    """The start day a region's course is priced from (see `START` and `START_DATES`)."""
    return START_DATES.get(region, START)


def service_for(book: RuleBook, region: Region) -> Service:
    """The service a region's course is given in; for a region added later, one its rules cover."""
    if region in SERVICES:
        return SERVICES[region]
    services = book.regions[region].services
    return Service.internet_treatment_team if Service.internet_treatment_team in services else services[0]


@dataclass(frozen=True)
class CourseStep:
    """A step dated from a start day, its facts validated as a case file's contact is."""

    week: int
    name: str
    contact: Contact


def course_steps(start: date, course: Course = IKBT_8) -> list[CourseStep]:
    """The course's steps dated from `start` (the day of the first visit), in date order.

    The date is a parameter because the regions' rules are in force in different periods.
    """
    out = []
    for step in course.plan:
        day = start + timedelta(days=7 * (step.week - 1) + step.weekday)
        contact = Contact.model_validate({"date": day, **step.facts})
        out.append(CourseStep(step.week, step.name, contact))
    return out


def course_table(course: Course = IKBT_8, start: date = START) -> Table:
    """The steps and the facts assumed for each, so a reader can see what was priced."""
    rows: list[list[Cell]] = []
    for step in course_steps(start, course):
        c = step.contact
        rows.append(
            [
                step.week,
                str(c.date),
                step.name,
                c.mode.label if c.mode else "–",
                yes_no(c.booked) if c.booked is not None else "–",
                c.initiated_by.label if c.initiated_by else "–",
                yes_no(c.medical_assessment) if c.medical_assessment is not None else "–",
                c.programme_event.label if c.programme_event else "–",
            ]
        )
    cols = ["Vecka", "Datum", "Steg", "Kontaktform", "Bokad", "Initiativ", "Medicinsk bedömning", "Programhändelse"]
    return Table(cols, rows, caption=f"{course.title}, med start {start}")


def programme_text() -> Prose:
    """The programme facts every step carries, in Swedish (the four basic requirements and more)."""
    programme = Programme.model_validate(PROGRAMME)
    parts = []
    for key, value in programme.model_dump(exclude_none=True).items():
        shown = value.label if isinstance(value, Term) else yes_no(value)
        parts.append(f"- {FACT_TERMS['programme.' + key]}: {shown}")
    return Prose("\n".join(parts))


# --------------------------------------------------------------------------- pricing


@dataclass(frozen=True)
class PricedCourse:
    """A course priced in one region: where and from when, each step's outcome and the totals."""

    course: Course
    region: Region
    service: Service
    start: date
    chosen: Selection
    steps: list[CourseStep]
    outcomes: list[Outcome]
    totals: Totals


def price_steps(
    book: RuleBook,
    region: Region,
    start: date | None = None,
    chosen: Chosen = "none",
    course: Course = IKBT_8,
) -> PricedCourse:
    """Price every step for one patient in date order, so the ceiling counts across the course."""
    day = start or start_for(region)
    service = service_for(book, region)
    sel = checked_selection(book, chosen)
    steps = course_steps(day, course)
    visits = [Visit(step.contact, region, service) for step in steps]
    outcomes, totals = price_contacts(book, PATIENT, visits, sel)
    return PricedCourse(course, region, service, day, sel, steps, outcomes, totals)


def _why(outcome: Outcome) -> str:
    return " ".join(outcome.reasons) or "Reglerna avgör inte avgiften."


STEP_COLUMNS = ["Vecka", "Datum", "Steg", "Kontaktform", "Avgift enligt taxa", "Avgift", "Skäl om ej avgjort"]


def price_course(
    book: RuleBook,
    region: Region,
    start: date | None = None,
    chosen: Chosen = "none",
    course: Course = IKBT_8,
) -> pd.DataFrame:
    """One row per step: week, date, step, contact form, list fee, fee, and the reason if undetermined.

    Amounts are whole kronor; None means the rules do not decide (never 0, which means free).
    """
    priced = price_steps(book, region, start, chosen, course)
    rows = [
        [
            step.week,
            o.date,
            step.name,
            step.contact.mode.label if step.contact.mode else "–",
            o.list_fee,
            o.fee,
            _why(o) if o.fee is None else None,
        ]
        for step, o in zip(priced.steps, priced.outcomes, strict=True)
    ]
    return pd.DataFrame(rows, columns=STEP_COLUMNS, dtype=object)


@dataclass(frozen=True)
class CourseTotal:
    """What the course costs in one region.

    `paid` is the engine's total, None when a step is undetermined. `unpriced` counts the steps
    whose list fee the rules do not decide; the other undetermined steps have a list fee, but what
    the patient pays depends on the ceiling, which an unknown earlier fee leaves open. Then `at_least` is the total of
    the course priced without the steps whose list fee is undetermined (fees are never negative, so
    adding them back cannot lower the sum), and `at_most` the ceiling, which no patient pays more
    than in a period. Both are None when the course is not under one ceiling amount and one period.
    """

    region: Region
    service: Service
    start: date
    rules: str
    paid: int | None
    paid_contacts: int
    undetermined: int
    unpriced: int
    reasons: tuple[tuple[str, int], ...]
    at_least: int | None
    at_most: int | None
    ceiling: int | None
    frikort_from: date | None

    @property
    def conclusion(self) -> str:
        """The total in words: the amount, the bounds, or that nothing can be said."""
        if self.paid is not None:
            return kronor(self.paid)
        if self.at_least is not None and self.at_most is not None:
            if self.at_least == self.at_most:
                return f"{kronor(self.at_least)} – taket nås även utan de ej avgjorda stegen"
            return f"ej avgjort: minst {kronor(self.at_least)}, högst {kronor(self.at_most)} (taket)"
        return "ej avgjort"


def rules_label(chosen: Chosen) -> str:
    """Which rules were applied, in Swedish: the rule data without proposals, with all of them, or with
    the named ones (a rule is called decided only where its confidence allows, so not here)."""
    sel = selection(chosen)
    if sel == "all":
        return "regeldatan med alla förslag"
    if not sel:
        return "regeldatan utan förslag"
    return "regeldatan med förslaget " + ", ".join(sorted(sel))


def _bounds(book: RuleBook, priced: PricedCourse) -> tuple[int | None, int | None]:
    if priced.totals.paid is not None:
        return priced.totals.paid, priced.totals.paid
    ceilings = {o.ceiling for o in priced.outcomes}
    first, last = priced.outcomes[0].date, priced.outcomes[-1].date
    if len(ceilings) != 1 or None in ceilings or last > period_end(first, book.period_months()):
        return None, None
    (ceiling,) = ceilings
    kept = [
        Visit(step.contact, priced.region, priced.service)
        for step, o in zip(priced.steps, priced.outcomes, strict=True)
        if not (o.fee is None and o.list_fee is None)
    ]
    _, totals = price_contacts(book, PATIENT, kept, priced.chosen)
    return totals.paid, ceiling


def course_total(book: RuleBook, priced: PricedCourse, chosen: Chosen = "none") -> CourseTotal:
    """Sum up one priced course: total, paid contacts, undetermined steps and their reasons, bounds."""
    reasons: dict[str, int] = {}
    for o in priced.outcomes:
        if o.fee is None:
            for why in dict.fromkeys(o.reasons or [_why(o)]):
                reasons[why] = reasons.get(why, 0) + 1
    at_least, at_most = _bounds(book, priced)
    return CourseTotal(
        region=priced.region,
        service=priced.service,
        start=priced.start,
        rules=rules_label(chosen),
        paid=priced.totals.paid,
        paid_contacts=sum(1 for o in priced.outcomes if o.fee),
        undetermined=sum(1 for o in priced.outcomes if o.fee is None),
        unpriced=sum(1 for o in priced.outcomes if o.fee is None and o.list_fee is None),
        reasons=tuple(reasons.items()),
        at_least=at_least,
        at_most=at_most,
        ceiling=max((o.ceiling for o in priced.outcomes if o.ceiling is not None), default=None),
        frikort_from=priced.totals.frikort_from,
    )


def totals(
    book: RuleBook,
    chosen: Chosen = "none",
    course: Course = IKBT_8,
    starts: Mapping[Region, date] | None = None,
    regions: Sequence[Region] | None = None,
) -> list[CourseTotal]:
    """The course's total in every region the rule data covers, each from its own start day."""
    out = []
    for region in regions or covered_regions(book):
        start = (starts or {}).get(region) or start_for(region)
        out.append(course_total(book, price_steps(book, region, start, chosen, course), chosen))
    return out


TOTAL_COLUMNS = [
    "Region",
    "Vårdtjänst",
    "Startdatum",
    "Regler",
    "Summa betalt",
    "Betalda kontakter",
    "Ej avgjorda steg",
    "Varav taxan ej avgjord",
    "Skäl om ej avgjort",
    "Minst",
    "Högst",
    "Summan",
    "Högkostnadstak",
    "Frikort från",
]


def course_totals(
    book: RuleBook,
    chosen: Chosen = "none",
    course: Course = IKBT_8,
    starts: Mapping[Region, date] | None = None,
    regions: Sequence[Region] | None = None,
) -> pd.DataFrame:
    """One row per region: the date used, the total paid (None if undetermined), the number of paid
    contacts, the undetermined steps with their reasons (each with its number of steps), the bounds
    on an undetermined total, the ceiling and the day a frikort started."""
    rows = [
        [
            t.region.label,
            t.service.label,
            t.start,
            t.rules,
            t.paid,
            t.paid_contacts,
            t.undetermined,
            t.unpriced,
            " | ".join(f"{n} steg: {why}" for why, n in t.reasons) or None,
            t.at_least if t.paid is None else None,
            t.at_most if t.paid is None else None,
            t.conclusion,
            t.ceiling,
            t.frikort_from,
        ]
        for t in totals(book, chosen, course, starts, regions)
    ]
    return pd.DataFrame(rows, columns=TOTAL_COLUMNS, dtype=object)


def overview(
    book: RuleBook,
    courses: Sequence[Course] = COURSES,
    choices: Sequence[Chosen] = ("none", "all"),
) -> pd.DataFrame:
    """Each course under each set of rules (rows) in each region (columns), as the total in words."""
    regions = covered_regions(book)
    rows = []
    for course in courses:
        for chosen in choices:
            found = totals(book, chosen, course)
            rows.append([course.title, rules_label(chosen), *[t.conclusion for t in found]])
    return pd.DataFrame(rows, columns=["Kurs", "Regler", *[r.label for r in regions]], dtype=object)


# --------------------------------------------------------------------------- display

UNDETERMINED_IF_EMPTY = frozenset({"Avgift enligt taxa", "Avgift", "Summa betalt"})
"""Amount columns where an empty cell means that the rules do not decide (shown as 'ej avgjort')."""

KRONOR = UNDETERMINED_IF_EMPTY | {"Minst", "Högst", "Högkostnadstak"}
"""Columns holding amounts in kronor."""


def _shown(column: str, value: Any) -> Cell:
    if column in UNDETERMINED_IF_EMPTY:
        return kronor(value)
    if value is None:
        return None
    if column in KRONOR:
        return kronor(value)
    if isinstance(value, date):
        return str(value)
    if isinstance(value, int | str):
        return value
    return str(value)


def as_table(frame: pd.DataFrame, columns: Sequence[str] | None = None, caption: str | None = None) -> Table:
    """A DataFrame from this module as a handbook table: amounts in kronor, 'ej avgjort' for an
    undetermined fee (never a 0), '–' for a cell that does not apply."""
    names = list(columns or frame.columns)
    rows: list[list[Cell]] = [[_shown(n, record[n]) for n in names] for record in frame.to_dict("records")]
    return Table(names, rows, caption=caption)


def step_caption(book: RuleBook, region: Region, start: date | None = None, chosen: Chosen = "none") -> str:
    """The heading of a region's step table: region, service, start day and rules applied."""
    day = start or start_for(region)
    return f"{region.label} – {service_for(book, region).label}, start {day}, {rules_label(chosen)}"


def summary(frame: pd.DataFrame) -> Prose:
    """The totals in sentences, one bullet per region (amounts taken from `course_totals`)."""
    lines = []
    for t in frame.to_dict("records"):
        head = f"- **{t['Region']}** (start {t['Startdatum']}): "
        if t["Summa betalt"] is not None:
            reached = f", och högkostnadstaket nås {t['Frikort från']}" if t["Frikort från"] else ""
            lines.append(f"{head}{kronor(t['Summa betalt'])} för {t['Betalda kontakter']} betalda kontakter{reached}.")
        elif t["Minst"] is not None and t["Minst"] == t["Högst"]:
            lines.append(
                f"{head}{t['Ej avgjorda steg']} steg ej avgjorda, men summan blir ändå {kronor(t['Minst'])}, "
                "eftersom högkostnadstaket nås även utan dem."
            )
        elif t["Minst"] is not None:
            lines.append(
                f"{head}{t['Ej avgjorda steg']} steg ej avgjorda; summan är minst {kronor(t['Minst'])} "
                f"och högst {kronor(t['Högst'])} (högkostnadstaket)."
            )
        else:
            lines.append(f"{head}{t['Ej avgjorda steg']} steg ej avgjorda; summan kan inte avgöras.")
    return Prose("\n".join(lines))


COLOURS = ["#1f5f8b", "#d9822b", "#2a8a4a", "#8e44ad", "#7f7f7f"]


def totals_chart(frame: pd.DataFrame, title: str) -> Figure:
    """Total per region as horizontal bars. A decided total is a solid bar. An undetermined total is
    never drawn as 0: its certain part (the lower bound) is hatched, the rest up to the ceiling lightly
    hatched, or, without bounds, a hatched bar across the chart marked 'ej avgjort'."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    records = frame.to_dict("records")
    values = [v for r in records for v in (r["Summa betalt"], r["Högst"], r["Högkostnadstak"]) if v is not None]
    top = (max(values, default=0) or 100) * 1.75
    fig, ax = plt.subplots(figsize=(9, 1.1 * len(records) + 1.6))
    for y, r in enumerate(records):
        colour = COLOURS[y % len(COLOURS)]
        end = next((v for v in (r["Summa betalt"], r["Högst"]) if v is not None), 0)
        label_at = end + top * 0.012
        if r["Högkostnadstak"] is not None and end <= r["Högkostnadstak"] < end + top * 0.12:
            label_at = r["Högkostnadstak"] + top * 0.012  # clear of the ceiling mark
        if r["Summa betalt"] is not None:
            ax.barh(y, r["Summa betalt"], height=0.6, color=colour)
            ax.text(label_at, y, kronor(r["Summa betalt"]), va="center", fontsize=9)
        elif r["Minst"] is not None and r["Högst"] is not None:
            low, high = r["Minst"], r["Högst"]
            ax.barh(y, low, height=0.6, color="white", edgecolor=colour, hatch="///", linewidth=0.8)
            if high > low:
                ax.barh(y, high - low, left=low, height=0.6, color="white", edgecolor=colour, hatch="..", alpha=0.6)
            ax.text(label_at, y, _wrap(r["Summan"]), va="center", fontsize=8.5)
        else:
            ax.barh(y, top, height=0.6, color="white", edgecolor=colour, hatch="///", linewidth=0.8)
            box = {"facecolor": "white", "edgecolor": "none", "pad": 0.5}
            ax.text(top * 0.015, y, "ej avgjort", va="center", fontsize=9, bbox=box)
        if r["Högkostnadstak"] is not None:
            ax.plot([r["Högkostnadstak"]] * 2, [y - 0.38, y + 0.38], color="#222222", linewidth=1.4)
    ax.set_yticks(range(len(records)))
    ax.set_yticklabels([f"{r['Region']}\nstart {r['Startdatum']}" for r in records], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, top)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: sv_number(int(x))))
    ax.set_xlabel("Summa som patienten betalar för kursen (kronor)", fontsize=10)
    ax.set_title(title, fontsize=11)
    handles = [
        Patch(color="#777777", label="avgjord summa"),
        Patch(facecolor="white", edgecolor="#555555", hatch="///", label="ej avgjort: säker del av summan"),
        Patch(facecolor="white", edgecolor="#555555", hatch="..", label="ej avgjort: möjlig del upp till taket"),
        Line2D([], [], color="#222222", linewidth=1.4, label="högkostnadstak"),
    ]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.45, -0.14), ncol=2, fontsize=8.5, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _wrap(text: str) -> str:
    import textwrap

    return textwrap.fill(text, 34)


def reasons_table(
    book: RuleBook,
    chosen: Chosen = "none",
    course: Course = IKBT_8,
    starts: Mapping[Region, date] | None = None,
    regions: Sequence[Region] | None = None,
) -> Table:
    """Each reason the engine gives for an undetermined step, per region, with how many steps it
    concerns – the reasons say what is missing in the rule data, which a total cannot."""
    rows: list[list[Cell]] = []
    for t in totals(book, chosen, course, starts, regions):
        rows += [[t.region.label, str(t.start), n, why] for why, n in t.reasons]
    return Table(["Region", "Startdatum", "Antal steg", "Skäl om ej avgjort"], rows)


CONFIDENCE_SV = {
    "inferred": "regeln är en tolkning av källan, inte ordagrant belagd",
    "derived": "beloppet är räknat fram ur belagda uppgifter",
    "unverified": "uppgiften är inte belagd i källorna",
}
"""What a rule's confidence tag means for the reader."""


def data_notes(book: RuleBook, chosen: Chosen = "none", course: Course = IKBT_8) -> Prose:
    """The caveats the rule data itself records for the rules that priced the course (notes on an
    amount, rules that interpret their source), so a reader can see how firm each amount is."""
    lines: list[str] = []
    for region in covered_regions(book):
        priced = price_steps(book, region, chosen=chosen, course=course)
        used = {step.rule for o in priced.outcomes for step in o.trace}
        found: dict[str, dict[str, None]] = {}  # label → its notes, in order, without repeats
        for table in book.tables.values():
            if table.region != region:
                continue
            for row in table.rows:
                if row.id in used:
                    for note in (row.note, CONFIDENCE_SV.get(row.confidence or "")):
                        if note:
                            found.setdefault(row.label or row.id, {})[note] = None
            for param in table.parameters:
                if param.id in used and param.note:
                    found.setdefault(param.label, {})[param.note] = None
        lines += [f"- **{region.label}**, {label}: {'; '.join(notes)}." for label, notes in found.items()]
    return Prose("\n".join(lines) or "Regeldatan har inga anmärkningar om de regler som prissatt kursen.")
