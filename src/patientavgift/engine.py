"""The fee engine: from contact facts to an outcome with its chain of rules.

Two steps, kept apart so that each can be read and tested on its own:

1. `decide` applies one region's rule table to one contact: is it qualified, how is it registered,
   what contact points and what list fee (avgift enligt taxa) does it carry. It knows nothing of
   the patient's age or earlier payments.
2. `price_contacts` takes a patient's contacts in date order, applies the age exemptions and the
   high-cost ceiling (högkostnadsskydd) across all regions, and returns the fee each contact
   costs, with frikort status.

Every conclusion is a `Step` in the trace, with the rule id and its citation. Where the rules do
not decide, the outcome is undetermined and says why (a missing fact, or a gap in the sources).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from .ceiling import (
    CAPPED,
    EARLIER_CEILING,
    EARLIER_FEE,
    ENDED,
    FRIKORT,
    NO_CEILING,
    NO_PERIOD,
    PARTIAL,
    REACHED,
    STARTED,
    UNKNOWN,
    Period,
    ceiling_step,
)
from .conditions import Tri
from .confidence import SV, Confidence, of_item, weakest
from .model import FACT_TERMS, Contact, Mode, Patient, ProgrammeKind, Region, Service
from .rules import Dated, FeeRef, ParamRef, Row, RuleBook, sv_number

# The engine's own steps (the 12-month period, exact partial payment, frikort, fees from other
# regions, invoicing the home region) and the statements of the source register behind each.
ENGINE_CITES: dict[str, list[str]] = {
    "ceiling.period-start": ["facts.ceiling-period", "facts.ceiling-other-regions"],
    "ceiling.period-end": ["facts.ceiling-period"],
    "ceiling.partial": ["facts.ceiling-partial"],
    "ceiling.frikort": ["facts.ceiling-period"],
    "ceiling.frikort-issued": ["facts.ceiling-period", "facts.ceiling-rise"],
    "invoice.home-region": ["rjh.invoice-home-region"],
    "care-region.rules": ["skane.care-region-rules", "facts.ceiling-other-regions"],
}


def _engine_step(book: RuleBook, step_id: str, text: str, bears_on_fee: bool = True) -> Step:
    cites = ENGINE_CITES[step_id]
    confidence = of_item(book, None, cites) if bears_on_fee else None
    return Step(step_id, text, book.cite_text(cites), confidence=confidence)


def _named(keys: Iterable[str]) -> str:
    """Fact keys with their Swedish terms: `booked (bokad / överenskommen tid i förväg)`."""
    return ", ".join(f"{key} ({FACT_TERMS.get(key, key)})" for key in sorted(keys))


Day = date
"""A calendar day (a name for `date` inside classes whose fields are called `date`)."""

Selection = Literal["all"] | frozenset[str]
"""Which proposals/alternatives apply: "all" proposals, or a set of proposal ids."""


def selection(proposals: str | Sequence[str] | None) -> Selection:
    """Turn the case key `proposals` (none | all | [ids]) into a selection."""
    if proposals is None or proposals == "none":
        return frozenset()
    if proposals == "all":
        return "all"
    if isinstance(proposals, str):
        return frozenset(p.strip() for p in proposals.split(",") if p.strip())
    return frozenset(proposals)


def checked_selection(book: RuleBook, proposals: str | Sequence[str] | None) -> Selection:
    """`selection`, refusing proposal ids the rule data does not have (a misspelt id would
    otherwise price the decided rules under the proposal's name)."""
    chosen = selection(proposals)
    if chosen != "all":
        unknown = sorted(chosen - set(book.proposals))
        if unknown:
            known = ", ".join(sorted(book.proposals)) or "none"
            raise ValueError(f"unknown proposal id(s) {', '.join(unknown)}; known proposals: {known}")
    return chosen


@dataclass(frozen=True)
class Step:
    """One link in the chain of rules: which rule, what it concluded, and its citation."""

    rule: str
    text: str
    cite: str = ""
    confidence: Confidence | None = None
    """How sure the step is (None: the step does not bear on the fee, e.g. a ceiling that did not bind)."""
    note: str | None = None


@dataclass
class Decision:
    """What a region's rules conclude about one contact, before exemptions and the ceiling."""

    list_fee: int | None = None
    qualified: bool | None = None
    registration: str | None = None
    contact_points: Decimal | None = None
    category: ProgrammeKind | None = None
    missing: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    trace: list[Step] = field(default_factory=list)


@dataclass
class Outcome:
    """The full outcome for one contact (the keys of `expect` in the case contract)."""

    date: date
    region: Region
    fee: int | None
    list_fee: int | None
    qualified: bool | None
    registration: str | None
    contact_points: Decimal | None
    category: ProgrammeKind | None
    invoice_home_region: bool | None
    frikort: bool | None
    missing: list[str]
    reasons: list[str]
    warnings: list[str]
    trace: list[Step]
    ceiling: int | None = None
    paid_before: int | None = None
    """Kronor paid towards the ceiling in the running period before this contact (0 when no period
    runs or the last one ended before it; None when the amount is not known)."""
    period_start: Day | None = None
    """First day of the high-cost period this contact belongs to, after it (None when none runs or it
    is not known)."""

    @property
    def confidence(self) -> Confidence:
        """The weakest confidence of the steps that decided the fee (verified, derived, inferred, unverified)."""
        return weakest(s.confidence for s in self.trace)

    @property
    def confidence_notes(self) -> list[str]:
        """The notes of the steps at the outcome's weakest confidence (why the value is uncertain)."""
        level = self.confidence
        notes: list[str] = []
        for s in self.trace:
            if s.confidence == level and s.note and s.note not in notes:
                notes.append(s.note)
        return notes

    @property
    def undetermined(self) -> bool:
        """True when the rules do not decide the fee."""
        return self.fee is None


def _facts(
    contact: Contact,
    region: Region,
    service: Service | None,
    category: tuple[ProgrammeKind | None, frozenset[str]],
) -> Any:
    def lookup(key: str) -> tuple[Any, frozenset[str]]:
        if key == "service":
            return service, frozenset()
        if key == "region":
            return region, frozenset()
        if key == "category":
            return category
        return contact.fact(key), frozenset()

    return lookup


def in_force(row: Row, on: date, chosen: Selection) -> bool:
    """Whether a row applies on a day under the chosen proposals (decided rows always do)."""
    if not row.in_force(on):
        return False
    if row.status == "decided":
        return True
    if row.status == "proposed" and chosen == "all":
        return True
    return chosen != "all" and row.proposal in chosen


def _first(
    book: RuleBook, table_id: str, facts: Any, on: date, chosen: Selection, passed: list[Row] | None = None
) -> tuple[Row | None, Tri]:
    """The first row in force whose condition holds; stop at a row that depends on missing facts.

    When the search stops at such a row, the facts that later rows also lack (up to the first row
    that holds) are named too, so the reader learns every fact that could decide the contact.
    """
    found: tuple[Row, Tri] | None = None
    missing: set[str] = set()
    for row in book.rows(table_id):
        if not in_force(row, on, chosen):
            continue
        result = book.when(table_id, row).evaluate(facts, book.definitions)
        if result.value is False:
            continue
        if row.trace_only:
            if result.value is True and found is None and passed is not None:
                passed.append(row)
            continue
        if found is None:
            if result.value is True:
                return row, result
            found = (row, result)
        if result.value is True:
            break
        missing |= result.missing
    if found is None:
        return None, Tri(False)
    return found[0], Tri(None, frozenset(missing))


def _cited_step(book: RuleBook, rule_id: str, text: str, item: Dated, note: str | None = None) -> Step:
    """A step resting on a dated item of the rule data: its citation, and its confidence weakened by
    the statements it cites."""
    return Step(
        rule_id,
        text,
        book.cite_text(item.cite),
        confidence=of_item(book, item.confidence, item.cite),
        note=note or item.note,
    )


def _step(book: RuleBook, row: Row, text: str) -> Step:
    status = {"decided": "", "proposed": " [förslag, ej beslutat]", "alternative": " [alternativ för simulering]"}
    return _cited_step(book, row.id, text + status[row.status], row)


def _readings(book: RuleBook, table_id: str, row: Row, on: date) -> list[Step]:
    """The table's readings in force on the day that cover the row, as trace steps."""
    return [
        _cited_step(book, reading.id, f"Läsning: {reading.text}", reading)
        for reading in book.tables[table_id].readings
        if reading.in_force(on) and (not reading.rows or row.id in reading.rows)
    ]


def _programme_contact(contact: Contact) -> bool:
    return contact.programme is not None or contact.programme_event is not None or contact.mode == Mode.platform


def _category(
    book: RuleBook, contact: Contact, facts: Any, on: date, d: Decision
) -> tuple[ProgrammeKind | None, frozenset[str]]:
    if not _programme_contact(contact):
        return None, frozenset({"programme.kind"})
    table = next((t for t in book.tables.values() if t.kind == "categories"), None)
    if table is None:
        return None, frozenset({"programme.kind"})
    row, result = _first(book, table.id, facts, on, frozenset())
    if row is None or result.value is None or row.category is None:
        missing = result.missing if result.value is None else frozenset({"programme.kind"})
        return None, missing
    # The category bears on a fee only through the rows that test it, which carry their own confidence.
    step = _step(book, row, f"Programmets kategori: {row.category.label} ({row.text or row.label or row.id})")
    d.trace.append(replace(step, confidence=None))
    return row.category, frozenset()


def param_amount(book: RuleBook, param_id: str, on: date, chosen: Selection) -> tuple[int | Decimal | None, Any]:
    """The amount of a parameter on a day (a selected proposal value wins over the decided one)."""
    param = book.parameters[param_id]
    candidates = [v for v in param.values if param.holds(v, on) and in_force(v, on, chosen)]  # type: ignore[arg-type]
    candidates.sort(key=lambda v: v.status == "decided")
    if not candidates:
        return None, param
    return candidates[0].amount, candidates[0]


def _param_fee(book: RuleBook, param_id: str, on: date, chosen: Selection, d: Decision) -> None:
    """The list fee from a parameter's value on the day, traced with the value's citation and confidence."""
    amount, value = param_amount(book, param_id, on, chosen)
    param = book.parameters[param_id]
    if amount is None:
        note = f" ({param.note})" if param.note else ""
        d.reasons.append(f"Regeldata har inget belopp för {param.label} ({param.id}) den {on}{note}.")
        return
    d.list_fee = int(amount)  # (the loader keeps fee parameters in whole kronor)
    d.trace.append(
        _cited_step(
            book,
            param.id,
            f"{param.label}: {sv_number(amount)} kr ({param.period_text(value)})",
            value,
            value.note or param.note,
        )
    )


def _fee(book: RuleBook, row: Row, facts: Any, on: date, chosen: Selection, d: Decision) -> None:
    if row.fee is None:
        return
    if isinstance(row.fee, int):
        d.list_fee = row.fee
        return
    assert isinstance(row.fee, FeeRef)
    if row.fee.param:
        _param_fee(book, row.fee.param, on, chosen, d)
        return
    assert row.fee.table
    sub, result = _first(book, row.fee.table, facts, on, chosen)
    title = book.tables[row.fee.table].title
    if sub is None:
        d.reasons.append(
            f"Tabellen '{title}' har ingen rad som passar kontakten (t.ex. för denna vårdtjänst eller yrkeskategori)."
        )
        return
    if result.value is None:
        d.missing |= set(result.missing)
        d.reasons.append(f"Tabellen '{title}' kräver uppgift om: {_named(result.missing)}.")
        return
    if sub.undetermined:
        d.reasons.append(sub.undetermined)
        d.trace.append(_step(book, sub, f"{title}: {sub.undetermined}"))
        return
    if isinstance(sub.fee, int):
        d.list_fee = sub.fee
        d.trace.append(_step(book, sub, f"{title}: {sub.label or sub.id} → {sub.fee} kr"))
    elif isinstance(sub.fee, FeeRef) and sub.fee.param:
        d.trace.append(_step(book, sub, f"{title}: {sub.label or sub.id}"))
        _param_fee(book, sub.fee.param, on, chosen, d)
    d.trace.extend(_readings(book, row.fee.table, sub, on))


def _points_amount(
    book: RuleBook, value: Decimal | ParamRef, on: date, chosen: Selection, d: Decision
) -> Decimal | None:
    """Contact points given as a number or as a parameter's value on the day (traced, with its citation)."""
    if not isinstance(value, ParamRef):
        return value
    amount, found = param_amount(book, value.param, on, chosen)
    param = book.parameters[value.param]
    if amount is None:
        d.reasons.append(f"Regeldata har inget värde för {param.label} ({param.id}) den {on}.")
        return None
    # Contact points are reimbursement, not the fee: the step does not bear on the fee's confidence.
    d.trace.append(
        Step(
            param.id,
            f"{param.label}: {sv_number(amount)} kontaktpoäng ({param.period_text(found)})",
            book.cite_text(found.cite),
        )
    )
    return Decimal(amount)


def _points(
    book: RuleBook, table_id: str, row: Row, facts: Any, on: date, chosen: Selection, d: Decision
) -> Decimal | None:
    """A row's contact points plus every extra whose condition holds (None if one cannot be told)."""
    assert row.contact_points is not None
    points = _points_amount(book, row.contact_points, on, chosen, d)
    if points is None:
        return None
    for extra in row.points_extra:
        hit = book.conditions[(table_id, extra.id)].evaluate(facts, book.definitions)
        if hit.value is None:
            d.missing |= set(hit.missing)
            return None
        if hit.value:
            more = _points_amount(book, extra.points, on, chosen, d)
            if more is None:
                return None
            points += more
            text = f"{extra.text or 'Tillägg'}: +{sv_number(more)} kontaktpoäng"
            d.trace.append(Step(extra.id, text, book.cite_text(extra.cite)))
    return points


def decide(
    book: RuleBook, contact: Contact, region: Region, service: Service | None, chosen: Selection = frozenset()
) -> Decision:
    """Apply `region`'s rules to one contact: qualification, registration, points and list fee."""
    d = Decision()
    on = contact.date
    rules = book.regions.get(region)
    if rules is None:
        covered = ", ".join(r.value for r in book.regions)
        d.reasons.append(
            f"Regeldata saknar regler för vårdregionen {region.value} ({region.label}); regler finns för: {covered}."
        )
        return d
    if service is not None and service not in rules.services:
        allowed = ", ".join(s.value for s in rules.services)
        d.reasons.append(
            f"Reglerna för {region.label} omfattar inte vårdtjänsten {service.value}; de omfattar: {allowed}."
        )
        return d
    if service is None and rules.service_required:
        d.missing.add("service")
        d.reasons.append(f"Reglerna för {region.label} gäller bara vissa vårdtjänster; ange service.")
        return d
    table_id = book.contacts_table[region]
    rows = book.rows(table_id)
    if not any(in_force(r, on, chosen) for r in rows):
        periods = sorted({r.period_text() for r in rows if r.status == "decided"})
        d.reasons.append(f"Inga regler för {region.label} gäller den {on}; reglerna gäller {', '.join(periods)}.")
        return d

    facts = _facts(contact, region, service, (None, frozenset({"programme.kind"})))
    category = _category(book, contact, facts, on, d)
    d.category = category[0]
    facts = _facts(contact, region, service, category)

    passed: list[Row] = []
    row, result = _first(book, table_id, facts, on, chosen, passed)
    d.trace.extend(_step(book, p, p.text or p.label or p.id) for p in passed)
    if row is None:
        d.reasons.append(
            f"Ingen regel för {region.label} täcker denna kontakt: källan har ingen regel för kontaktformen "
            f"{contact.mode.label if contact.mode else '(ej angiven)'} med de uppgifter som är givna."
        )
        return d
    if result.value is None:
        d.missing |= set(result.missing)
        d.reasons.append(f"Regeln '{row.label or row.id}' kan bara prövas med uppgift om: {_named(result.missing)}.")
        d.trace.append(_step(book, row, f"Prövad men inte avgjord: {row.label or row.id}"))
        return d
    description = row.text or row.label or row.id
    d.trace.append(_step(book, row, f"{description} (regelns giltighet i regeldatan: {row.period_text()})"))
    d.trace.extend(_readings(book, table_id, row, on))
    if row.undetermined:
        d.reasons.append(row.undetermined)
    d.qualified = row.qualified
    d.registration = row.registration
    _fee(book, row, facts, on, chosen, d)
    if row.contact_points is not None:
        d.contact_points = _points(book, table_id, row, facts, on, chosen, d)
    codes = set(contact.kva_codes or [])
    if row.kva_any_code and not codes:
        d.warnings.append(
            f"Registreringen {row.registration or ''} kräver en giltig medicinsk åtgärdskod (KVÅ), men kontakten har inga koder."
        )
    for group in row.kva:
        if not codes & set(group):
            need = " eller ".join(group)
            d.warnings.append(
                f"Registreringen {row.registration or ''} kräver KVÅ-kod {need}, men kontakten har {', '.join(sorted(codes)) or 'inga koder'}."
            )
    for wi, warning in enumerate(row.warnings):
        if isinstance(warning, str):
            d.warnings.append(warning)
        elif (
            book.conditions[(table_id, f"{row.id}@{row.valid_from}#warning{wi}")]
            .evaluate(facts, book.definitions)
            .value
        ):
            d.warnings.append(f"{warning.text} ({book.cite_text(warning.cite)})")
    return d


# --------------------------------------------------------------------------- the patient over time


def period_end(start: date, months: int = 12) -> date:
    """Last day of a high-cost period that starts on `start` (the day before the anniversary)."""
    years, extra = divmod(start.month - 1 + months, 12)
    year, month = start.year + years, extra + 1
    try:
        anniversary = date(year, month, start.day)
    except ValueError:  # 29 Feb (or 31st) without that day: the anniversary is the next day
        anniversary = date(year, month + 1, 1) if month < 12 else date(year + 1, 1, 1)
    return anniversary - timedelta(days=1)


def _year_before(on: date) -> date:
    """The earliest day a 12-month period that still runs on `on` can have begun."""
    try:
        back = on.replace(year=on.year - 1)
    except ValueError:  # 29 February
        back = date(on.year - 1, 3, 1)
    return back + timedelta(days=1)


@dataclass
class Visit:
    """A contact as the patient-level pricing needs it: facts plus where it was given."""

    contact: Contact
    region: Region
    service: Service | None
    age: int | None = None
    """The age at this contact when a register gives it per row; otherwise the patient's age is used."""


UNKNOWN_EARLIER_FEE = (
    "En tidigare kontakts avgift kunde inte avgöras, så det som betalats mot högkostnadstaket är okänt."
)
UNKNOWN_EARLIER_CEILING = "Högkostnadstaket för en tidigare kontakt är okänt, så det som betalats mot taket är okänt."


def no_ceiling(on: date) -> str:
    """Why a fee is undetermined when the rule data has no ceiling for the year."""
    return (
        f"Regeldata saknar högkostnadstak för {on.year}: prisbasbeloppet för {on.year} saknas i national.yaml. "
        "Lagen låter regionen besluta ett lägre tak än formelns, så ingen källa ger en lägsta nivå som taket inte "
        "kan understiga; därför avgörs inte ens en liten avgift förrän taket för året finns i regeldata."
    )


def no_age_rules(region: Region, on: date, age: int | None) -> str:
    """Why a fee is undetermined when the region has no age rules in force on the day."""
    return (
        f"Regeldata saknar åldersregler för {region.label} den {on}; det går inte att avgöra om en "
        f"{age}-åring är avgiftsbefriad (åldersgränsen läggs till i {region.value}/region.yaml)."
    )


DOUBT = 3
"""`Period.unknown` when a frikort held at the start cannot be told (see `_frikort_at_start`)."""


def _unknown_state(code: int, doubt: str | None) -> str:
    """Why a fee is undetermined once the ceiling state is unknown (`Period.unknown`)."""
    if code == EARLIER_FEE:
        return UNKNOWN_EARLIER_FEE
    if code == EARLIER_CEILING:
        return UNKNOWN_EARLIER_CEILING
    assert doubt is not None
    return doubt


@dataclass
class Totals:
    paid: int | None
    frikort_from: date | None
    ceiling: int | None


def exemption(book: RuleBook, region: Region, age: int | None, on: date) -> tuple[bool | None, Step | None, str | None]:
    """Is the patient free of charge by age in the care region on the day? True or False, or None
    when it cannot be told; with the exemption's trace step when it applies, and what is missing
    when it cannot be told ("age", or "exemption" when no age rules of the region are in force).

    Public because the register pricing asks the same question once per region, validity segment
    and age, and must get exactly the engine's answer."""
    if age is None:
        return None, None, "age"
    rules = book.exemptions(region)
    for ex in rules:
        if ex.in_force(on) and ex.covers(age):
            bound = (
                f"under {ex.free_under_age} år"
                if ex.free_under_age is not None
                else f"{ex.free_from_age} år eller äldre"
            )
            return (
                True,
                _cited_step(
                    book, ex.id, f"Avgiftsfritt för patienter {bound}; patienten är {age} år ({ex.period_text()})", ex
                ),
                None,
            )
    regional = [ex for ex in rules if ex.free_under_age is not None]
    if regional and not any(ex.in_force(on) for ex in regional) and age < book.highest_exempt_age():
        return None, None, "exemption"
    return False, None, None


def _frikort_at_start(
    book: RuleBook, patient: Patient, region: Region, start: date, first: date, paid: int, ceiling: int
) -> tuple[bool, str | None]:
    """Does a patient who starts the case with `paid` kr in a running period hold a frikort?

    Clear when the amount reaches today's ceiling, or stays below every ceiling in force since the
    period began. When it reached a lower ceiling that was later raised, only the date of the
    payments would tell; then `patient.frikort` decides, or the answer is left open.
    """
    if patient.frikort is not None:
        return patient.frikort, None
    if paid >= ceiling:
        return True, None
    days = [start] + [date(y, 1, 1) for y in range(start.year + 1, first.year + 1)]
    lowest = min((c.amount for d in days if (c := book.ceiling(region, d)) is not None), default=ceiling)
    if paid >= lowest:
        return False, (
            f"Betalt i perioden ({paid} kr) nådde ett tidigare, lägre tak ({lowest} kr) men inte dagens ({ceiling} kr); "
            "om frikortet utfärdades före höjningen framgår inte. Ange patient.frikort."
        )
    return False, None


def price_contacts(
    book: RuleBook, patient: Patient, visits: Iterable[Visit], chosen: Selection = frozenset()
) -> tuple[list[Outcome], Totals]:
    """Price a patient's contacts in date order: rules, age exemptions, then the 12-month ceiling.

    The period, the running sum, the partial fee and the frikort are `ceiling.ceiling_step`'s, the
    same step the register pricing compiles; here its flags become trace steps. What only a case
    can give (an amount already paid in a running period, its start, a frikort held) sets the
    state before the first contact.
    """
    visits = list(visits)
    outcomes: list[Outcome] = []
    months = book.period_months()
    state = NO_PERIOD
    doubt: str | None = None  # why a frikort held at the start is unknown (`Period.unknown` = DOUBT)
    frikort_from: date | None = None
    last_ceiling: int | None = None
    reached_ceiling: int | None = None
    home = patient.home_region

    if visits and (patient.period_start or patient.paid_in_period):
        begun = patient.period_start or visits[0].contact.date
        state = Period(begun.toordinal(), period_end(begun, months).toordinal(), patient.paid_in_period or 0, False, 0)
    # With `paid_in_period` but no `period_start`, the running period began on some day of the year
    # before the first contact. Only the first contact's day surely lies inside it; a later contact is
    # decided only when the ceiling cannot cut its fee whenever the period began (at most the amount
    # paid before plus every earlier fee has been paid in any period that includes it).
    open_start = visits[0].contact.date if visits and patient.paid_in_period and not patient.period_start else None
    most_paid: int | None = patient.paid_in_period or 0

    first = True
    for visit in visits:
        c = visit.contact
        on = c.date
        d = decide(book, c, visit.region, visit.service, chosen)
        trace = list(d.trace)
        reasons = list(d.reasons)
        missing = set(d.missing)
        if first and state.start >= 0:
            note = (
                ""
                if patient.period_start
                else " (period_start saknas: perioden började senast den dagen; senare kontakter avgörs bara där taket inte kan påverka avgiften)"
            )
            trace.insert(
                0,
                _engine_step(
                    book,
                    "ceiling.period-start",
                    f"Pågående högkostnadsperiod från {date.fromordinal(state.start)}{note}, betalt hittills {sv_number(state.paid)} kr (i alla regioner)",
                ),
            )
        age = visit.age if visit.age is not None else patient.age_on(on)
        exempt, ex_step, ex_missing = exemption(book, visit.region, age, on)
        if ex_step:
            # The exemption bears on the fee only where the list fee is more than nothing.
            trace.append(ex_step if d.list_fee else replace(ex_step, confidence=None))

        # Net fee after exemption.
        net: int | None
        if exempt or d.list_fee == 0:
            net = 0
        elif d.list_fee is None:
            net = None
        elif exempt is None:
            net = None
            if ex_missing == "age":
                missing.add("age")
                reasons.append("Patientens ålder (age eller birth_date) behövs för att pröva åldersbefrielse.")
            else:
                reasons.append(no_age_rules(visit.region, on, age))
        else:
            net = d.list_fee

        ceiling = book.ceiling(visit.region, on)
        if ceiling:
            last_ceiling = ceiling.amount
        day = on.toordinal()
        if first and state.start >= 0 and day <= state.end and ceiling is not None:
            earliest = date.fromordinal(state.start)
            if open_start is not None:  # the period may have begun up to a year before the first contact
                earliest = _year_before(on)
            holds_at_start, doubt = _frikort_at_start(
                book, patient, visit.region, earliest, on, state.paid, ceiling.amount
            )
            state = state._replace(frikort=holds_at_start, unknown=DOUBT if doubt else 0)
            if doubt:
                missing.add("frikort")
        first = False

        # The 12-month period and the ceiling.
        before = state
        paid_fee, state, flags = ceiling_step(
            before,
            day,
            -1 if net is None else net,
            ceiling.amount if ceiling else -1,
            period_end(on, months).toordinal(),
        )
        fee: int | None = None if paid_fee < 0 else paid_fee
        holds: bool | None = None if flags & UNKNOWN else bool(flags & FRIKORT)
        paid_before: int | None = None if flags & UNKNOWN else (0 if flags & ENDED or before.start < 0 else before.paid)
        period_start = None if flags & UNKNOWN or state.start < 0 else date.fromordinal(state.start)
        if flags & ENDED:
            trace.append(
                _engine_step(
                    book,
                    "ceiling.period-end",
                    f"Högkostnadsperioden som började {date.fromordinal(before.start)} tog slut {date.fromordinal(before.end)}",
                )
            )
        if flags & UNKNOWN:
            if fee is None:
                reasons.append(_unknown_state(before.unknown, doubt))
        elif flags & FRIKORT:
            trace.append(
                Step(
                    "ceiling.frikort",
                    f"Patienten har frikort (taket nått {frikort_from or 'före fallets början'}): ingen avgift",
                    book.cite_text(ENGINE_CITES["ceiling.frikort"]),
                    # The ceiling that applies to this contact bears on its fee when the fee would be more than nothing.
                    confidence=(ceiling.confidence if ceiling else of_item(book, None, ENGINE_CITES["ceiling.frikort"]))
                    if net
                    else None,
                    note=ceiling.note if ceiling else None,
                )
            )
        elif flags & NO_CEILING:
            reasons.append(no_ceiling(on))
        elif flags & CAPPED:
            assert ceiling is not None and fee is not None and net is not None
            if flags & STARTED:
                trace.append(
                    _engine_step(
                        book,
                        "ceiling.period-start",
                        f"Första betalda avgiften: högkostnadsperioden löper {on} – {date.fromordinal(state.end)}",
                    )
                )
            trace.append(
                Step(
                    ceiling.rule_id,
                    f"Högkostnadstak {sv_number(ceiling.amount)} kr ({ceiling.text}, {SV[ceiling.confidence]}); "
                    f"betalt före kontakten {sv_number(state.paid - fee)} kr",
                    book.cite_text(ceiling.cite),
                    # The ceiling's amount bears on the fee only when it cuts the fee.
                    confidence=ceiling.confidence if flags & PARTIAL else None,
                    note=ceiling.note,
                )
            )
            if flags & PARTIAL:
                trace.append(
                    _engine_step(
                        book,
                        "ceiling.partial",
                        f"Taket nås: patienten betalar bara {sv_number(fee)} kr av {sv_number(net)} kr",
                    )
                )
            if flags & REACHED:
                frikort_from = on
                reached_ceiling = ceiling.amount
                trace.append(
                    Step(
                        "ceiling.frikort-issued",
                        f"Taket {sv_number(ceiling.amount)} kr är nått {on}: frikort resten av perioden (t.o.m. {date.fromordinal(state.end)})",
                        book.cite_text(ENGINE_CITES["ceiling.frikort-issued"]),
                        note=ceiling.note,
                    )
                )

        if open_start is not None and on > open_start and net and fee is not None:
            cap = ceiling.amount if ceiling else None
            if most_paid is None or cap is None or most_paid + net > cap:
                fee, holds = None, None
                missing.add("period_start")
                reasons.append(
                    f"Det är okänt när den pågående högkostnadsperioden började (period_start saknas). Perioden kan "
                    f"ha tagit slut före {on}, och eftersom taket kan påverka avgiften avgör det vad kontakten kostar."
                )
        if open_start is not None and on > open_start:
            paid_before, period_start = None, None  # (the running period may have ended before this day)
        most_paid = None if most_paid is None or net is None else most_paid + net

        # Jämtland Härjedalen's proposal speaks of invoicing the costs of visits to the home region of
        # patients registered elsewhere: a qualified contact. For other regions it is a reading.
        invoice: bool | None = False
        if home is not None and home != visit.region:
            trace.append(
                _engine_step(
                    book,
                    "care-region.rules",
                    f"Patienten är folkbokförd i {home.label}: avgiften följer vårdregionens ({visit.region.label}) "
                    "regler, och avgiften räknas mot samma högkostnadstak",
                    bears_on_fee=False,
                )
            )
            invoice = d.qualified
            if invoice:
                reading = (
                    ""
                    if visit.region == Region.jamtland_harjedalen
                    else " (antagen: bara Jämtland Härjedalens förslag talar om att fakturera hemregionen; "
                    "för andra regioner är det handbokens läsning av samma princip)"
                )
                trace.append(
                    _engine_step(
                        book,
                        "invoice.home-region",
                        f"Besöket faktureras patientens hemregion ({home.label}){reading}",
                        bears_on_fee=False,
                    )
                )
        if fee is not None:
            trace.append(Step("fee", f"Avgift för kontakten: {fee} kr", ""))
        outcomes.append(
            Outcome(
                date=on,
                region=visit.region,
                fee=fee,
                list_fee=d.list_fee,
                qualified=d.qualified,
                registration=d.registration,
                contact_points=d.contact_points,
                category=d.category,
                invoice_home_region=invoice,
                frikort=holds,
                missing=sorted(missing),
                reasons=reasons,
                warnings=d.warnings,
                trace=trace,
                ceiling=ceiling.amount if ceiling else None,
                paid_before=paid_before,
                period_start=period_start,
            )
        )
    fees = [o.fee for o in outcomes]
    total = sum(f for f in fees if f is not None) if all(f is not None for f in fees) else None
    return outcomes, Totals(paid=total, frikort_from=frikort_from, ceiling=reached_ceiling or last_ceiling)
