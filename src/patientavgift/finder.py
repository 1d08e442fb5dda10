"""Avgiftsguiden: the fee rules asked question by question, as a static decision tree.

The guide on the published site runs no rule logic of its own. At build time, for every region,
care service, validity segment (the days between two dates where a rule value starts or ends, as
in `batch.boundaries`) and proposal, the engine is asked about a contact with no facts. An
undetermined answer names the facts the rules need (`Outcome.missing`); the builder asks the
engine again for each allowed value of one of them, until every branch is decided or left open
by the sources. It asks first what the first contact rule still open needs
(`Context.next_rule_needs`): the facts of later rules matter only if that rule does not hold.
Facts with a default (purpose = care, via_proxy = false …) are treated as not given while the
tree is built, so they are asked exactly where a rule tests them; the leaf itself is priced with
the contact as the case contract reads it (the defaults filled in).

The kontaktform is asked first. Age is asked last, as the bands the exemptions in force define,
and the fee after exemption is priced by `price_contacts` for one contact with a representative
age of the band and nothing paid before. Identical subtrees and outcomes are stored once
(hashed into tables), so the whole tree is small enough for a phone.

Many paths reach the same rule state by different answers (a phone call in a programme whose
requirement fails is priced by the ordinary rules, as is one outside any programme). Below the
questions asked right after the kontaktform, a subtree is therefore built once per state
(`Context.alike`: every condition of the rules with the answers put in, plus what the engine reads
outside the conditions) and shared across the region's care services on the same day; building
it again would ask the engine the same questions and get the same answers.

Dates inside the outcome texts (the rules say "den 2026-03-15") are written as ``{datum}`` and
filled in with the reader's date by the page. The per-patient ceiling steps of the trace (the start
of a 12-month period, the ceiling with nothing paid) are left out of each leaf; the page shows the
ceiling in force on the day, with its citation, beside the outcome.

``python -m patientavgift.finder [--out tree.json]`` builds the tree, prints the number of
questions, leaves and the build seconds per region, and writes the JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .batch.codes import EPOCH
from .batch.decisions import boundaries
from .conditions import All, Any_, Condition, Given, Not, Ref
from .confidence import SV, Confidence
from .engine import Outcome, Selection, Visit, in_force, no_ceiling, price_contacts
from .handbook import statement_anchor
from .model import FACT_TERMS, FACT_TYPES, OUTCOME_TERMS, Contact, Patient, Region, Service, Term, nested
from .rules import RuleBook, sv_number

DATE_MARK = "{datum}"
"""Stands for the reader's date in outcome texts; the page fills it in."""

SOURCES_PAGE = "10-kalltackning.html"
CEILING_PAGE = "07-hogkostnadsskydd.html"

STATUS_SV = {"proposed": "förslag", "alternative": "alternativ för simulering"}

DEFAULTED: tuple[str, ...] = tuple(
    name for name, info in Contact.model_fields.items() if name in FACT_TYPES and info.default is not None
)
"""Facts the contract gives a default (purpose = care, changed_character = false …)."""

ORDER: dict[str, int] = {key: i for i, key in enumerate(["mode", *FACT_TYPES, "age"])}
"""The contract's order of facts: the tie-break when two facts are equally good to ask next."""

CONTRADICTING = ("realtime", "programme_event", "changed_character", "booked")
"""Facts that `model.contradictions` can find at odds with an answer already given (its fifth,
kva_codes, is never asked here: the guide has no question for codes)."""

NOT_GIVEN = "not_given"
"""The answer that leaves an optional fact out: rules that test whether it is given then read it as absent."""

LEFT_OUT = {"fee", "ceiling.period-start"}
"""Trace steps about one patient's 12-month period, which the guide does not follow."""


def anchor(statement_id: str) -> str:
    """The anchor of a statement in the sources chapter (the one the book's tables link to)."""
    return statement_anchor(statement_id)


def statement_link(statement_id: str) -> str:
    """Where a statement is shown: its anchor in the sources chapter."""
    return f"{SOURCES_PAGE}#{anchor(statement_id)}"


# --------------------------------------------------------------------------- dates


def _dated_items(book: RuleBook, region: Region) -> Iterator[Any]:
    for table in book.tables.values():
        if table.region in (region, None):
            yield from table.rows
            yield from table.readings
            for param in table.parameters:
                yield from param.values
    if region in book.regions:
        yield from book.regions[region].exemptions


