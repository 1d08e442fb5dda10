"""Rule data: the source register, the dated and cited rules, and their strict loader.

The folder ``rules/`` (inside the package, or another folder given to `load_rules`) holds:

* ``sources.yaml`` – the source register: each document (issuer, title, version, dates, URL)
  and its statements that bear on a fee, a registration or a reimbursement, each with an id, the
  section and a one-line paraphrase. Rules and cases cite statement ids.
* ``national.yaml`` – rules that hold in every region: the 85+ exemption and the high-cost
  ceiling (högkostnadsskydd): prisbasbelopp per year, the 0.025 × pbb rule and regional dates.
* ``<region>/region.yaml`` – the services a region's rules cover and its age exemptions.
* ``<region>/*.yaml`` – tables: ordered rows, each with a condition (`when`), an outcome (fee,
  qualified, registration, contact points …), a validity period, a status and a citation.

Validity runs from ``valid_from`` up to and including ``valid_to`` (open-ended when absent).
Status ``decided`` applies by default; ``proposed`` only when a case or simulation asks for the
proposal; ``alternative`` (fee models a report discusses) only when asked for by id.
"""

from __future__ import annotations

import difflib
import itertools
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from .conditions import Condition, ConditionError, compile_condition, refs
from .confidence import Confidence, of_item
from .errors import Problem, RuleDataError, describe, field_path, null_problems
from .model import Age, IsoDate, Kronor, ProgrammeKind, Region, Service, within
from .yamlio import LineDict, YamlProblem, line_of, load_file

PACKAGE_RULES = Path(__file__).parent / "rules"

Status = Literal["decided", "proposed", "alternative"]
BearsOn = Literal[
    "fee",
    "registration",
    "reimbursement",
    "ceiling",
    "exemption",
    "scope",
    "category",
    "invoicing",
    "statistics",
    "context",
]
Amount = Kronor
Points = Annotated[Decimal, within(0, 100, "poäng")]


def _fraction(value: Decimal) -> Decimal:
    if not 0 < value < 1:
        raise ValueError(f"{value} är inte tillåtet: faktorn ska vara större än 0 och mindre än 1")
    return value


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- source register


class Statement(_Data):
    """One statement of a source document that bears on fees, registration or reimbursement."""

    id: str
    section: str
    text: str = Field(description="one-line paraphrase in Swedish, in our own words")
    bears_on: list[BearsOn] = Field(min_length=1)
    not_modelled: str | None = None
    confidence: Confidence | None = None
    primary: str | None = Field(default=None, description="the primary source a reference statement rests on")
    url: str | None = None
    figures: dict[str, int | str] | None = None


class Document(_Data):
    """A source document (källdokument)."""

    id: str
    issuer: str
    title: str
    kind: str
    version: str | None = None
    date: IsoDate | None = None
    valid_from: IsoDate | None = None
    valid_to: IsoDate | None = None
    status: str
    url: str | None = None
    note: str | None = None
    statements: list[Statement] = Field(min_length=1)

    def label(self) -> str:
        """Short citation label: issuer, title and version."""
        version = f", version {self.version}" if self.version else ""
        return f"{self.title} ({self.issuer}{version})"


class Reviewed(_Data):
    """Who last checked a rule file against its sources, and when: `check` warns when the next
    review is due, and the book lists the files to review."""

    last_reviewed: IsoDate
    reviewer: str = Field(min_length=1, description="the role that reviewed the file, e.g. avgiftssamordnare")
    review_every_months: Annotated[int, Strict(), within(1, 60, "månader")] = 12

    def review_due(self) -> date:
        """The day the next review is due."""
        months = self.last_reviewed.month - 1 + self.review_every_months
        year, month = self.last_reviewed.year + months // 12, months % 12 + 1
        day = min(self.last_reviewed.day, 28)
        return date(year, month, day)


class SourcesFile(Reviewed):
    documents: list[Document] = Field(min_length=1)


# --------------------------------------------------------------------------- dated rule parts


class Dated(_Data):
    """Validity period, status and citation shared by every rule value."""

    valid_from: IsoDate
    valid_to: IsoDate | None = None
    status: Status = "decided"
    proposal: str | None = None
    confidence: Confidence | None = None
    note: str | None = None
    cite: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _dates(self) -> Dated:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"valid_to {self.valid_to} ligger före valid_from {self.valid_from}")
        if self.status == "decided" and self.proposal:
            raise ValueError(
                "en beslutad regel kan inte ange ett förslag; sätt status: proposed eller ta bort 'proposal'"
            )
        if self.status != "decided" and not self.proposal:
            raise ValueError(f"en regel med status {self.status} måste ange förslagets id i 'proposal'")
        return self

    def in_force(self, on: date) -> bool:
        """True when `on` lies within the validity period."""
        return self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)

    def period_text(self) -> str:
        """The validity period in Swedish."""
        end = f" t.o.m. {self.valid_to}" if self.valid_to else ""
        return f"fr.o.m. {self.valid_from}{end}"


