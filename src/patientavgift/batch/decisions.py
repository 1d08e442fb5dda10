"""The rules over columns: `engine.decide`, the age exemptions and the ceiling amount, each worked out
once per distinct combination and spread over the rows.

A region's rules read only the facts of a contact and the date; the date matters only through
which rule rows, amounts and exemptions are in force. So the days are cut into *segments* (the
stretches between two dates where any rule value starts or ends) and `engine.decide` runs once per
distinct (key, segment). A register of millions of contacts has a few thousand. Where an
undetermined decision's reason names the date, each date gets its own wording (`Rules._on_day`).
Answers already worked out are looked up in compiled hash tables (`_Memo`), so a batch costs a
few passes over its rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd

from ..confidence import Confidence, weakest
from ..engine import (
    Decision,
    Selection,
    decide,
    exemption,
)
from ..model import Contact, ProgrammeKind, Region, Service
from ..register import (
    cell_text,
)
from ..rules import RuleBook
from .codes import EPOCH, I8, I32, I64, REGIONS, Coded, Encoder


def boundaries(book: RuleBook) -> I32:
    """Every day on which some rule value starts or stops, plus every 1 January (the ceiling's year)."""
    days: set[date] = {date(y, 1, 1) for y in range(1900, 2202)}

    def add(item: Any) -> None:
        days.add(item.valid_from)
        if item.valid_to is not None:
            days.add(item.valid_to + timedelta(days=1))

    for table in book.tables.values():
        for row in table.rows:
            add(row)
    for param in book.parameters.values():
        for value in param.values:
            add(value)
    for table in book.tables.values():
        for row in table.rows:
            add(row)
        for reading in table.readings:
            add(reading)
    for region in book.regions.values():
        for ex in region.exemptions:
            add(ex)
    if book.national is not None:
        for ex in book.national.exemptions:
            add(ex)
        add(book.national.ceiling.rule)
        for own in book.national.ceiling.regional:
            add(own)
    return np.array(sorted((d - EPOCH).days for d in days), dtype=np.int32)


@dataclass(frozen=True)
class Decided:
    """What `engine.decide` concluded for one combination of facts, as the output needs it."""

    list_fee: int | None
    qualified: bool | None
    registration: str | None
    contact_points: str | None
    category: str | None
    reasons: tuple[str, ...]
    missing: tuple[str, ...]
    confidence: Confidence = "verified"

    @classmethod
    def of(cls, d: Decision) -> Decided:
        return cls(
            d.list_fee,
            d.qualified,
            d.registration,
            cell_text(d.contact_points) if d.contact_points is not None else None,
            d.category.value if isinstance(d.category, ProgrammeKind) else None,
            tuple(d.reasons),
            tuple(sorted(d.missing)),
            weakest(step.confidence for step in d.trace),
        )


class Rules:
    """The rule book evaluated once per distinct combination, remembered across batches."""

    def __init__(self, book: RuleBook, chosen: Selection, encoder: Encoder) -> None:
        self.book = book
        self.chosen = chosen
        self.encoder = encoder
        self.bounds = boundaries(book)
        self.segments = len(self.bounds) + 1
        # Every fact column of the vocabulary fits: about 10**14 combinations times a few hundred segments.
        assert encoder.key_span * self.segments < 2**62, "the fact key no longer fits in 64 bits"
        self.decided: list[Decided] = []
        self._index: dict[Decided, int] = {}
        self._by_segment = _Memo()  # key * segments + segment -> decision (-1: decide per day)
        self._per_day_keys: list[int] = []  # keys whose decisions are worded per day, by their number
        self._key_number = _Memo()
        self._by_day = _Memo()  # key number << DAY_BITS | (day + 2**(DAY_BITS - 1)) -> decision
        self._contacts: dict[int, tuple[Contact, Region, Service | None]] = {}
        self._templates: dict[tuple[int, int], tuple[Decided, str] | None] = {}
        self._exempt = _Memo()
        # By region and segment (and age below DENSE_AGES), for `_rule_rows`; -1 / _NOT_FOUND: not yet known.
        self._exempt_at = np.full(len(REGIONS) * self.segments * DENSE_AGES, -1, dtype=np.int8)
        self._ceiling_at = np.full(len(REGIONS) * self.segments, _NOT_FOUND, dtype=np.int32)

    def segments_of(self, day: I32, valid: npt.NDArray[np.bool_]) -> I32:
        """The segment of every row's day (rows not valid may hold any day; they get some segment)."""
        if not valid.any():
            return np.zeros(len(day), dtype=np.int32)
        first, last = int(day[valid].min()), int(day[valid].max())
        table = np.searchsorted(self.bounds, np.arange(first, last + 1, dtype=np.int32), side="right")
        segment: I32 = table.astype(np.int32)[np.clip(day, first, last) - first]
        return segment

    def day_of(self, segment: int) -> date:
        """A day inside a segment (its first day; the day before the first boundary for segment 0)."""
        first = int(self.bounds[segment - 1]) if segment > 0 else int(self.bounds[0]) - 1
        return EPOCH + timedelta(days=first)

    def _store(self, d: Decision | Decided) -> int:
        item = d if isinstance(d, Decided) else Decided.of(d)
        index = self._index.get(item)
        if index is None:
            index = self._index[item] = len(self.decided)
            self.decided.append(item)
        return index

    def _decide(self, key: int, on: date) -> Decision:
        known = self._contacts.get(key)
        if known is None:  # (the facts are checked once per key; each day only changes the date)
            facts, region, service = self.encoder.decode(key)
            known = self._contacts[key] = (Contact.model_validate({**facts, "date": on}), region, service)
        contact, region, service = known
        return decide(self.book, contact.model_copy(update={"date": on}), region, service, self.chosen)

    def _on_day(self, key: int, day: int) -> Decided:
        """The decision of a key on one day whose reasons may name the day.

        Within a segment the rule data do not change, so the decisions of two days differ only
        where a reason names the day. The segment's first day is decided, and its date in the
        reasons is replaced by the day's. This is trusted only after the segment's last day has
        been decided and found equal to the first with its date so replaced; otherwise (or when
        the first day's date appears in a reason for another cause) every day is decided.
        """
        segment = int(np.searchsorted(self.bounds, day, side="right"))
        if (key, segment) not in self._templates:
            self._templates[(key, segment)] = self._template(key, segment)
        template = self._templates[(key, segment)]
        on = EPOCH + timedelta(days=day)
        if template is None:
            return Decided.of(self._decide(key, on))
        first, named = template
        return replace(first, reasons=tuple(r.replace(named, str(on)) for r in first.reasons))

    def _template(self, key: int, segment: int) -> tuple[Decided, str] | None:
        if segment == 0:
            first, last = int(self.bounds[0]) - 2, int(self.bounds[0]) - 1
        elif segment == len(self.bounds):
            first, last = int(self.bounds[-1]), int(self.bounds[-1]) + 1
        else:
            first, last = int(self.bounds[segment - 1]), int(self.bounds[segment]) - 1
        a, b = (EPOCH + timedelta(days=d) for d in (first, last))
        early = Decided.of(self._decide(key, a))
        if last == first:
            return early, str(a)
        late = Decided.of(self._decide(key, b))
        moved = replace(early, reasons=tuple(r.replace(str(a), str(b)) for r in early.reasons))
        return (early, str(a)) if moved == late else None

    def _segment_decision(self, combined: int) -> int:
        """The decision of a (key, segment); -1 when it is worded per day (see `_on_day`)."""
        key, segment = divmod(combined, self.segments)
        d = self._decide(key, self.day_of(segment))
        return -1 if d.list_fee is None or d.reasons else self._store(d)

    def decisions(self, key: I64, day: I32, segment: I32) -> I32:
        """The decision index of every row (rows must be valid)."""
        out = _per_distinct(key * self.segments + segment, self._by_segment, self._segment_decision)
        per_day = np.flatnonzero(out < 0)
        if len(per_day):
            number = _per_distinct(key[per_day], self._key_number, self._number_key).astype(np.int64)
            pairs = (number << DAY_BITS) | (day[per_day].astype(np.int64) + (1 << (DAY_BITS - 1)))
            out[per_day] = _per_distinct(pairs, self._by_day, self._day_decision)
        return out

    def _number_key(self, key: int) -> int:
        self._per_day_keys.append(key)
        return len(self._per_day_keys) - 1

    def _day_decision(self, pair: int) -> int:
        number, day = pair >> DAY_BITS, (pair & ((1 << DAY_BITS) - 1)) - (1 << (DAY_BITS - 1))
        return self._store(self._on_day(self._per_day_keys[number], day))

    def apply(
        self,
        enc: Coded,
        segment: I32,
        into: dict[str, npt.NDArray[Any]],
    ) -> tuple[I32, I32, I32, npt.NDArray[np.bool_]]:
        """Per row: the decision index (-1: the row is not valid), the ceiling amount in force, the
        fee before the ceiling and whether no age rules were in force (see `_net`).

        Rows whose answers are already known are done in one compiled loop; the others go
        through `decisions`, `exemptions` and `ceilings`. `into` may give the arrays to fill.
        """
        n = len(enc.key)

        def out(name: str, kind: Any) -> npt.NDArray[Any]:
            found = into.get(name)
            return found if found is not None else np.empty(n, dtype=kind)

        decision, ceiling, net = out("decision", np.int32), out("ceiling", np.int32), out("net", np.int32)
        unknown, lacking = out("exempt_unknown", np.bool_), np.empty(n, dtype=np.bool_)
        decided, numbers, by_day = ((m.slots, m.values) for m in (self._by_segment, self._key_number, self._by_day))
        fees = list_fees(self.decided)
        valid = ~enc.invalid
        if _rule_rows(
            valid, enc.key, enc.day, segment, enc.region, enc.age, self.segments, decided, numbers, by_day,
            self._exempt_at, self._ceiling_at, fees, decision, ceiling, net, unknown, lacking
        ):  # fmt: skip
            rows = np.flatnonzero(lacking)
            seg, region, age = segment[rows], enc.region[rows], enc.age[rows]
            decision[rows] = d = self.decisions(enc.key[rows], enc.day[rows], seg)
            ceiling[rows] = self.ceilings(region, seg)
            net[rows], unknown[rows] = _net(d, list_fees(self.decided), self.exemptions(region, seg, age))
        return decision, ceiling, net, unknown

    def _exemption(self, combined: int) -> int:
        rest, age = divmod(combined, AGE_SPAN)
        region, segment = divmod(rest, self.segments)
        free, _, _ = exemption(self.book, REGIONS[region], age, self.day_of(segment))
        return 2 if free is None else int(free)

    def exemptions(self, region: I32, segment: I32, age: I32) -> I8:
        """Per row: 1 free by age, 0 not, 2 cannot be told (no age rules in force)."""
        place = region.astype(np.int64) * self.segments + segment
        exempt = _per_distinct(place * AGE_SPAN + age, self._exempt, self._exemption).astype(np.int8)
        young = (age >= 0) & (age < DENSE_AGES)
        self._exempt_at[place[young] * DENSE_AGES + age[young]] = exempt[young]
        return exempt

    def cut_confidence(self, region: int, on: date, age: int) -> int:
        """How sure a fee lowered below its list fee is, by what lowered it (as `engine.price_contacts`
        counts it): the age exemption when it applies, else the ceiling in force on the day (its
        position in `CONFIDENCE_LEVELS`)."""
        free, step, _ = exemption(self.book, REGIONS[region], age if age >= 0 else None, on)
        if free and step is not None:
            return CONFIDENCE_LEVELS.index(step.confidence or "verified")
        ceiling = self.book.ceiling(REGIONS[region], on)
        return CONFIDENCE_LEVELS.index(ceiling.confidence if ceiling else "verified")

    def ceilings(self, region: I32, segment: I32) -> I32:
        """Per row: the ceiling amount in force in the care region on the day (-1: none in the data)."""
        place = region.astype(np.int64) * self.segments + segment
        for p in np.unique(place[self._ceiling_at[place] == _NOT_FOUND]).tolist():
            r, s = divmod(p, self.segments)
            amount = self.book.ceiling(REGIONS[r], self.day_of(s))
            self._ceiling_at[p] = -1 if amount is None else amount.amount
        ceiling: I32 = self._ceiling_at[place]
        return ceiling


@numba.njit(cache=True, nogil=True)
def _net_fee(fee: int, exempt: int) -> tuple[int, bool]:
    """The fee before the ceiling from the list fee (-1 undetermined) and the age exemption (1 free,
    0 not, 2 cannot be told): 0 when free by age or the list fee is 0, -1 when undetermined; and
    whether a positive list fee is left undetermined because no age rules are in force."""
    if exempt == 1 or fee == 0:
        return 0, False
    if fee < 0 or exempt == 2:
        return -1, exempt == 2 and fee > 0
    return fee, False


@numba.njit(cache=True, nogil=True)
def _net(decision: I32, fees: I32, exempt: I8) -> tuple[I32, npt.NDArray[np.bool_]]:
    """`_net_fee` per row, from each row's decision index (-1: undetermined) and exemption."""
    n = len(decision)
    net = np.empty(n, np.int32)
    unknown_age = np.zeros(n, np.bool_)
    for i in range(n):
        net[i], unknown_age[i] = _net_fee(fees[decision[i]] if decision[i] >= 0 else -1, exempt[i])
    return net, unknown_age


DENSE_AGES = 128
"""Ages below this have their exemption answers in a plain table (older ones go the slow way)."""


@numba.njit(cache=True, nogil=True)
def _rule_rows(
    valid: npt.NDArray[np.bool_],
    key: I64,
    day: I32,
    segment: I32,
    region: I32,
    age: I32,
    segments: int,
    decided: tuple[I64, I32],
    numbers: tuple[I64, I32],
    by_day: tuple[I64, I32],
    exempt_at: I8,
    ceiling_at: I32,
    fees: I32,
    decision: I32,
    ceiling: I32,
    net: I32,
    unknown_age: npt.NDArray[np.bool_],
    lacking: npt.NDArray[np.bool_],
) -> int:
    """Per row, what `Rules.decisions`, `exemptions`, `ceilings` and `_net` give, from the answers
    already worked out: the decisions' hash tables (`_Memo` slots and values; a decision worded
    per day through the key's number and the day) and plain tables by region and segment (and
    age) for exemptions and ceilings. A valid row with an answer not yet there is marked in
    `lacking` and left for the caller. Returns how many rows are lacking."""
    count = 0
    for i in range(len(valid)):
        lacking[i] = False
        if not valid[i]:
            decision[i] = -1
            ceiling[i] = -1
            net[i] = -1
            unknown_age[i] = False
            continue
        d = decided[1][_slot(decided[0], key[i] * segments + segment[i])]
        if d == -1:
            number = numbers[1][_slot(numbers[0], key[i])]
            if number != _NOT_FOUND:
                pair = (int(number) << DAY_BITS) | (int(day[i]) + (1 << (DAY_BITS - 1)))
                d = by_day[1][_slot(by_day[0], pair)]
        place = np.int64(region[i]) * segments + segment[i]
        e = exempt_at[place * DENSE_AGES + age[i]] if 0 <= age[i] < DENSE_AGES else -1
        c = ceiling_at[place]
        if d < 0 or e < 0 or c == _NOT_FOUND:
            lacking[i] = True
            count += 1
            continue
        decision[i] = d
        ceiling[i] = c
        net[i], unknown_age[i] = _net_fee(fees[d], e)
    return count


def list_fees(decided: list[Decided]) -> I32:
    """The list fee of each decision, by decision index (-1: undetermined)."""
    return np.array([-1 if d.list_fee is None else d.list_fee for d in decided] or [-1], dtype=np.int32)


DAY_BITS = 23
"""Day numbers (days since 1970, years 1000-9999) fit in this many bits, sign included."""

AGE_SPAN = 16384
"""Ages are packed below this in the exemption key (a birth date gives at most about 10 000 years)."""


_EMPTY_KEY = np.iinfo(np.int64).min
_NOT_FOUND = np.iinfo(np.int32).min


@numba.njit(cache=True, nogil=True)
def _slot(slots: I64, key: int) -> int:
    """Where a key is, or the empty place where it would go (open addressing, Fibonacci hashing)."""
    mask = len(slots) - 1
    mixed = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    i = int(mixed ^ (mixed >> np.uint64(29))) & mask
    while slots[i] != key and slots[i] != _EMPTY_KEY:
        i = (i + 1) & mask
    return i


@numba.njit(cache=True, nogil=True)
def _look_up(slots: I64, values: I32, keys: I64, out: I32) -> int:
    """The value of every key (`_NOT_FOUND` where the table lacks it); returns how many were lacking."""
    lacking = 0
    for i in range(len(keys)):
        value = values[_slot(slots, keys[i])]
        out[i] = value
        lacking += value == _NOT_FOUND
    return lacking


@numba.njit(cache=True, nogil=True)
def _put(slots: I64, values: I32, keys: I64, new: I32) -> None:
    for i in range(len(keys)):
        at = _slot(slots, keys[i])
        slots[at] = keys[i]
        values[at] = new[i]


class _Memo:
    """Answers already worked out, by 64-bit key: a hash table that compiled loops can read.

    A register of millions of rows has a few thousand distinct keys; looking each row up here
    is several times cheaper than finding the distinct keys of every batch anew.
    """

    def __init__(self) -> None:
        self.slots = np.full(1024, _EMPTY_KEY, dtype=np.int64)
        self.values = np.full(1024, _NOT_FOUND, dtype=np.int32)
        self.count = 0

    def add(self, keys: I64, values: I32) -> None:
        self.count += len(keys)
        if 2 * self.count > len(self.slots):  # (kept at most half full, so that probes stay short)
            old = self.slots != _EMPTY_KEY
            kept_keys, kept_values = self.slots[old], self.values[old]
            size = 1 << (4 * self.count).bit_length()
            self.slots = np.full(size, _EMPTY_KEY, dtype=np.int64)
            self.values = np.full(size, _NOT_FOUND, dtype=np.int32)
            _put(self.slots, self.values, kept_keys, kept_values)
        _put(self.slots, self.values, keys, values)


def _per_distinct(keys: I64, memo: _Memo, compute: Callable[[int], int]) -> I32:
    """`compute(key)` once per distinct key (remembered in `memo` across batches), spread over the rows."""
    out = np.empty(len(keys), dtype=np.int32)
    if not _look_up(memo.slots, memo.values, keys, out):
        return out
    lacking = np.flatnonzero(out == _NOT_FOUND)
    codes, fresh = pd.factorize(keys[lacking])
    assert _EMPTY_KEY not in fresh  # (keys are built from small numbers)
    values = np.array([compute(k) for k in fresh.tolist()], dtype=np.int32)
    memo.add(fresh, values)
    out[lacking] = values[codes]
    return out


CONFIDENCE_LEVELS: tuple[Confidence, ...] = ("verified", "derived", "inferred", "unverified")


def load_compiled() -> None:
    """Load numba's compiled code of the rule lookups before it is needed (see `codes.load_compiled`)."""
    i32, i64 = np.zeros(1, dtype=np.int32), np.zeros(1, dtype=np.int64)
    _per_distinct(i64, _Memo(), lambda key: 0)
    table, i8 = (_Memo().slots, _Memo().values), np.zeros(1, dtype=np.int8)
    no = np.zeros(1, dtype=np.bool_)
    _rule_rows(
        no, i64, i32, i32, i32, i32, 1, table, table, table, i8, i32, i32, i32.copy(), i32.copy(), i32.copy(), no.copy(), no.copy()
    )  # fmt: skip
    _net(i32, i32, np.zeros(1, dtype=np.int8))