def coverage(book: RuleBook, region: Region) -> tuple[date, date]:
    """The days the guide covers for a region: from 1 January of the year its first rule begins, to
    31 December of the year after the last year with a prisbasbelopp (or of the last rule change)."""
    items = list(_dated_items(book, region))
    first = min(item.valid_from for item in items)
    years = [item.valid_from.year for item in items]
    years += [item.valid_to.year for item in items if item.valid_to is not None]
    if book.national is not None:
        years += [pbb.year + 1 for pbb in book.national.ceiling.prisbasbelopp]
    return date(first.year, 1, 1), date(max(years), 12, 31)


def segments(book: RuleBook, region: Region) -> list[tuple[date, date]]:
    """The validity segments of the covered days: no rule value starts or ends inside one.

    A segment of two days is split into single days, so that every segment of more than one day
    has an inner day to stand for it (see `representative`)."""
    first, last = coverage(book, region)
    cuts = [EPOCH + timedelta(days=int(d)) for d in boundaries(book)]
    starts = [first, *(d for d in cuts if first < d <= last)]
    out: list[tuple[date, date]] = []
    for start, end in zip(starts, [*(d - timedelta(days=1) for d in starts[1:]), last], strict=True):
        if (end - start).days == 1:
            out += [(start, start), (end, end)]
        else:
            out.append((start, end))
    return out