class FeeRef(_Data):
    """A fee taken from a parameter or a lookup table instead of a literal amount."""

    param: str | None = None
    table: str | None = None

    @model_validator(mode="after")
    def _one(self) -> FeeRef:
        if (self.param is None) == (self.table is None):
            raise ValueError("en avgiftshänvisning ska ange exakt en av 'param' och 'table'")
        return self


class ParamRef(_Data):
    """An amount taken from a named parameter (its value on the contact's day)."""

    param: str


class PointsExtra(_Data):
    """Extra contact points added when a condition holds (e.g. the neuro team's +1.0)."""

    id: str
    when: Any
    points: Points | ParamRef
    text: str | None = None
    cite: list[str] = Field(min_length=1)


class RowWarning(_Data):
    """A warning shown with a row's outcome when its condition holds (e.g. a practice that differs from the rule)."""

    when: Any
    text: str
    cite: list[str] = Field(min_length=1)


class Row(Dated):
    """One row of a rule table: when it applies and what it concludes."""

    id: str
    label: str | None = None
    text: str | None = None
    when: Any = None
    fee: Amount | FeeRef | None = None
    qualified: bool | None = None
    registration: str | None = None
    contact_points: Points | ParamRef | None = None
    points_extra: list[PointsExtra] = []
    kva: list[list[str]] = []
    kva_any_code: bool = False
    warnings: list[str | RowWarning] = []
    undetermined: str | None = None
    category: ProgrammeKind | None = None
    columns: dict[str, str] = {}
    trace_only: bool = Field(
        default=False,
        description="the row concludes nothing: when it holds it is named in the trace and the search goes on",
    )


class ParamValue(Dated):
    """One dated value of a parameter: a change of amount from a date is one such line."""

    amount: Amount | Points


class Parameter(_Data):
    """A named amount with dated values (e.g. Region Jämtland Härjedalen's unit fee, or a row's
    contact points). Rows refer to it (`fee: {param: …}`), so a new amount from a date is one new
    dated value here and nothing else changes.

    As in OpenFisca's parameters, a decided value holds from its `valid_from` until the day before
    the next decided value begins, unless it gives its own `valid_to`: a change of amount from a
    date is one added line. Proposed values hold for their own period, when their proposal is chosen.
    """

    id: str
    label: str
    unit: Literal["kr", "kontaktpoäng"] = "kr"
    note: str | None = None
    values: list[ParamValue] = []

    @model_validator(mode="after")
    def _amounts_fit_the_unit(self) -> Parameter:
        for value in self.values:
            if self.unit == "kr" and not isinstance(value.amount, int):
                raise ValueError(f"beloppet {value.amount} ska vara hela kronor (unit: kr)")
            if self.unit == "kontaktpoäng" and not 0 <= value.amount <= 100:
                raise ValueError(f"{value.amount} kontaktpoäng ligger utanför det tillåtna intervallet 0–100")
        return self

    def decided(self) -> list[ParamValue]:
        """The decided values, earliest first."""
        return sorted((v for v in self.values if v.status == "decided"), key=lambda v: v.valid_from)

    def last_day(self, value: ParamValue) -> date | None:
        """The last day a value holds: its own `valid_to`, or the day before the next decided value."""
        if value.valid_to is not None or value.status != "decided":
            return value.valid_to
        later = [v.valid_from for v in self.decided() if v.valid_from > value.valid_from]
        return min(later) - timedelta(days=1) if later else None

    def holds(self, value: ParamValue, on: date) -> bool:
        """True when `value` is the parameter's value on `on` (for its proposal, if it is one)."""
        end = self.last_day(value)
        return value.valid_from <= on and (end is None or on <= end)

    def period_text(self, value: ParamValue) -> str:
        """A value's period in Swedish, with the end that the next value gives it."""
        end = self.last_day(value)
        return f"fr.o.m. {value.valid_from}" + (f" t.o.m. {end}" if end else "")


class Reading(Dated):
    """A reading the handbook makes of a whole table for a period (e.g. applying a later version back
    to an earlier date). It carries its own confidence and is named in the trace of every row it covers."""

    id: str
    text: str
    rows: list[str] = Field(default=[], description="the ids of the rows it covers; empty means every row")
    confidence: Confidence


class TableFile(Reviewed):
    """A rule table file."""

    id: str
    kind: Literal["contacts", "lookup", "categories"]
    region: Region | None = None
    title: str
    text: str | None = None
    columns: dict[str, str] = {}
    definitions: dict[str, Any] = {}
    parameters: list[Parameter] = []
    readings: list[Reading] = []
    rows: list[Row] = Field(min_length=1)


class Exemption(Dated):
    """An age exemption: free below an age (regional) or from an age (national 85+)."""

    id: str
    free_under_age: Age | None = None
    free_from_age: Age | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Exemption:
        if (self.free_under_age is None) == (self.free_from_age is None):
            raise ValueError("en åldersbefrielse ska ange exakt en av free_under_age och free_from_age")
        return self

    def covers(self, age: int) -> bool:
        """True when a patient of `age` is exempt under this rule."""
        if self.free_under_age is not None:
            return age < self.free_under_age
        assert self.free_from_age is not None
        return age >= self.free_from_age


