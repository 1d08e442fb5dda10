"""The vocabulary of the case contract as validated types.

Everything a case file, a register row or a chapter can say about a patient and a contact is
defined here, once: the enumerations (each value with its Swedish term), the contact facts, the
patient, the case and the expectations. The models reject unknown keys, wrong types, impossible
dates, negative ages and unknown region ids; `errors.describe` turns their complaints into
sentences that name the field, the value and what is allowed.

Facts are what happened (``booked``, ``medical_assessment`` …), never conclusions such as
"qualified" or "fee": those are derived by the rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)


class Term(StrEnum):
    """An enumeration value that also carries its Swedish term (`label`)."""

    label: str

    def __new__(cls, value: str, label: str) -> Term:
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        return obj


class Region(Term):
    """Swedish regions (regioner), by the ids of the case contract."""

    stockholm = ("stockholm", "Region Stockholm")
    uppsala = ("uppsala", "Region Uppsala")
    sormland = ("sormland", "Region Sörmland")
    ostergotland = ("ostergotland", "Region Östergötland")
    jonkoping = ("jonkoping", "Region Jönköpings län")
    kronoberg = ("kronoberg", "Region Kronoberg")
    kalmar = ("kalmar", "Region Kalmar län")
    gotland = ("gotland", "Region Gotland")
    blekinge = ("blekinge", "Region Blekinge")
    skane = ("skane", "Region Skåne")
    halland = ("halland", "Region Halland")
    vgr = ("vgr", "Västra Götalandsregionen")
    varmland = ("varmland", "Region Värmland")
    orebro = ("orebro", "Region Örebro län")
    vastmanland = ("vastmanland", "Region Västmanland")
    dalarna = ("dalarna", "Region Dalarna")
    gavleborg = ("gavleborg", "Region Gävleborg")
    vasternorrland = ("vasternorrland", "Region Västernorrland")
    jamtland_harjedalen = ("jamtland-harjedalen", "Region Jämtland Härjedalen")
    vasterbotten = ("vasterbotten", "Region Västerbotten")
    norrbotten = ("norrbotten", "Region Norrbotten")


class Service(Term):
    """The care service or setting (vårdtjänst) that gives the care."""

    vardval_rehab = ("vardval_rehab", "Vårdval Rehab")
    primary_care = ("primary_care", "primärvård (vårdcentral/hälsocentral)")
    specialist_care = ("specialist_care", "specialistvård")
    child_psychiatry = ("child_psychiatry", "barn- och ungdomspsykiatri (BUP)")
    eating_disorders = ("eating_disorders", "ätstörningsenhet")
    internet_treatment_team = ("internet_treatment_team", "team för internetbehandling")


class Mode(Term):
    """How the contact took place (kontaktform)."""

    physical = ("physical", "fysiskt besök")
    phone = ("phone", "telefon")
    video = ("video", "video (ljud och bild)")
    written = ("written", "skriftlig digital kontakt (chatt, meddelande i plattform; ej brev)")
    letter = ("letter", "fysiskt brev")
    inbox = ("inbox", "meddelande i inkorgen på 1177")
    platform = ("platform", "patientens eget arbete i stöd- och behandlingsplattformen")


class InitiatedBy(Term):
    """Who started the contact (påbörjad av)."""

    patient = ("patient", "patienten")
    provider = ("provider", "vårdgivaren")


class Purpose(Term):
    """What the contact was for (syfte)."""

    care = ("care", "vård (bedömning, behandling)")
    normal_test_result = ("normal_test_result", "besked om normalt provsvar")
    xray_result = ("xray_result", "besked om röntgensvar")
    information = ("information", "information till patienten")
    booking = ("booking", "bokning eller ändring av tid")
    phone_advice = ("phone_advice", "telefonrådgivning")
    self_care_advice = ("self_care_advice", "enkla egenvårdsråd")
    triage = ("triage", "triagering")
    administrative = ("administrative", "administrativt ärende")


class VisitForm(Term):
    """Individual, team or group (besöksform)."""

    individual = ("individual", "enskilt")
    team = ("team", "team")
    group_education = ("group_education", "patientutbildning i grupp")
    group_treatment = ("group_treatment", "gruppbaserad behandling")


class Staff(Term):
    """Whether the staff member is licensed (legitimerad)."""

    licensed = ("licensed", "legitimerad personal")
    unlicensed = ("unlicensed", "ej legitimerad personal")


class Profession(Term):
    """Profession of the staff member (yrkeskategori)."""

    doctor = ("doctor", "läkare")
    nurse = ("nurse", "sjuksköterska")
    assistant_nurse = ("assistant_nurse", "undersköterska")
    physiotherapist = ("physiotherapist", "fysioterapeut")
    occupational_therapist = ("occupational_therapist", "arbetsterapeut")
    psychologist = ("psychologist", "psykolog")
    counsellor = ("counsellor", "kurator")
    dietitian = ("dietitian", "dietist")
    other = ("other", "annan yrkeskategori")


class ProgrammeKind(Term):
    """The three categories of internet-based programmes (Västerbotten report, appendix)."""

    self_help = ("self_help", "självhjälp/egenvård")
    support = ("support", "stöd (bedömd egenvård)")
    treatment = ("treatment", "behandling")


class ProgrammeEvent(Term):
    """What happened in a programme on the platform (programhändelse)."""

    first_visit = ("first_visit", "första bokade besöket (bedömning)")
    module_completed = ("module_completed", "genomförd modul/avsnitt")
    weekly_checkin = ("weekly_checkin", "skriftlig veckoavstämning")
    therapist_followup = ("therapist_followup", "bokad uppföljning initierad av behandlaren")
    last_visit = ("last_visit", "sista bokade besöket (uppföljning)")


# --------------------------------------------------------------------------- facts


FACT_TERMS: dict[str, str] = {
    "date": "kontaktdatum",
    "mode": "kontaktform",
    "booked": "bokad / överenskommen tid i förväg",
    "initiated_by": "påbörjad av",
    "realtime": "dialog i realtid",
    "medical_assessment": "medicinsk bedömning gjord",
    "resolved_by_booking_or_referral": "ärendet åtgärdas genom bokning eller hänvisning",
    "fee_info_given": "patienten informerad i förväg om avgiften",
    "purpose": "syfte",
    "changed_character": "bokad kontakt som ändrade karaktär till att motsvara ett besök",
    "via_proxy": "kontakt via ombud (anhörig, hemsjukvård)",
    "visit_form": "besöksform",
    "staff": "legitimerad personal",
    "profession": "yrkeskategori",
    "referral": "besök med remiss",
    "neuro_team": "tilläggsuppdrag neurovårdsteam",
    "kva_codes": "KVÅ-koder",
    "aid_prescription": "förskrivning av hjälpmedel",
    "programme": "program i stöd- och behandlingsplattformen",
    "programme_event": "programhändelse",
    "programme.kind": "programmets kategori",
    "programme.ordered_by_licensed": "ordinerat av legitimerad personal",
    "programme.approved_by_region": "godkänt i regionens process för internetbehandlingar",
    "programme.therapist_support": "stöd av behandlare ingår",
    "programme.login_1177": "inloggning via 1177",
    "service": "vårdtjänst",
    "region": "vårdregion",
    "category": "programmets kategori (härledd)",
    "age": "ålder",
    "birth_date": "födelsedatum",
    "home_region": "hemregion",
    "frikort": "patienten har redan frikort när fallet börjar",
}
"""Swedish term for every fact key a rule or case can name (used by the glossary and traces)."""

OUTCOME_TERMS: dict[str, tuple[str, str]] = {
    "fee": ("avgift", "det patienten betalar för kontakten, i kronor, efter åldersbefrielse och högkostnadsskydd"),
    "list_fee": ("avgift enligt taxa", "avgiften innan åldersbefrielse och högkostnadsskydd räknats in"),
    "qualified": ("kvalificerad vårdkontakt", "kontakten ersätter ett fysiskt besök"),
    "registration": ("registrering", "hur kontakten registreras, till exempel BR+ZV051, TB eller Notat"),
    "contact_points": ("kontaktpoäng", "ersättningspoäng i VGR:s Vårdval Rehab"),
    "category": ("programkategori", "självhjälp, stöd eller behandling för en programkontakt"),
    "invoice_home_region": ("fakturera hemregionen", "vården ska faktureras patientens hemregion"),
    "frikort": ("frikort", "patienten har nått högkostnadstaket och betalar inget mer under perioden"),
    "undetermined": ("ej avgjort", "reglerna avgör inte avgiften; skälet eller den saknade uppgiften anges"),
    "error": ("fel i indata", "fallet eller kontakten är ogiltig och räknas inte"),
    "paid": ("summa betalt", "summan av avgifterna i fallet"),
    "frikort_from": ("frikort från", "dagen då högkostnadstaket nåddes"),
    "ceiling": ("högkostnadstak", "det takbelopp som gällde för perioden"),
}
"""Swedish term and meaning of every outcome key of the case contract (for the glossary)."""

FACT_TYPES: dict[str, type[Term] | type[bool]] = {
    "mode": Mode,
    "booked": bool,
    "initiated_by": InitiatedBy,
    "realtime": bool,
    "medical_assessment": bool,
    "resolved_by_booking_or_referral": bool,
    "fee_info_given": bool,
    "purpose": Purpose,
    "changed_character": bool,
    "via_proxy": bool,
    "visit_form": VisitForm,
    "staff": Staff,
    "profession": Profession,
    "referral": bool,
    "neuro_team": bool,
    "aid_prescription": bool,
    "programme_event": ProgrammeEvent,
    "programme.kind": ProgrammeKind,
    "programme.ordered_by_licensed": bool,
    "programme.approved_by_region": bool,
    "programme.therapist_support": bool,
    "programme.login_1177": bool,
    "service": Service,
    "region": Region,
    "category": ProgrammeKind,
}
"""The value type of every fact a rule condition may test."""


def parse_date(value: Any) -> Any:
    """A date from YYYY-MM-DD text (a date is passed through), or a ValueError worded in Swedish.

    What every date field of the models runs; the register pricing checks its date cells with it so
    that it accepts and rejects exactly what the models do."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError(f"'{value}' är inget datum; skriv datum som ÅÅÅÅ-MM-DD, t.ex. 2026-02-10")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' är inget verkligt datum (dagen eller månaden finns inte)") from None