def representative(start: date, end: date) -> date:
    """The day a segment is priced on: an inner day, which no rule's own dates can name."""
    return start + timedelta(days=(end - start).days // 2)


def _templated(value: Any, on: date | None) -> Any:
    """Replace the representative day in every text by `DATE_MARK`."""
    if on is None:
        return value
    if isinstance(value, str):
        return value.replace(on.isoformat(), DATE_MARK)
    if isinstance(value, list):
        return [_templated(v, on) for v in value]
    if isinstance(value, dict):
        return {k: _templated(v, on) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- age bands


@dataclass(frozen=True)
class Band:
    """An age band the exemptions in force tell apart, with the age it is priced with."""

    low: int
    high: int | None

    @property
    def id(self) -> str:
        return f"{self.low}-{self.high if self.high is not None else ''}"

    @property
    def label(self) -> str:
        if self.low == 0 and self.high is not None:
            return f"under {self.high + 1} år"
        if self.high is None:
            return f"{self.low} år eller äldre"
        if self.low == self.high:
            return f"{self.low} år"
        return f"{self.low}–{self.high} år"

    @property
    def age(self) -> int:
        """The age priced for the band: the oldest in the youngest band, else the youngest."""
        return self.high if self.low == 0 and self.high is not None else self.low


def bands(book: RuleBook, region: Region, on: date) -> list[Band]:
    """The age bands of a region's exemptions in force on a day (national and regional); where the
    region's own exemption is not in force, the highest regional age limit in the data bounds the
    ages the engine cannot tell exempt or not."""
    edges: set[int] = set()
    rules = book.exemptions(region)
    for ex in rules:
        if ex.in_force(on):
            edges.add(ex.free_under_age if ex.free_under_age is not None else ex.free_from_age or 0)
    regional = [ex for ex in rules if ex.free_under_age is not None]
    if regional and not any(ex.in_force(on) for ex in regional):
        edges.add(book.highest_exempt_age())
    cuts = sorted(e for e in edges if e > 0)
    lows = [0, *cuts]
    return [Band(low, high - 1 if high is not None else None) for low, high in zip(lows, [*cuts, None], strict=True)]


# --------------------------------------------------------------------------- asking the engine


def contact_of(on: date, facts: Mapping[str, Any]) -> Contact | None:
    """The contact the answers describe (defaults filled in), or None when they contradict each other."""
    data = {"date": on, **nested({k: v for k, v in facts.items() if k != "age" and v != NOT_GIVEN})}
    try:
        return Contact.model_validate(data)
    except ValidationError:
        return None


def values_of(key: str) -> list[Any]:
    """Every allowed value of a fact, in the contract's order."""
    kind = FACT_TYPES[key]
    if kind is bool:
        return [True, False]
    assert issubclass(kind, Term)
    return list(kind)


def value_id(value: Any) -> str:
    """An answer as the tree stores it: `true`/`false` or the enum value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Band):
        return value.id
    return str(value.value if isinstance(value, Term) else value)


LEFT_OUT_LABELS = {"programme_event": "ingen – kontakten hör inte till ett program i stöd- och behandlingsplattformen"}
"""What leaving a fact out means, where "ej angiven" would leave the reader guessing."""


def value_label(value: Any, key: str = "") -> str:
    """An answer in Swedish: ja/nej or the vocabulary's term."""
    if isinstance(value, bool):
        return "ja" if value else "nej"
    if value == NOT_GIVEN:
        return LEFT_OUT_LABELS.get(key, "ej angiven")
    if isinstance(value, Band):
        return value.label
    assert isinstance(value, Term)
    return value.label


def parse_answer(key: str, value: str) -> Any:
    """An answer of the tree as a fact value (an age band for `age`, `NOT_GIVEN` for a fact left out)."""
    if value == NOT_GIVEN:
        return NOT_GIVEN
    if key == "age":
        low, _, high = value.partition("-")
        return Band(int(low), int(high) if high else None)
    kind = FACT_TYPES[key]
    if kind is bool:
        return value == "true"
    assert issubclass(kind, Term)
    return next(member for member in kind if member.value == value)


@dataclass
class Context:
    """One tree: a region, a service, a segment (priced on its representative day) and a selection."""

    book: RuleBook
    region: Region
    service: Service
    on: date
    chosen: Selection
    bands: list[Band]
    optional: list[str] = field(default_factory=list)
    """Facts a rule tests for being given at all (see `given_facts`)."""
    calls: int = 0
    _opens: dict[tuple[tuple[str, str], ...], tuple[Condition | bool, ...]] = field(default_factory=dict)
    _seen: dict[tuple[bool, tuple[tuple[str, str], ...]], Outcome | None] = field(default_factory=dict)

    def price(self, facts: Mapping[str, Any], explore: bool) -> Outcome | None:
        """The engine's outcome for the answers so far (remembered: the builder asks again while it
        looks ahead)."""
        key = (explore, tuple(sorted((k, value_id(v)) for k, v in facts.items())))
        if key not in self._seen:
            self._seen[key] = self._price(facts, explore)
        return self._seen[key]

    def _price(self, facts: Mapping[str, Any], explore: bool) -> Outcome | None:
        contact = contact_of(self.on, facts)
        if contact is None:
            return None
        if explore:
            contact = contact.model_copy(update={k: None for k in DEFAULTED if k not in facts})
        band = facts.get("age")
        patient = Patient(age=band.age if isinstance(band, Band) else None)
        self.calls += 1
        outcomes, _ = price_contacts(self.book, patient, [Visit(contact, self.region, self.service)], self.chosen)
        return outcomes[0]

    def answers(self, key: str, facts: Mapping[str, Any], optional: bool = False) -> list[Any]:
        """The values of a fact that agree with the answers so far (and `NOT_GIVEN` for an optional one)."""
        if key == "age":
            return list(self.bands)
        found = [v for v in values_of(key) if contact_of(self.on, {**facts, key: v}) is not None]
        return [*found, NOT_GIVEN] if optional else found

    def matters(self, facts: Mapping[str, Any]) -> str | None:
        """The first optional fact not yet answered whose giving changes the engine's outcome."""
        base = _essence(self.price(facts, explore=True))
        for key in self.optional:
            if key in facts:
                continue
            for value in self.answers(key, facts):
                if _essence(self.price({**facts, key: value}, explore=True)) != base:
                    return key
        return None

    def askable(self, outcome: Outcome, facts: Mapping[str, Any]) -> list[str]:
        return [k for k in outcome.missing if (k in FACT_TYPES or k == "age") and k not in facts]

    def state(self, facts: Mapping[str, Any]) -> tuple[Any, ...]:
        """What the engine's outcome for some answers depends on: every condition of the rules with
        the answers put in (`Condition.partial`), and the facts the engine reads besides the
        conditions (the kontaktform, whether the contact belongs to a programme, the age band)."""
        known = _known(facts)
        programme = any(k.startswith("programme.") and v is not None for k, v in known.items())
        read = (known.get("mode"), programme, known.get("programme_event") is not None, value_id(facts.get("age")))
        return (*read, *self._open(known))

    def _open(self, known: Mapping[str, Any]) -> tuple[Condition | bool, ...]:
        """The conditions of the rules in force with the known facts put in, each answer put into
        what the answers before it left open (the same as putting them in all at once)."""
        key = tuple(sorted((k, value_id(v)) for k, v in known.items()))
        if key not in self._opens:
            if not known:
                where = {"region": self.region, "service": self.service}
                found = tuple(c.partial(where, self.book.definitions) for c in self._conditions())
            else:
                *before, (last, value) = known.items()
                found = tuple(
                    c if isinstance(c, bool) else c.partial({last: value}, self.book.definitions)
                    for c in self._open(dict(before))
                )
            self._opens[key] = found
        return self._opens[key]

    def _conditions(self) -> list[Condition]:
        """Every condition of the region's (and the common) rule tables that applies on the day."""
        tables = {tid for tid, t in self.book.tables.items() if t.region in (self.region, None)}
        idle = {
            (tid, f"{row.id}@{row.valid_from}")
            for tid in tables
            for row in self.book.tables[tid].rows
            if not in_force(row, self.on, self.chosen)
        }
        return [
            c
            for (tid, key), c in sorted(self.book.conditions.items())
            if tid in tables and (tid, key.partition("#")[0]) not in idle
        ]

    def next_rule_needs(self, facts: Mapping[str, Any]) -> set[str]:
        """The facts that the first row of the region's contact rules still open after the answers
        needs (the row where the engine's search stops): asked before the facts of later rows,
        which matter only if this row turns out not to hold."""
        table_id = self.book.contacts_table[self.region]
        known = _known(facts)
        known |= {"region": self.region, "service": self.service}
        for row in self.book.rows(table_id):
            if row.trace_only or not in_force(row, self.on, self.chosen):
                continue
            rest = self.book.when(table_id, row).partial(known, self.book.definitions)
            if rest is True:
                return set()
            if rest is not False:
                return rest.facts(self.book.definitions)
        return set()

    def alike(self, facts: Mapping[str, Any]) -> tuple[Any, ...]:
        """What the rest of the tree below some answers depends on: the state of the rules (`state`)
        and the answers still allowed beside these. Two sets of answers that agree on it get the
        same subtree, so it is built once (asked only below the kontaktform and the facts that may
        be left out, where the tree's shape depends on more than the rules' state)."""
        forbidden = frozenset(
            (key, value_id(v))
            for key in CONTRADICTING
            if key not in facts
            for v in values_of(key)
            if contact_of(self.on, {**facts, key: v}) is None
        )
        return (forbidden, self.state(facts))


def _known(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The answers as the conditions take them (`Condition.partial`): a fact left out as None, the
    age band left aside (the engine reads it apart from the conditions)."""
    return {k: None if v == NOT_GIVEN else v for k, v in facts.items() if k != "age"}


def _essence(outcome: Outcome | None) -> Any:
    """The fee, qualification, registration, points and open questions of an outcome: an optional
    fact is asked where giving it changes one of them."""
    if outcome is None:
        return None
    fields = (outcome.fee, outcome.list_fee, outcome.qualified, outcome.registration, outcome.contact_points)
    return (*fields, outcome.missing, outcome.reasons)


def given_facts(book: RuleBook, region: Region) -> list[str]:
    """The facts that the region's rules (or the common ones) test for being given at all, in the
    contract's order: leaving such a fact out is an answer of its own."""
    found: set[str] = set()

    def visit(condition: Condition) -> None:
        if isinstance(condition, Given):
            found.add(condition.key)
        elif isinstance(condition, Not):
            visit(condition.part)
        elif isinstance(condition, All | Any_):
            for part in condition.parts:
                visit(part)
        elif isinstance(condition, Ref):
            visit(book.definitions[condition.name])

    tables = {tid for tid, t in book.tables.items() if t.region in (region, None)}
    for (table_id, _), condition in book.conditions.items():
        if table_id in tables:
            visit(condition)
    return sorted((k for k in found if k in FACT_TYPES), key=lambda k: ORDER[k])


class Tables:
    """Nodes and outcomes, each stored once (by the hash of its canonical JSON)."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.outcomes: list[Any] = []
        self.steps: list[Any] = []
        self._index: dict[tuple[str, str], int] = {}

    def _put(self, kind: str, table: list[Any], item: Any) -> int:
        digest = hashlib.sha256(json.dumps(item, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        found = self._index.get((kind, digest))
        if found is None:
            found = self._index[(kind, digest)] = len(table)
            table.append(item)
        return found

    def node(self, item: Any) -> int:
        return self._put("node", self.nodes, item)

    def outcome(self, item: Any) -> int:
        return self._put(
            "outcome", self.outcomes, {**item, "trace": [self._put("step", self.steps, s) for s in item["trace"]]}
        )


def _cite(book: RuleBook, cite: str) -> list[str]:
    """A rendered citation split into text and statement ids: [text, id, text, id, …, text]."""
    parts = re.split(r"\[([\w.-]+)\]", cite)
    for sid in parts[1::2]:
        assert sid in book.statements, f"unknown statement {sid} in a citation"
    return parts


def _level(level: Confidence | None) -> str | None:
    return SV[level] if level else None


def outcome_json(book: RuleBook, outcome: Outcome, ceiling_rules: set[str], age: int | None) -> dict[str, Any]:
    """What a leaf shows: the outcome, its confidence and the chain of rules with citations."""
    trace = [
        [s.text, _cite(book, s.cite), _level(s.confidence), s.note]
        for s in outcome.trace
        if s.rule not in LEFT_OUT and s.rule not in ceiling_rules
    ]
    points = outcome.contact_points
    return {
        "fee": outcome.fee,
        "fee_text": f"{sv_number(outcome.fee)} kr" if outcome.fee is not None else None,
        "list_fee": outcome.list_fee,
        "list_fee_text": f"{sv_number(outcome.list_fee)} kr" if outcome.list_fee is not None else None,
        "qualified": outcome.qualified,
        "registration": outcome.registration,
        "points": sv_number(points) if isinstance(points, Decimal) else None,
        "category": outcome.category.label if outcome.category else None,
        "confidence": SV[outcome.confidence],
        "notes": outcome.confidence_notes,
        "reasons": outcome.reasons,
        "missing": [f"{FACT_TERMS.get(k, k)} ({k})" for k in outcome.missing],
        "age": age if outcome.list_fee else None,
        "trace": trace,
    }


@dataclass
class Builder:
    """Builds the trees of one rule book into shared tables."""

    book: RuleBook
    tables: Tables = field(default_factory=Tables)
    vocabulary: dict[str, dict[str, Any]] = field(default_factory=dict)
    alike: dict[tuple[Any, ...], dict[tuple[Any, ...], int]] = field(default_factory=dict)
    """Subtrees by what they depend on (`Context.alike`), per region, day, selection and templating."""

    def ceiling_rules(self) -> set[str]:
        assert self.book.national is not None
        return {self.book.national.ceiling.rule.id, *(r.id for r in self.book.national.ceiling.regional)}

    def tree(self, ctx: Context, templated: bool) -> int:
        memo: dict[tuple[tuple[str, str], ...], int] = {}
        # (shared by the care services: a subtree depends on the service only through the conditions)
        alike = self.alike.setdefault((ctx.region, ctx.on, ctx.chosen, templated), {})
        mark = ctx.on if templated else None
        ceiling_rules = self.ceiling_rules()

        def leaf(facts: dict[str, Any]) -> int:
            outcome = ctx.price(facts, explore=False)
            assert outcome is not None
            left = ctx.askable(outcome, facts)
            assert not left, f"the engine still names {left} for {facts}"
            band = facts.get("age")
            item = outcome_json(self.book, outcome, ceiling_rules, band.age if isinstance(band, Band) else None)
            return self.tables.node({"o": self.tables.outcome(_templated(item, mark))})

        def score(key: str, facts: dict[str, Any]) -> tuple[int, int]:
            """How much is still unknown after asking `key` (fewer is better), then the contract's order."""
            left = 0
            for value in ctx.answers(key, facts):
                after = ctx.price({**facts, key: value}, explore=True)
                left += len(ctx.askable(after, {**facts, key: value})) if after else 0
            return left, ORDER.get(key, len(ORDER))

        def branch(key: str, facts: dict[str, Any], optional: bool = False) -> int:
            values = ctx.answers(key, facts, optional)
            answers = [[value_id(v), node({**facts, key: v})] for v in values]
            assert answers, f"no allowed value of {key} agrees with {facts}"
            terms = self.vocabulary.setdefault(key, {"label": FACT_TERMS.get(key, key), "values": {}})
            for v in values:
                terms["values"][value_id(v)] = value_label(v, key)
            return self.tables.node({"q": key, "a": answers})

        def early(facts: Mapping[str, Any]) -> bool:
            return set(facts) <= {"mode", *ctx.optional}

        def node(facts: dict[str, Any]) -> int:
            key = tuple(sorted((k, value_id(v)) for k, v in facts.items()))
            if key not in memo:
                same = None if early(facts) else ctx.alike(facts)
                if same is not None and same in alike:
                    memo[key] = alike[same]
                else:
                    memo[key] = build(facts)
                    if same is not None:
                        alike[same] = memo[key]
            return memo[key]

        def build(facts: dict[str, Any]) -> int:
            if "mode" not in facts:
                return branch("mode", facts)
            # Facts that may be left out are asked right after the kontaktform, where giving one changes
            # what the engine says; further down the tree a fact left out stays out.
            optional = ctx.matters(facts) if early(facts) else None
            if optional:
                return branch(optional, facts, optional=True)
            outcome = ctx.price(facts, explore=True)
            assert outcome is not None
            askable = ctx.askable(outcome, facts)
            if not askable:
                return leaf(facts)
            others = [k for k in askable if k != "age"]
            if not others:
                return branch("age", facts)
            others = [k for k in others if k in ctx.next_rule_needs(facts)] or others
            if len(others) == 1:
                return branch(others[0], facts)
            return branch(min(others, key=lambda k: score(k, facts)), facts)

        return node({})


def reads_service(book: RuleBook, region: Region) -> bool:
    """Whether any condition of the region's rule tables (or the common ones) tests the service."""
    tables = {tid for tid, t in book.tables.items() if t.region in (region, None)}
    return any(
        "service" in condition.facts(book.definitions)
        for (table_id, _), condition in book.conditions.items()
        if table_id in tables
    )


def state(book: RuleBook, region: Region, on: date) -> tuple[Any, ...]:
    """Every rule value of the region (and of the nation) in force on a day, and whether the data has
    a ceiling for the day: two segments in the same state get the same trees (their texts differ only
    in the day, which the trees hold as `DATE_MARK`)."""
    found: list[Any] = []
    for table in book.tables.values():
        if table.region in (region, None):
            found += [("row", table.id, r.id, r.valid_from) for r in table.rows if r.in_force(on)]
            found += [("reading", table.id, r.id, r.valid_from) for r in table.readings if r.in_force(on)]
            for param in table.parameters:
                found += [("value", param.id, v.valid_from, v.proposal) for v in param.values if param.holds(v, on)]
    found += [("exemption", ex.id, ex.valid_from) for ex in book.exemptions(region) if ex.in_force(on)]
    ceiling = book.ceiling(region, on)
    found.append(("ceiling", on.year) if ceiling is None else ("ceiling", ceiling.confidence, ceiling.note is None))
    return tuple(sorted(found, key=repr))


def proposals_on(book: RuleBook, region: Region, start: date, end: date) -> list[str]:
    """The proposals and alternatives whose rule data for the region is in force within a segment."""
    found: set[str] = set()
    for item in _dated_items(book, region):
        if item.proposal and item.valid_from <= end and (item.valid_to is None or item.valid_to >= start):
            found.add(item.proposal)
    return sorted(found)


def _proposal_label(book: RuleBook, proposal: str) -> str:
    for table in book.tables.values():
        for row in table.rows:
            if row.proposal == proposal:
                return row.text or row.label or proposal
        for param in table.parameters:
            if any(v.proposal == proposal for v in param.values):
                return param.label
    return proposal


def _ceiling_json(book: RuleBook, region: Region, on: date, templated: bool) -> dict[str, Any]:
    ceiling = book.ceiling(region, on)
    if ceiling is None:
        return {"amount": None, "reason": _templated(no_ceiling(on), on if templated else None)}
    return {
        "amount": ceiling.amount,
        "amount_text": f"{sv_number(ceiling.amount)} kr",
        "text": ceiling.text,
        "confidence": SV[ceiling.confidence],
        "note": ceiling.note,
        "cite": _cite(book, book.cite_text(ceiling.cite)),
    }


@dataclass
class RegionStats:
    region: Region
    questions: int
    leaves: int
    trees: int
    calls: int
    seconds: float


def build(book: RuleBook, regions: Sequence[Region] | None = None) -> tuple[dict[str, Any], list[RegionStats]]:
    """The whole guide as JSON-ready data, and per region the questions, leaves and build time."""
    builder = Builder(book)
    out_regions: list[dict[str, Any]] = []
    stats: list[RegionStats] = []
    proposals: dict[str, dict[str, str]] = {}
    for region in regions or list(book.regions):
        began = time.perf_counter()
        services = list(book.regions[region].services)
        by_service = reads_service(book, region)
        optional = given_facts(book, region)
        calls = 0
        segs: list[dict[str, Any]] = []
        reached: set[int] = set()
        built: dict[tuple[Any, ...], dict[str, dict[str, int]]] = {}
        for start, end in segments(book, region):
            on = representative(start, end)
            templated = start != end
            roots: dict[str, dict[str, int]] = {}
            chosen_ids = proposals_on(book, region, start, end)
            for pid in chosen_ids:
                proposals[pid] = {"label": _proposal_label(book, pid), "status": STATUS_SV[book.proposals[pid]]}
            shared: dict[str, int] | None = None
            same = (*state(book, region, on), templated)
            for service in services if same not in built else []:
                if shared is not None and not by_service:
                    roots[service.value] = shared
                    continue
                per: dict[str, int] = {}
                for pid in ["", *chosen_ids]:
                    chosen: Selection = frozenset({pid}) if pid else frozenset()
                    ctx = Context(book, region, service, on, chosen, bands(book, region, on), optional)
                    per[pid] = builder.tree(ctx, templated)
                    calls += ctx.calls
                roots[service.value] = shared = per
            roots = built.setdefault(same, roots)
            for per in roots.values():
                reached |= set(per.values())
            seg = {
                "from": start.isoformat(),
                "to": end.isoformat(),
                "ceiling": _ceiling_json(book, region, on, templated),
                "roots": roots,
            }
            if segs and {k: v for k, v in segs[-1].items() if k not in ("from", "to")} == {
                k: v for k, v in seg.items() if k not in ("from", "to")
            }:
                segs[-1]["to"] = seg["to"]
            else:
                segs.append(seg)
        out_regions.append(
            {
                "id": region.value,
                "label": region.label,
                "services": [{"id": s.value, "label": s.label} for s in services],
                "segments": segs,
            }
        )
        questions, leaves = _count(builder.tables.nodes, reached)
        stats.append(RegionStats(region, questions, leaves, len(reached), calls, time.perf_counter() - began))
    vocabulary = {k: builder.vocabulary[k] for k in sorted(builder.vocabulary, key=lambda k: ORDER.get(k, 999))}
    data = {
        "format": 1,
        "date_mark": DATE_MARK,
        "sources_page": SOURCES_PAGE,
        "ceiling_page": CEILING_PAGE,
        "terms": {
            **{k: FACT_TERMS[k] for k in ("region", "service", "date", "age")},
            **{k: OUTCOME_TERMS[k][0] for k in OUTCOME_TERMS},
        },
        "facts": vocabulary,
        "proposals": dict(sorted(proposals.items())),
        "regions": out_regions,
        "nodes": builder.tables.nodes,
        "outcomes": builder.tables.outcomes,
        "steps": builder.tables.steps,
    }
    return data, stats


def _count(nodes: list[Any], roots: Iterable[int]) -> tuple[int, int]:
    """Distinct question nodes and distinct leaves reachable from the roots."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if "q" in nodes[n]:
            stack += [child for _, child in nodes[n]["a"]]
    questions = sum(1 for n in seen if "q" in nodes[n])
    return questions, len(seen) - questions


def dumps(data: Mapping[str, Any]) -> str:
    """The tree as compact, stable JSON."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=False)


# --------------------------------------------------------------------------- walking the tree


def find_segment(region: Mapping[str, Any], on: date) -> Mapping[str, Any] | None:
    """The segment of a region's tree that holds a day (None outside the covered days)."""
    day = on.isoformat()
    return next((s for s in region["segments"] if s["from"] <= day <= s["to"]), None)


def walk(
    data: Mapping[str, Any], region: str, service: str, on: date, answers: Mapping[str, str], proposal: str = ""
) -> tuple[list[str], Mapping[str, Any] | None]:
    """Follow the answers from the root of a tree; return the questions asked, and the outcome
    reached (with the date filled in), or None when a question has no answer yet."""
    reg = next(r for r in data["regions"] if r["id"] == region)
    seg = find_segment(reg, on)
    assert seg is not None, f"{on} lies outside the days the guide covers for {region}"
    node = data["nodes"][seg["roots"][service][proposal]]
    asked: list[str] = []
    while "q" in node:
        key = node["q"]
        options = dict((value, child) for value, child in node["a"])
        if len(options) == 1:
            node = data["nodes"][next(iter(options.values()))]
            continue
        asked.append(key)
        if key not in answers:
            return asked, None
        node = data["nodes"][options[answers[key]]]
    found = data["outcomes"][node["o"]]
    found = {**found, "trace": [data["steps"][i] for i in found["trace"]]}
    filled = json.loads(json.dumps(found).replace(DATE_MARK, on.isoformat()))
    assert isinstance(filled, dict)
    return asked, filled


# --------------------------------------------------------------------------- the page


SCRIPT = Path(__file__).with_name("finder.js")
STYLE = """
.pa-guide { margin: 1rem 0; max-width: 100%; }
.pa-guide-field { margin: 0.6rem 0; }
.pa-guide-field label { display: block; font-weight: 600; }
.pa-guide-field small { display: block; }
.pa-guide select, .pa-guide input { font: inherit; max-width: 100%; padding: 0.25rem; box-sizing: border-box; }
.pa-guide select { width: 100%; }
.pa-guide-field { max-width: 40rem; min-width: 0; }
.pa-guide-question { border: 1px solid #8a8a8a; border-radius: 4px; padding: 0.5rem 0.75rem; margin: 0.75rem 0; min-width: 0; }
.pa-guide-question legend { font-weight: 600; font-size: 1.1rem; float: none; width: auto; padding: 0 0.25rem; }
.pa-guide-answers { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.pa-guide button { font: inherit; padding: 0.4rem 0.75rem; border: 1px solid #1a5fb4; border-radius: 4px;
  background: #fff; color: #174ea6; cursor: pointer; max-width: 100%; text-align: left; }
.pa-guide button:hover { background: #e8f0fe; }
.pa-guide button:focus-visible, .pa-guide a:focus-visible, .pa-guide h3:focus-visible { outline: 3px solid #174ea6; outline-offset: 2px; }
.pa-guide .pa-guide-change { margin-left: 0.5rem; padding: 0.1rem 0.5rem; font-size: 0.9rem; }
.pa-guide-given { padding-left: 1.25rem; }
.pa-guide-given li { margin: 0.25rem 0; }
.pa-guide-result { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.25rem 1rem; }
.pa-guide-result dt { font-weight: 600; }
.pa-guide-result dd { margin: 0; }
.pa-guide-open dd:first-of-type em { color: #a51d2d; font-weight: 600; font-style: normal; }
.pa-guide-outcome, .pa-guide-cite, .pa-guide-trace { overflow-wrap: anywhere; }
.pa-guide-trace li { margin: 0.4rem 0; }
@media (max-width: 600px) { .pa-guide-result { grid-template-columns: minmax(0, 1fr); } .pa-guide-result dd { margin-bottom: 0.4rem; } }
"""


@dataclass
class Guide:
    """The guide for the book: shows a short summary as text and the working guide as HTML."""

    data: dict[str, Any]
    stats: list[RegionStats]

    def summary(self) -> str:
        parts = [f"{s.region.label}: {s.questions} frågor, {s.leaves} utfall" for s in self.stats]
        return "Avgiftsguiden: " + "; ".join(parts)

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        payload = dumps(self.data).replace("</", "<\\/")
        script = SCRIPT.read_text(encoding="utf-8")
        return (
            f"<style>{STYLE}</style>\n"
            f'<div id="ag-guide" class="pa-guide" data-summary="{html.escape(self.summary())}">'
            "<noscript>Avgiftsguiden kräver JavaScript.</noscript></div>\n"
            f'<script type="application/json" id="ag-tree">{payload}</script>\n'
            f"<script>\n{script}\n</script>"
        )


def guide(book: RuleBook) -> Guide:
    data, stats = build(book)
    return Guide(data, stats)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m patientavgift.finder", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the tree as JSON to this file")
    args = parser.parse_args(argv)
    from .rules import load_rules

    began = time.perf_counter()
    data, stats = build(load_rules())
    text = dumps(data)
    for s in stats:
        print(
            f"{s.region.value}: {s.questions} questions, {s.leaves} leaves, {s.trees} trees, "
            f"{s.calls} engine calls, {s.seconds:.1f} s"
        )
    print(f"tree: {len(text.encode())} bytes, {len(data['nodes'])} nodes, {len(data['outcomes'])} outcomes, ", end="")
    print(f"{time.perf_counter() - began:.1f} s")
    if args.out:
        from .outputs import atomic

        with atomic([args.out]) as (part,):
            part.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