class RegionFile(Reviewed):
    region: Region
    title: str
    services: list[Service] = Field(min_length=1)
    service_required: bool = False
    exemptions: list[Exemption] = []


class PrisBasBelopp(_Data):
    """The prisbasbelopp of one calendar year (its validity is that year, 1 January–31 December)."""

    year: Annotated[int, Strict(), within(1900, 2200, "")]
    amount: Annotated[int, Strict(), within(1, 1_000_000, "kr")]
    status: Literal["decided"] = "decided"
    confidence: Confidence | None = None
    cite: list[str] = Field(min_length=1)


class CeilingRule(Dated):
    """The ceiling is `factor` × prisbasbelopp, rounded down to a multiple of `round_down_to`."""

    id: str
    factor: Annotated[Decimal, AfterValidator(_fraction)]
    round_down_to: Annotated[int, Strict(), within(1, 10_000, "kr")]
    period_months: Annotated[int, Strict(), within(1, 120, "månader")] = 12
    text: str | None = None


class RegionalCeiling(Dated):
    """A region's own ceiling for a period (a later effective date or a lower amount)."""

    id: str
    region: Region
    amount: Amount


class DocumentedCeiling(_Data):
    """A ceiling amount that a source states for a year (the formula's result is only derived without one)."""

    year: Annotated[int, Field(ge=1900, le=2200, strict=True)]
    amount: Amount
    confidence: Confidence | None = None
    cite: list[str] = Field(min_length=1)


class Ceiling(_Data):
    rule: CeilingRule
    prisbasbelopp: list[PrisBasBelopp] = Field(min_length=1)
    documented: list[DocumentedCeiling] = []
    derived_cite: list[str] = []
    regional: list[RegionalCeiling] = []


class NationalFile(Reviewed):
    exemptions: list[Exemption] = []
    ceiling: Ceiling


# --------------------------------------------------------------------------- the rule book


@dataclass
class CeilingAmount:
    """The ceiling on a day, with where it came from."""

    amount: int
    rule_id: str
    cite: list[str]
    text: str
    confidence: Confidence = "verified"
    note: str | None = None