IsoDate = Annotated[date, BeforeValidator(parse_date)]
Flag = Annotated[bool, Strict()]
Whole = Annotated[int, Strict()]


def within(low: int, high: int, unit: str) -> AfterValidator:
    """A check that a number lies from `low` to `high` (both included); the message states the range."""

    def check(value: Any) -> Any:
        if not low <= value <= high:
            span = f"{low}–{high:,} {unit}".replace(",", " ").rstrip()
            raise ValueError(f"{value} ligger utanför det tillåtna intervallet {span}")
        return value

    return AfterValidator(check)


Age = Annotated[int, Strict(), within(0, 130, "år")]
"""An age in whole years."""
Kronor = Annotated[int, Strict(), within(0, 100_000, "kr")]
"""A fee or an amount toward the ceiling, in whole kronor."""
KVA_CODE = re.compile(r"^[A-Z]{2}[0-9]{3}$")
CASE_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Contact facts keyed as the register's columns (``programme.kind`` …) as `Contact` takes them:
    the programme's keys gathered into one `programme` mapping, given only when one of them is."""
    data: dict[str, Any] = {}
    programme: dict[str, Any] = {}
    for key, value in flat.items():
        if key.startswith("programme."):
            programme[key.split(".", 1)[1]] = value
        else:
            data[key] = value
    if programme:
        data["programme"] = programme
    return data