@dataclass
class RuleBook:
    """All rule data, validated and indexed. Built by `load_rules`."""

    root: Path
    documents: dict[str, Document] = field(default_factory=dict)
    statements: dict[str, tuple[Document, Statement]] = field(default_factory=dict)
    tables: dict[str, TableFile] = field(default_factory=dict)
    table_files: dict[str, Path] = field(default_factory=dict)
    regions: dict[Region, RegionFile] = field(default_factory=dict)
    contacts_table: dict[Region, str] = field(default_factory=dict)
    parameters: dict[str, Parameter] = field(default_factory=dict)
    definitions: dict[str, Condition] = field(default_factory=dict)
    conditions: dict[tuple[str, str], Condition] = field(default_factory=dict)
    national: NationalFile | None = None
    proposals: dict[str, Status] = field(default_factory=dict)
    reviews: dict[Path, Reviewed] = field(default_factory=dict)
    """Every rule file with who last reviewed it, and when."""

    # -- lookups ---------------------------------------------------------------------------

    def rows(self, table_id: str) -> list[Row]:
        """Every row of a table, in order."""
        return self.tables[table_id].rows

    def when(self, table_id: str, row: Row) -> Condition:
        """The compiled condition of a row."""
        return self.conditions[(table_id, row.id + "@" + str(row.valid_from))]

    def cite_text(self, ids: Iterable[str]) -> str:
        """Render statement ids as a Swedish citation: document, section."""
        by_doc: dict[str, list[str]] = {}
        for sid in ids:
            doc, st = self.statements[sid]
            primary = f" (primärkälla: {st.primary})" if st.primary else ""
            by_doc.setdefault(doc.id, []).append(f"{st.section} [{sid}]{primary}")
        return " | ".join(f"{self.documents[d].label()}: {'; '.join(parts)}" for d, parts in by_doc.items())

    def exemptions(self, region: Region) -> list[Exemption]:
        """National exemptions first, then the region's own."""
        national = self.national.exemptions if self.national else []
        own = self.regions[region].exemptions if region in self.regions else []
        return [*national, *own]

    def ceiling(self, region: Region, on: date) -> CeilingAmount | None:
        """The high-cost ceiling in force in `region` on `on`, or None when the data has none."""
        assert self.national is not None
        ceiling = self.national.ceiling
        for own in ceiling.regional:
            if own.region == region and own.in_force(on):
                return CeilingAmount(
                    own.amount,
                    own.id,
                    own.cite,
                    own.note or "regionens eget belopp",
                    of_item(self, own.confidence, own.cite),
                    own.note,
                )
        if not ceiling.rule.in_force(on):
            return None
        for pbb in ceiling.prisbasbelopp:
            if pbb.year == on.year:
                raw = ceiling.rule.factor * pbb.amount
                step = ceiling.rule.round_down_to
                amount = int(raw // step) * step
                text = (
                    f"{sv_number(ceiling.rule.factor)} × prisbasbeloppet {sv_number(pbb.amount)} kr för {pbb.year} "
                    f"= {sv_number(raw)} kr, avrundat nedåt till närmaste {step}-tal kronor"
                )
                documented = next((d for d in ceiling.documented if d.year == on.year and d.amount == amount), None)
                if documented is not None:
                    cite = [*ceiling.rule.cite, *pbb.cite, *documented.cite]
                    # A stated amount is as sure as its source, whatever the formula's inputs are.
                    level = of_item(self, documented.confidence, documented.cite)
                    return CeilingAmount(amount, ceiling.rule.id, cite, text, level)
                cite = [*ceiling.rule.cite, *pbb.cite, *ceiling.derived_cite]
                note = (
                    f"Ingen källa anger taket för {pbb.year}; beloppet är uträknat ur lagens formel och "
                    "prisbasbeloppet, och regionen kan ha beslutat ett lägre belopp eller ett senare datum."
                )
                return CeilingAmount(amount, ceiling.rule.id, cite, text, "derived", note)
        return None

    def period_months(self) -> int:
        assert self.national is not None
        return self.national.ceiling.rule.period_months

    def highest_exempt_age(self) -> int:
        """The highest `free_under_age` anywhere in the data (to know when a missing exemption matters)."""
        ages = [e.free_under_age for r in self.regions.values() for e in r.exemptions if e.free_under_age]
        return max(ages, default=0)


def sv_number(value: Decimal | int) -> str:
    """A number the Swedish way: space between thousands, comma as decimal sign (1 432,5)."""
    number = Decimal(value).normalize()
    whole, _, frac = f"{number:f}".partition(".")
    sign = "-" if whole.startswith("-") else ""
    digits = whole.lstrip("-")
    groups: list[str] = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    text = sign + "\u00a0".join(groups or ["0"])
    return f"{text},{frac}" if frac else text


def _overlaps(
    items: Sequence[tuple[Dated, tuple[int | str, ...]]],
) -> Iterator[tuple[Dated, Dated, tuple[int | str, ...]]]:
    ordered = sorted(items, key=lambda it: it[0].valid_from)
    for (a, _), (b, loc_b) in itertools.pairwise(ordered):
        if a.valid_to is None or a.valid_to >= b.valid_from:
            yield a, b, loc_b


def _gaps(
    items: Sequence[tuple[Dated, tuple[int | str, ...]]],
) -> Iterator[tuple[Dated, Dated, tuple[int | str, ...]]]:
    """Consecutive versions with days between them (an edit that ended the old one too early)."""
    ordered = sorted(items, key=lambda it: it[0].valid_from)
    for (a, _), (b, loc_b) in itertools.pairwise(ordered):
        if a.valid_to is not None and a.valid_to + timedelta(days=1) < b.valid_from:
            yield a, b, loc_b


def _gap_text(what: str, a: Dated, b: Dated) -> str:
    assert a.valid_to is not None
    first, last = a.valid_to + timedelta(days=1), b.valid_from - timedelta(days=1)
    return (
        f"lucka i {what}: den tidigare versionen slutar {a.valid_to} och nästa börjar {b.valid_from}, så "
        f"{first} – {last} har ingen version; låt den nya gälla från {first} eller den gamla till {last}"
    )


KRONOR_IN_TEXT = re.compile(r"(\d{1,3}(?:[ \u00a0]\d{3})*|\d+)\s*kr(?:onor)?\b")


def _amounts_in(text: str) -> set[int]:
    """The amounts in kronor that a paraphrase states ("160 kr", "1 450 kronor")."""
    return {int(re.sub(r"\D", "", m)) for m in KRONOR_IN_TEXT.findall(text)}


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: Path, data: Any, loc: tuple[int | str, ...], message: str) -> None:
        self.problems.append(Problem(str(path), line_of(data, loc), field_path(loc), message))


HOLDS = {
    "sources.yaml": "källregistret: dokumenten (documents) och deras påståenden (statements)",
    "national.yaml": "högkostnadsskyddet (ceiling) och de nationella åldersbefrielserna (exemptions)",
    "region.yaml": "regionens id (region), titel (title) och de tjänster reglerna gäller (services)",
    "categories.yaml": "tabellen som delar in program i självhjälp, stöd och behandling (kind: categories)",
}
"""What each rule file the engine needs must hold (said when it is missing or empty)."""
TABLE_HOLDS = "en regeltabell: id, kind, title och rows"


def _read(path: Path, problems: _Collector, holds: str) -> Any:
    """A rule file's YAML tree, or None (with the problem noted) when it is missing, unreadable or empty."""
    if not path.is_file():
        problems.problems.append(Problem(str(path), None, "", f"filen saknas; den ska innehålla {holds}"))
        return None
    try:
        data = load_file(path)
    except YamlProblem as exc:
        problems.problems.append(Problem(exc.path, exc.line, "", exc.message))
        return None
    if data is None:
        problems.problems.append(Problem(str(path), None, "", f"filen är tom; den ska innehålla {holds}"))
        return None
    if not isinstance(data, LineDict):
        where = getattr(data, "line", None) or 1  # (a bare value: the file holds nothing but it)
        message = f"filen ska vara ett block av nycklar och värden med {holds}"
        problems.problems.append(Problem(str(path), where, "", message))
        return None
    return data


def _model(cls: type[BaseModel], data: Any, path: Path, problems: _Collector) -> Any:
    """The validated model, or None with every problem noted (one message per problem)."""
    found = null_problems(data, str(path), allowed=frozenset({"valid_to"}))
    nulls = {p.field for p in found}
    try:
        model = cls.model_validate(data)
    except ValidationError as exc:
        model = None
        for p in describe(exc, data, str(path), model=cls):
            if p.field not in nulls and p not in found:
                found.append(p)
    problems.problems.extend(found)
    return None if found else model


def rules_dir() -> Path:
    """The rule folder in use: $PATIENTAVGIFT_RULES when set, else the package's own."""
    env = os.environ.get("PATIENTAVGIFT_RULES")
    return Path(env) if env else PACKAGE_RULES