def contradictions(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for every contact fact that contradicts another one given with it.

    Used by the case and register models alike (`Contact`), and by the batch pricing on each
    distinct combination of facts, so every path rejects the same contacts for the same reason.
    """
    mode = facts.get("mode")
    found: list[tuple[str, str]] = []
    if mode == Mode.physical and facts.get("realtime") is False:
        found.append(("realtime", "ett fysiskt besök sker alltid i realtid; realtime: false motsäger mode: physical"))
    if mode == Mode.letter and facts.get("programme_event") is not None:
        found.append(
            (
                "programme_event",
                "ett fysiskt brev (mode: letter) är ingen programhändelse; ta bort programme_event "
                "eller ange kontaktformen för programmet",
            )
        )
    if facts.get("changed_character") is True and facts.get("booked") is False:
        found.append(
            (
                "changed_character",
                "bara en bokad kontakt kan ändra karaktär; changed_character: true motsäger booked: false",
            )
        )
    if mode in (Mode.letter, Mode.platform) and facts.get("kva_codes"):
        found.append(
            (
                "kva_codes",
                f"kontaktformen {mode.value} ({mode.label}) registreras inte med KVÅ-koder; ta bort kva_codes",
            )
        )
    return found


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Programme(_Strict):
    """The internet-based programme a contact belongs to (program i plattformen)."""

    kind: ProgrammeKind | None = None
    ordered_by_licensed: Flag | None = None
    approved_by_region: Flag | None = None
    therapist_support: Flag | None = None
    login_1177: Flag | None = None


class Expect(_Strict):
    """What a case says the rules must conclude about one contact; only given keys are checked."""

    fee: Kronor | None = None
    list_fee: Kronor | None = None
    qualified: Flag | None = None
    registration: str | None = None
    contact_points: Annotated[float, within(0, 100, "poäng")] | None = None
    category: ProgrammeKind | None = None
    invoice_home_region: Flag | None = None
    frikort: Flag | None = None
    undetermined: Flag | list[str] | None = None
    error: str | None = None
    warning: str | None = None
    confidence: Literal["verified", "derived", "inferred", "unverified"] | None = None


class ExpectTotal(_Strict):
    """Expectations over the whole case."""

    paid: Annotated[int, Strict(), within(0, 10_000_000, "kr")] | None = None
    frikort_from: IsoDate | None = None
    ceiling: Kronor | None = None
    error: str | None = None


class Contact(_Strict):
    """One contact (vårdkontakt): the facts of what happened, and optionally what to expect."""

    date: IsoDate
    mode: Mode | None = None
    booked: Flag | None = None
    initiated_by: InitiatedBy | None = None
    realtime: Flag | None = None
    medical_assessment: Flag | None = None
    resolved_by_booking_or_referral: Flag | None = None
    fee_info_given: Flag | None = None
    purpose: Purpose = Purpose.care
    changed_character: Flag = False
    via_proxy: Flag = False
    visit_form: VisitForm | None = None
    staff: Staff | None = None
    profession: Profession | None = None
    referral: Flag = False
    neuro_team: Flag = False
    kva_codes: list[str] | None = None
    aid_prescription: Flag = False
    programme: Programme | None = None
    programme_event: ProgrammeEvent | None = None
    # Extensions to the contract: a contact may be given in another region or service than the
    # case's (e.g. to follow one high-cost period across regions), and may carry a note.
    region: Region | None = None
    service: Service | None = None
    note: str | None = None
    expect: Expect | None = None

    @field_validator("kva_codes")
    @classmethod
    def _kva(cls, codes: list[str] | None) -> list[str] | None:
        for code in codes or []:
            if not isinstance(code, str) or not KVA_CODE.match(code):
                raise ValueError(f"'{code}' är ingen KVÅ-kod; en kod är två versaler och tre siffror, t.ex. ZV051")
        return codes

    @field_validator("realtime", "changed_character", "kva_codes", "programme_event")
    @classmethod
    def _agrees(cls, value: Any, info: ValidationInfo) -> Any:
        for key, message in contradictions({**info.data, info.field_name or "": value}):
            if key == info.field_name:
                raise ValueError(message)
        return value

    def fact(self, key: str) -> Any:
        """The value of a fact key (``programme.kind`` reaches into the programme), or None."""
        if key.startswith("programme."):
            return getattr(self.programme, key.split(".", 1)[1]) if self.programme else None
        return getattr(self, key)


class Patient(_Strict):
    """The patient: an age or a birth date, the home region and the high-cost period so far."""

    age: Age | None = None
    birth_date: IsoDate | None = None
    home_region: Region | None = None
    paid_in_period: Kronor | None = None
    period_start: IsoDate | None = None
    # Extension: whether the patient already holds a frikort when the case starts (needed only when
    # paid_in_period reached a ceiling that was later raised, which the amount alone cannot tell).
    frikort: Flag | None = None

    @model_validator(mode="after")
    def _one_age(self) -> Patient:
        if self.age is not None and self.birth_date is not None:
            raise ValueError("ange antingen age eller birth_date, inte båda")
        return self

    def age_on(self, day: date) -> int | None:
        """Age in completed years on `day` (a 29 February birthday falls on 1 March in other years)."""
        if self.age is not None:
            return self.age
        if self.birth_date is None:
            return None
        born = self.birth_date
        years = day.year - born.year
        if (day.month, day.day) < (born.month, born.day):
            years -= 1
        return years


ProposalChoice = Literal["none", "all"] | list[str]


class Case(_Strict):
    """A worked case: one patient, their contacts in date order, and the expected conclusions."""

    id: str
    title: str | None = None
    source: str | None = None
    region: Region
    service: Service | None = None
    patient: Patient = Patient()
    contacts: Annotated[list[Contact], Field(min_length=1)]
    expect_total: ExpectTotal | None = None
    proposals: ProposalChoice = "none"
    # Extensions: statement ids of the source register that the case tests, and a free note.
    cites: list[str] = []
    notes: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not CASE_ID.match(value):
            raise ValueError(
                f"'{value}' är inget giltigt fall-id; använd gemener, siffror och bindestreck, "
                "t.ex. vgr-rehab-phone-replaces-visit"
            )
        return value

    def problems(self) -> list[tuple[tuple[int | str, ...], str]]:
        """Problems that involve several fields (date order, birth date, period start), as (field path, message).

        They are checked here rather than by the model so that each can point at the field (and so
        the line) where the reader has to look.
        """
        found: list[tuple[tuple[int | str, ...], str]] = []
        for i in range(1, len(self.contacts)):
            if self.contacts[i].date < self.contacts[i - 1].date:
                found.append(
                    (
                        ("contacts", i, "date"),
                        f"kontakterna ska stå i datumordning: kontakt {i + 1} ({self.contacts[i].date}) "
                        f"ligger före kontakt {i} ({self.contacts[i - 1].date})",
                    )
                )
        first = self.contacts[0].date
        if self.patient.birth_date and self.patient.birth_date > first:
            found.append(
                (
                    ("patient", "birth_date"),
                    f"födelsedatumet {self.patient.birth_date} ligger efter den första kontakten ({first})",
                )
            )
        if self.patient.period_start and self.patient.period_start > first:
            found.append(
                (
                    ("patient", "period_start"),
                    f"periodens början {self.patient.period_start} ligger efter den första kontakten ({first}); "
                    "perioden måste redan pågå när fallet börjar",
                )
            )
        return found

    def contact_region(self, contact: Contact) -> Region:
        """The region whose rules apply to a contact (the contact's own, else the case's)."""
        return contact.region or self.region

    def contact_service(self, contact: Contact) -> Service | None:
        """The service of a contact (the contact's own, else the case's)."""
        return contact.service or self.service