def check_rules(root: Path | None = None) -> tuple[RuleBook, list[Problem]]:
    """Load every rule file under `root` and return the book and every problem found."""
    root = root or rules_dir()
    book = RuleBook(root=root)
    out = _Collector()
    if not root.is_dir():
        out.problems.append(Problem(str(root), None, "", "regelmappen finns inte"))
        return book, out.problems
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in {".yml", ".yaml"}):
        if path.suffix != ".yaml":
            out.problems.append(
                Problem(str(path), None, "", f"regelfiler ska sluta på .yaml; byt namn till {path.stem}.yaml")
            )
        elif path.parent == root and path.name not in {"sources.yaml", "national.yaml"}:
            message = "okänd regelfil; i regelmappen finns bara sources.yaml, national.yaml och en mapp per region"
            out.problems.append(Problem(str(path), None, "", message))

    # Source register.
    src_path = root / "sources.yaml"
    src_data = _read(src_path, out, HOLDS["sources.yaml"])
    sources = _model(SourcesFile, src_data, src_path, out) if src_data is not None else None
    if sources:
        book.reviews[src_path] = sources
    if sources:
        for di, doc in enumerate(sources.documents):
            if doc.id in book.documents:
                out.add(src_path, src_data, ("documents", di, "id"), f"dokument-id '{doc.id}' används två gånger")
            book.documents[doc.id] = doc
            for si, st in enumerate(doc.statements):
                if st.id in book.statements:
                    out.add(
                        src_path,
                        src_data,
                        ("documents", di, "statements", si, "id"),
                        f"påstående-id '{st.id}' används två gånger",
                    )
                book.statements[st.id] = (doc, st)

    cited: list[tuple[Path, Any, tuple[int | str, ...], list[str]]] = []
    raw_tables: dict[str, Any] = {}

    # National rules.
    nat_path = root / "national.yaml"
    nat_data = _read(nat_path, out, HOLDS["national.yaml"])
    if nat_data is not None:
        national = _model(NationalFile, nat_data, nat_path, out) if nat_data is not None else None
        if national:
            book.national = national
            book.reviews[nat_path] = national
            for i, ex in enumerate(national.exemptions):
                cited.append((nat_path, nat_data, ("exemptions", i), ex.cite))
            c = national.ceiling
            cited.append((nat_path, nat_data, ("ceiling", "rule"), c.rule.cite))
            cited.append((nat_path, nat_data, ("ceiling", "derived_cite"), c.derived_cite))
            for i, doc in enumerate(c.documented):
                cited.append((nat_path, nat_data, ("ceiling", "documented", i), doc.cite))
            years: dict[int, int] = {}
            for i, pbb in enumerate(c.prisbasbelopp):
                cited.append((nat_path, nat_data, ("ceiling", "prisbasbelopp", i), pbb.cite))
                if pbb.year in years:
                    out.add(
                        nat_path,
                        nat_data,
                        ("ceiling", "prisbasbelopp", i, "year"),
                        f"prisbasbeloppet för {pbb.year} anges två gånger (även post {years[pbb.year] + 1})",
                    )
                years[pbb.year] = i
            for i, rc in enumerate(c.regional):
                cited.append((nat_path, nat_data, ("ceiling", "regional", i), rc.cite))
            by_region: dict[Region, list[tuple[Dated, tuple[int | str, ...]]]] = {}
            for i, rc in enumerate(c.regional):
                by_region.setdefault(rc.region, []).append((rc, ("ceiling", "regional", i, "valid_from")))
            for items in by_region.values():
                for a, _b, loc in _overlaps(items):
                    out.add(
                        nat_path,
                        nat_data,
                        loc,
                        f"giltighetstiden överlappar ett tidigare regionalt tak ({a.period_text()})",
                    )
            _exemption_overlaps(nat_path, nat_data, national.exemptions, ("exemptions",), out)

    # Regions and tables.
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.yaml")):
            data = _read(path, out, HOLDS.get(path.name, TABLE_HOLDS))
            if data is None:
                continue
            if path.name == "region.yaml":
                region = _model(RegionFile, data, path, out)
                if region:
                    if region.region.value != folder.name:
                        out.add(
                            path,
                            data,
                            ("region",),
                            f"regionen '{region.region.value}' stämmer inte med mappen '{folder.name}'",
                        )
                    book.regions[region.region] = region
                    book.reviews[path] = region
                    for i, ex in enumerate(region.exemptions):
                        cited.append((path, data, ("exemptions", i), ex.cite))
                    _exemption_overlaps(path, data, region.exemptions, ("exemptions",), out)
                continue
            if "defaults" in data:
                out.add(
                    path,
                    data,
                    ("defaults",),
                    "defaults används inte: varje rad och varje värde anger själv sin giltighet "
                    "(valid_from, valid_to) och sina källor (cite), så att en ändring syns på sin egen rad",
                )
                continue
            table = _model(TableFile, data, path, out)
            if table is None:
                continue
            if table.id in book.tables:
                out.add(path, data, ("id",), f"tabell-id '{table.id}' används redan i {book.table_files[table.id]}")
            book.tables[table.id] = table
            book.reviews[path] = table
            book.table_files[table.id] = path
            raw_tables[table.id] = data
            if table.kind == "contacts":
                if table.region is None:
                    out.add(path, data, ("region",), "en kontakttabell måste ange sin region")
                elif table.region in book.contacts_table:
                    out.add(path, data, ("region",), f"regionen {table.region.value} har redan en kontakttabell")
                else:
                    book.contacts_table[table.region] = table.id
            _load_table(book, table, path, data, out, cited)

    categories = root / "common" / "categories.yaml"
    if not any(t.kind == "categories" for t in book.tables.values()):
        if not categories.is_file():
            out.problems.append(
                Problem(str(categories), None, "", f"filen saknas; den ska innehålla {HOLDS['categories.yaml']}")
            )
        elif not any(p.path == str(categories) for p in out.problems):
            out.problems.append(
                Problem(str(categories), None, "kind", f"filen ska innehålla {HOLDS['categories.yaml']}")
            )

    # Cross-checks.
    for region, table_id in book.contacts_table.items():
        if region not in book.regions and not (root / region.value / "region.yaml").exists():
            path = book.table_files[table_id]
            out.problems.append(
                Problem(str(path), None, "region", f"{region.value} har en kontakttabell men ingen region.yaml")
            )
    for region in book.regions:
        failed = any(Path(p.path).parent == root / region.value for p in out.problems)
        if region not in book.contacts_table and not failed:
            out.problems.append(
                Problem(str(root / region.value), None, "", f"{region.value} har region.yaml men ingen kontakttabell")
            )
    known = ", ".join(book.definitions) or "inga"
    for table_id, table in book.tables.items():
        path, data = book.table_files[table_id], raw_tables[table_id]
        for name in table.definitions:
            for target in refs(book.definitions[name]) if name in book.definitions else set():
                if target not in book.definitions:
                    out.add(
                        path,
                        data,
                        ("definitions", name),
                        f"hänvisar till den okända definitionen '{target}'; kända: {known}",
                    )
        for i, row in enumerate(table.rows):
            compiled = book.conditions.get((table_id, row.id + "@" + str(row.valid_from)))
            for target in refs(compiled) if compiled else set():
                if target not in book.definitions:
                    out.add(
                        path,
                        data,
                        ("rows", i, "when"),
                        f"hänvisar till den okända definitionen '{target}'; kända: {known}",
                    )
            refs_here: list[tuple[tuple[int | str, ...], str | None, str]] = [
                (("rows", i, "fee", "param"), row.fee.param if isinstance(row.fee, FeeRef) else None, "kr"),
                (
                    ("rows", i, "contact_points", "param"),
                    row.contact_points.param if isinstance(row.contact_points, ParamRef) else None,
                    "kontaktpoäng",
                ),
                *(
                    (("rows", i, "points_extra", x, "points", "param"), e.points.param, "kontaktpoäng")
                    for x, e in enumerate(row.points_extra)
                    if isinstance(e.points, ParamRef)
                ),
            ]
            for loc, wanted, unit in refs_here:
                if wanted is None:
                    continue
                name = wanted
                if name not in book.parameters:
                    close = difflib.get_close_matches(name, list(book.parameters), n=1)
                    hint = (
                        f"menade du '{close[0]}'?" if close else "parametrarna finns under parameters: i regelfilerna"
                    )
                    out.add(path, data, loc, f"okänd parameter '{name}'; {hint}")
                elif book.parameters[name].unit != unit:
                    out.add(
                        path,
                        data,
                        loc,
                        f"parametern '{name}' anges i {book.parameters[name].unit}, men här behövs ett belopp i {unit}",
                    )
            if (
                isinstance(row.fee, FeeRef)
                and row.fee.table
                and (row.fee.table not in book.tables or book.tables[row.fee.table].kind != "lookup")
            ):
                lookups = ", ".join(t for t, v in book.tables.items() if v.kind == "lookup") or "inga"
                out.add(
                    path,
                    data,
                    ("rows", i, "fee", "table"),
                    f"'{row.fee.table}' är ingen uppslagstabell; uppslagstabeller: {lookups}",
                )
    for path, data, loc, ids in cited if sources else []:
        for j, sid in enumerate(ids):
            if sid in book.statements and book.statements[sid][1].not_modelled:
                out.add(
                    path,
                    data,
                    (*loc, "cite", j),
                    f"hänvisar till '{sid}', som källregistret anger som ej modellerat "
                    f"({book.statements[sid][1].not_modelled}); citera påståendet som regeln bygger på, "
                    "eller ta bort not_modelled i sources.yaml",
                )
            if sid not in book.statements:
                out.add(
                    path,
                    data,
                    (*loc, "cite", j),
                    f"hänvisar till '{sid}', som inte är ett påstående i källregistret sources.yaml",
                )
    if sources:
        _amounts_match_sources(book, raw_tables, out)
    return book, out.problems


def _amounts_match_sources(book: RuleBook, raw_tables: dict[str, Any], out: _Collector) -> None:
    """A value in kronor must be an amount that one of its cited statements states, when they state
    any: an edited amount that still cites the paraphrase of the old one is caught here."""
    for table_id, table in book.tables.items():
        path, data = book.table_files[table_id], raw_tables[table_id]
        for pi, param in enumerate(table.parameters):
            if param.unit != "kr":
                continue
            for vi, value in enumerate(param.values):
                stated: set[int] = set()
                for sid in value.cite:
                    if sid in book.statements:
                        stated |= _amounts_in(book.statements[sid][1].text)
                if stated and value.amount not in stated:
                    shown = ", ".join(f"{sv_number(a)} kr" for a in sorted(stated))
                    out.add(
                        path,
                        data,
                        ("parameters", pi, "values", vi, "amount"),
                        f"{sv_number(value.amount)} kr står inte i källorna som värdet citerar ({', '.join(value.cite)}: "
                        f"{shown}); citera påståendet som anger det nya beloppet (lägg till det i sources.yaml)",
                    )


def _exemption_overlaps(
    path: Path, data: Any, items: list[Exemption], base: tuple[int | str, ...], out: _Collector
) -> None:
    by_id: dict[str, list[tuple[Dated, tuple[int | str, ...]]]] = {}
    for i, ex in enumerate(items):
        by_id.setdefault(ex.id, []).append((ex, (*base, i, "valid_from")))
    for rid, versions in by_id.items():
        for a, b, loc in _gaps(versions):
            out.add(path, data, loc, _gap_text(f"regeln '{rid}'", a, b))
        for a, _b, loc in _overlaps(versions):
            out.add(
                path, data, loc, f"giltighetstiden för '{rid}' överlappar dess tidigare version ({a.period_text()})"
            )


def _load_table(
    book: RuleBook,
    table: TableFile,
    path: Path,
    data: Any,
    out: _Collector,
    cited: list[tuple[Path, Any, tuple[int | str, ...], list[str]]],
) -> None:
    for name, raw in table.definitions.items():
        if name in book.definitions:
            out.add(path, data, ("definitions", name), f"definitionen '{name}' finns redan på annat ställe")
        try:
            book.definitions[name] = compile_condition(raw)
        except ConditionError as exc:
            out.add(path, data, ("definitions", name, *exc.where), str(exc))
    row_ids = {row.id for row in table.rows}
    for gi, reading in enumerate(table.readings):
        cited.append((path, data, ("readings", gi), reading.cite))
        for ri, rid in enumerate(reading.rows):
            if rid not in row_ids:
                out.add(path, data, ("readings", gi, "rows", ri), f"'{rid}' is not a row of this table")
    for pi, param in enumerate(table.parameters):
        if param.id in book.parameters:
            out.add(path, data, ("parameters", pi, "id"), f"parametern '{param.id}' finns redan på annat ställe")
        book.parameters[param.id] = param
        for vi, value in enumerate(param.values):
            cited.append((path, data, ("parameters", pi, "values", vi), value.cite))
            if value.proposal:
                book.proposals.setdefault(value.proposal, value.status)
        decided: list[tuple[Dated, tuple[int | str, ...]]] = [
            (v, ("parameters", pi, "values", vi, "valid_from"))
            for vi, v in enumerate(param.values)
            if v.status == "decided"
        ]
        # A value without valid_to ends where the next begins; one that gives valid_to must meet the next.
        for a, b, loc in _overlaps(decided):
            if a.valid_to is not None or a.valid_from == b.valid_from:
                out.add(
                    path,
                    data,
                    loc,
                    f"giltighetstiden för '{param.id}' överlappar ett tidigare värde ({a.period_text()})",
                )
        for a, b, loc in _gaps(decided):
            out.add(path, data, loc, _gap_text(f"'{param.id}'", a, b))
    by_id: dict[str, list[tuple[Dated, tuple[int | str, ...]]]] = {}
    for ri, row in enumerate(table.rows):
        cited.append((path, data, ("rows", ri), row.cite))
        for xi, extra in enumerate(row.points_extra):
            cited.append((path, data, ("rows", ri, "points_extra", xi), extra.cite))
            try:
                book.conditions[(table.id, extra.id)] = compile_condition(extra.when)
            except ConditionError as exc:
                out.add(path, data, ("rows", ri, "points_extra", xi, "when", *exc.where), str(exc))
        for wi, warning in enumerate(row.warnings):
            if isinstance(warning, RowWarning):
                cited.append((path, data, ("rows", ri, "warnings", wi), warning.cite))
                try:
                    book.conditions[(table.id, f"{row.id}@{row.valid_from}#warning{wi}")] = compile_condition(
                        warning.when
                    )
                except ConditionError as exc:
                    out.add(path, data, ("rows", ri, "warnings", wi, "when", *exc.where), str(exc))
        by_id.setdefault(row.id, []).append((row, ("rows", ri, "valid_from")))
        if row.proposal:
            book.proposals.setdefault(row.proposal, row.status)
        try:
            book.conditions[(table.id, row.id + "@" + str(row.valid_from))] = compile_condition(row.when)
        except ConditionError as exc:
            out.add(path, data, ("rows", ri, "when", *exc.where), str(exc))
        outcome = [
            row.fee is not None,
            row.qualified is not None,
            row.undetermined is not None,
            row.category is not None,
            row.registration is not None,
        ]
        if row.trace_only and any(outcome):
            out.add(
                path,
                data,
                ("rows", ri),
                f"raden '{row.id}' har trace_only och får inte avgöra något; ta bort fee, qualified, registration "
                "och category, eller ta bort trace_only",
            )
        if not any(outcome) and not row.trace_only:
            out.add(
                path,
                data,
                ("rows", ri),
                f"raden '{row.id}' avgör ingenting; ange fee, qualified, registration, category eller undetermined",
            )
        if table.kind == "categories" and row.category is None and row.undetermined is None:
            out.add(path, data, ("rows", ri), "en rad i en kategoritabell måste ange en kategori (category)")
        for gi, group in enumerate(row.kva):
            for ci, code in enumerate(group):
                if not (len(code) == 5 and code[:2].isalpha() and code[:2].isupper() and code[2:].isdigit()):
                    out.add(
                        path,
                        data,
                        ("rows", ri, "kva", gi, ci),
                        f"'{code}' är ingen KVÅ-kod (två versaler och tre siffror, t.ex. ZV051)",
                    )
    for rid, versions in by_id.items():
        for a, b, loc in _gaps(versions):
            out.add(path, data, loc, _gap_text(f"regeln '{rid}'", a, b))
        for a, _b, loc in _overlaps(versions):
            out.add(
                path,
                data,
                loc,
                f"giltighetstiden för regeln '{rid}' överlappar dess tidigare version ({a.period_text()})",
            )


@cache
def _cached(root: str) -> RuleBook:
    book, problems = check_rules(Path(root))
    if problems:
        raise RuleDataError(problems)
    return book


def load_rules(root: Path | None = None) -> RuleBook:
    """Load and validate the rule data (cached per folder); raise `RuleDataError` listing every problem."""
    return _cached(str((root or rules_dir()).resolve()))


def review_warnings(book: RuleBook, today: date) -> list[str]:
    """What is due for review on `today`: rule files whose next review has come, and source documents
    whose own validity has ended (warnings: the data still loads)."""
    out: list[str] = []
    for path, reviewed in sorted(book.reviews.items()):
        due = reviewed.review_due()
        if due <= today:
            out.append(
                f"{path}: senast granskad {reviewed.last_reviewed} av {reviewed.reviewer}; nästa granskning "
                f"skulle göras senast {due}. Läs filen mot källorna och uppdatera last_reviewed."
            )
    for doc in book.documents.values():
        if doc.valid_to is not None and doc.valid_to < today:
            out.append(
                f"källan {doc.label()} var giltig till {doc.valid_to}; se efter om en ny version finns och "
                "vad som gäller efter det datumet."
            )
    return out


def build_date() -> date:
    """The day the book and `check` judge review dates by: $PATIENTAVGIFT_TODAY (YYYY-MM-DD) when set,
    so that a build can be repeated as of a given day, else today."""
    given = os.environ.get("PATIENTAVGIFT_TODAY")
    if not given:
        return date.today()
    try:
        return date.fromisoformat(given)
    except ValueError:
        raise RuleDataError(
            [
                Problem(
                    "PATIENTAVGIFT_TODAY",
                    None,
                    "",
                    f"'{given}' är inget datum; skriv ÅÅÅÅ-MM-DD eller ta bort variabeln",
                )
            ]
        ) from None
