"""Pricing a whole register at once: rules over columns, then one scan per patient for the ceiling.

The result is the same as pricing every patient's contacts through `engine.price_contacts` (the
tests check this on random registers); only the way there differs.

1. **Rules over columns.** A region's rules read only the facts of a contact and the date; the
   date matters only through which rule rows, amounts and exemptions are in force. So each cell
   is turned into a small code, the codes of a row into one key, and the date into a *segment*
   (the stretch between two dates where any rule value starts or ends). `engine.decide` runs once
   per distinct (key, segment), the same for the age exemptions and the ceiling amount, and the
   answers are spread back over the rows. A register of millions of contacts has a few thousand
   distinct combinations. Where a decision is undetermined, its reason may name the date, so it
   is decided once per distinct (key, date) instead.
2. **The ceiling, per patient.** The rows are sorted by patient, date and line, and one compiled
   loop walks each patient's contacts with the 12-month period, the running sum and the frikort,
   the same steps as the engine.
3. **Memory bounded.** The register is read in batches. When it has more rows than `chunk_rows`,
   the few columns the ceiling needs are spilled to disk in buckets by patient (a patient's rows
   always land in the same bucket) and each bucket is sorted and scanned on its own. The outcome
   columns are kept per row (about 20 bytes each) and written when the register is read a second
   time, in its own order, so every input column is copied unchanged.
"""

from __future__ import annotations

import csv
import math
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from pydantic import ValidationError
from tqdm import tqdm

from .engine import (
    UNKNOWN_EARLIER_CEILING,
    UNKNOWN_EARLIER_FEE,
    Decision,
    Selection,
    _exempt,
    decide,
    no_age_rules,
    no_ceiling,
    period_end,
)
from .model import FACT_TYPES, Contact, Patient, Programme, ProgrammeKind, Region, Service
from .register import (
    BLANK,
    CONTACT_COLUMNS,
    KNOWN_COLUMNS,
    OUTCOME_COLUMNS,
    PROGRAMME_COLUMNS,
    RegisterError,
    Row,
    Summary,
    _cell,
    _parse,
    _typed,
    read_header,
    rejects_path,
    text_cell,
)
from .rules import RuleBook

EPOCH = date(1970, 1, 1)
BATCH_ROWS = 250000
CHUNK_ROWS = 4_000_000
"""Registers with more rows than this are priced bucket by bucket (patients kept together)."""
PROGRESS_ROWS = 200_000
"""Runs on registers at least this long show a progress bar on stderr."""

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]

# --------------------------------------------------------------------------- cells to codes

FACT_COLUMNS: tuple[str, ...] = ("region", "service", *CONTACT_COLUMNS, *PROGRAMME_COLUMNS)
"""Every column that can change what the rules decide about a contact."""


def _choices(column: str) -> list[Any]:
    """The values a fact column can take, in code order (code 0 is 'not given')."""
    if column == "kva_codes":
        return [True]  # only whether codes are given can matter to a rule (`given: kva_codes`)
    kind = FACT_TYPES[column]
    if kind is bool:
        return [False, True]
    return list(kind)


def _default(column: str) -> Any:
    """The value a contact has when the column is empty (the model's default, e.g. purpose care)."""
    if column in Contact.model_fields:
        return Contact.model_fields[column].default
    return None


MISSING_DAY = -(2**31)


class _Cells:
    """Every distinct text seen in one column, checked once, with its codes (kept across batches).

    Slot 0 stands for an empty cell; every other text gets the next slot. A batch's texts are
    looked up among those already seen in one vectorised step, so only new texts reach Python.
    """

    def __init__(self, column: str, radix: int | None, region_code: dict[Region, int]) -> None:
        self.column = column
        self.radix = radix
        self.region_code = region_code
        self.value_set = pa.array([], type=pa.string())
        self.texts: list[str] = []
        self.where: dict[str, int] = {}
        self.ok: list[bool] = [True]
        self.present: list[bool] = [False]
        self.code: list[int] = [self._code(None)]
        self.num: list[int] = [self._num(None)]
        self.md: list[int] = [0]
        self._arrays: dict[str, npt.NDArray[Any]] = {}

    def _code(self, value: Any) -> int:
        """The value's digit in the fact key (0: not given; a default counts as given)."""
        if self.radix is None:
            return 0
        if self.column == "kva_codes":
            return int(value is not None)
        choices = _choices(self.column)
        value = value if value is not None else _default(self.column)
        return choices.index(value) + 1 if value in choices else 0

    def _num(self, value: Any) -> int:
        """The value as a number: region index, day number or age (-1 or MISSING_DAY when absent)."""
        if self.column in ("region", "home_region"):
            return self.region_code[value] if value is not None else -1
        if self.column in ("date", "birth_date"):
            return (value - EPOCH).days if value is not None else MISSING_DAY
        if self.column == "age":
            return int(value) if value is not None else -1
        return 0

    def _add(self, raw: str) -> None:
        text = raw.strip(BLANK)
        valid, value = _check_cell(self.column, text) if text else (True, None)
        self.texts.append(raw)
        self.ok.append(valid)
        self.present.append(text != "")
        self.code.append(self._code(value))
        self.num.append(self._num(value))
        self.md.append(value.year * 512 + value.month * 32 + value.day if isinstance(value, date) else 0)

    def slots(self, array: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
        """The slot of every row's text (new texts are checked and added first)."""
        texts, idx = _texts(array)
        dictionary = pa.array(texts, type=pa.string())
        pos = pc.index_in(dictionary, value_set=self.value_set).fill_null(-1).to_numpy(zero_copy_only=False)
        pos = pos.astype(np.int64) + 1
        new = [i for i in np.flatnonzero(pos == 0).tolist() if texts[i] is not None]
        if new:
            for i in new:
                text = texts[i] or ""
                if text not in self.where:  # (a dictionary may hold a text twice)
                    self._add(text)
                    self.where[text] = len(self.texts)
                pos[i] = self.where[text]
            self.value_set = pa.array(self.texts, type=pa.string())
            self._arrays = {}
        return np.append(pos, 0)[idx]

    def array(self, name: str) -> npt.NDArray[Any]:
        """One of the per-slot tables as a NumPy array (rebuilt after new texts)."""
        found = self._arrays.get(name)
        if found is None:
            kind = {"ok": np.bool_, "present": np.bool_, "code": np.int64, "num": np.int64, "md": np.int64}[name]
            found = self._arrays[name] = np.array(getattr(self, name), dtype=kind)
        return found


@numba.njit(cache=True)
def _accumulate(
    slots: npt.NDArray[np.int64],
    ok: npt.NDArray[np.bool_],
    code: npt.NDArray[np.int64],
    radix: int,
    key: npt.NDArray[np.int64],
    invalid: npt.NDArray[np.bool_],
) -> None:
    """Add one column's digit to every row's fact key and mark rows whose cell is not allowed."""
    for i in range(len(slots)):
        s = slots[i]
        if not ok[s]:
            invalid[i] = True
        key[i] += code[s] * radix


_REGIONS = {r.value: r for r in Region}
_SERVICES = {s.value: s for s in Service}


def _check_cell(column: str, text: str) -> tuple[bool, Any]:
    """Validate one cell with the same models as the row-by-row path (so both accept the same rows)."""
    value = _typed(column, text)
    try:
        if column == "region":
            region = _REGIONS.get(text)
            return region is not None, region
        if column == "service":
            service = _SERVICES.get(text)
            return service is not None, service
        if column == "date":
            return True, Contact.model_validate({"date": text}).date
        if column in ("age", "birth_date", "home_region"):
            return True, getattr(Patient.model_validate({column: value}), column)
        if column.startswith("programme."):
            key = column.split(".", 1)[1]
            return True, getattr(Programme.model_validate({key: value}), key)
        if column == "patient_id":
            return True, text
        contact = Contact.model_validate({"date": "2000-01-01", column: value})
        return True, getattr(contact, column)
    except ValidationError:
        return False, None


def _texts(array: pa.Array | pa.ChunkedArray) -> tuple[list[str | None], npt.NDArray[np.int64]]:
    """A column as its distinct texts and, per row, the index of its text (-1 for null)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_dictionary(array.type):
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            array = pc.cast(array, pa.string()) if not pa.types.is_boolean(array.type) else _bool_text(array)
        array = pc.dictionary_encode(array)
    dictionary = array.dictionary
    if not pa.types.is_string(dictionary.type):
        dictionary = pc.cast(dictionary, pa.string())
    indices = array.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return dictionary.to_pylist(), indices


def _bool_text(array: pa.Array) -> pa.Array:
    return pc.if_else(array, pa.scalar("true"), pa.scalar("false"))


@dataclass
class _Encoded:
    """One batch of rows as codes: what the rules and the ceiling need, nothing else."""

    invalid: npt.NDArray[np.bool_]
    key: I64  # the facts of the contact as one number (mixed radix over FACT_COLUMNS)
    day: I32  # contact date, days since 1970-01-01
    age: I32  # age on the contact date (-1 when not known)
    region: I32  # code of the care region (index in Region, -1 when not valid)
    home: I32  # code of the home region (index in Region, -1 when not given)
    birth: I32  # birth date in days (-2**31 when not given)
    pid: pa.Array  # patient ids, trimmed


class Encoder:
    """Turns register batches into codes; remembers every distinct cell text it has checked."""

    def __init__(self, header: list[str]) -> None:
        self.fact_columns = [c for c in FACT_COLUMNS if c in header]
        self.radix: dict[str, int] = {}
        total = 1
        for column in self.fact_columns:
            self.radix[column] = total
            total *= len(_choices(column)) + 1
        self.key_span = total
        self.region_code = {r: i for i, r in enumerate(Region)}
        self.cells = {c: _Cells(c, self.radix.get(c), self.region_code) for c in header if c in KNOWN_COLUMNS}

    def decode(self, key: int) -> tuple[dict[str, Any], Region, Service | None]:
        """The facts of a key, as a contact dict (without date), its region and service."""
        facts: dict[str, Any] = {}
        programme: dict[str, Any] = {}
        region: Region | None = None
        service: Service | None = None
        for column in reversed(self.fact_columns):
            code, key = divmod(key, self.radix[column])
            if code == 0:
                continue
            value = _choices(column)[code - 1]
            if column == "region":
                region = value
            elif column == "service":
                service = value
            elif column == "kva_codes":
                facts["kva_codes"] = ["AA000"]
            elif column.startswith("programme."):
                programme[column.split(".", 1)[1]] = value
            else:
                facts[column] = value
        if programme:
            facts["programme"] = programme
        assert region is not None
        return facts, region, service

    def encode(self, batch: pa.RecordBatch | pa.Table) -> _Encoded:
        """Check every cell of a batch and turn the rows into codes (a row with a bad cell is invalid)."""
        n = batch.num_rows
        invalid = np.zeros(n, dtype=np.bool_)
        key = np.zeros(n, dtype=np.int64)
        slots: dict[str, npt.NDArray[np.int64]] = {}
        for column, cells in self.cells.items():
            if column == "patient_id":
                continue
            rows = slots[column] = cells.slots(batch.column(column))
            _accumulate(rows, cells.array("ok"), cells.array("code"), cells.radix or 0, key, invalid)

        def gather(column: str, table: str, missing: int) -> npt.NDArray[np.int64]:
            if column not in slots:
                return np.full(n, missing, dtype=np.int64)
            values: npt.NDArray[np.int64] = self.cells[column].array(table)[slots[column]]
            return values

        def given(column: str) -> npt.NDArray[np.bool_]:
            if column not in slots:
                return np.zeros(n, dtype=np.bool_)
            values: npt.NDArray[np.bool_] = self.cells[column].array("present")[slots[column]]
            return values

        region = gather("region", "num", -1).astype(np.int32)
        invalid |= region < 0
        day = gather("date", "num", MISSING_DAY).astype(np.int32)
        invalid |= day == MISSING_DAY
        home = gather("home_region", "num", -1).astype(np.int32)
        birth = gather("birth_date", "num", MISSING_DAY).astype(np.int32)
        has_birth = birth != MISSING_DAY
        invalid |= given("age") == given("birth_date")  # both, or neither
        invalid |= has_birth & (birth > day)
        age = gather("age", "num", -1).astype(np.int32)
        if has_birth.any():
            born = gather("birth_date", "md", 0)
            on = gather("date", "md", 0)
            years = on // 512 - born // 512 - ((on % 512) < (born % 512))
            age = np.where(has_birth & ~invalid, years, age).astype(np.int32)
        pid = batch.column("patient_id")
        if isinstance(pid, pa.ChunkedArray):
            pid = pid.combine_chunks()
        if not pa.types.is_string(pid.type):
            pid = pc.cast(pid, pa.string())
        pid = pc.utf8_trim(pid, BLANK)
        invalid |= pc.fill_null(pc.equal(pid, ""), True).to_numpy(zero_copy_only=False)
        return _Encoded(invalid, key, day, age, region, home, birth, pid)


# --------------------------------------------------------------------------- rules over columns


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

    @classmethod
    def of(cls, d: Decision) -> Decided:
        return cls(
            d.list_fee,
            d.qualified,
            d.registration,
            _cell(d.contact_points) if d.contact_points is not None else None,
            d.category.value if isinstance(d.category, ProgrammeKind) else None,
            tuple(d.reasons),
            tuple(sorted(d.missing)),
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
        self._by_segment: dict[int, int] = {}  # key * segments + segment -> decision (-1: decide per day)
        self._by_day: dict[tuple[int, int], int] = {}
        self._exempt: dict[int, int] = {}
        self._ceiling: dict[int, int] = {}
        self.regions = list(Region)

    def day_of(self, segment: int) -> date:
        """A day inside a segment (its first day; the day before the first boundary for segment 0)."""
        first = int(self.bounds[segment - 1]) if segment > 0 else int(self.bounds[0]) - 1
        return EPOCH + timedelta(days=first)

    def _store(self, d: Decision) -> int:
        item = Decided.of(d)
        index = self._index.get(item)
        if index is None:
            index = self._index[item] = len(self.decided)
            self.decided.append(item)
        return index

    def _decide(self, key: int, on: date) -> Decision:
        facts, region, service = self.encoder.decode(key)
        contact = Contact.model_validate({**facts, "date": on})
        return decide(self.book, contact, region, service, self.chosen)

    def _segment_decision(self, combined: int) -> int:
        """The decision of a (key, segment); -1 when it must be decided per day (its reasons may name the day)."""
        key, segment = divmod(combined, self.segments)
        d = self._decide(key, self.day_of(segment))
        return -1 if d.list_fee is None or d.reasons else self._store(d)

    def decisions(self, key: I64, day: I32, segment: I32) -> I32:
        """The decision index of every row (rows must be valid)."""
        out = _per_distinct(key * self.segments + segment, self._by_segment, self._segment_decision, np.int32)
        per_day = np.flatnonzero(out < 0)
        if len(per_day):
            keys, days = key[per_day], day[per_day]
            kcodes, kuniques = pd.factorize(keys)
            base, span = int(days.min()), int(days.max() - days.min()) + 1

            def on_day(pair: int) -> int:
                kc, offset = divmod(pair, span)
                k, dn = int(kuniques[kc]), base + offset
                hit = self._by_day.get((k, dn))
                if hit is None:
                    hit = self._by_day[(k, dn)] = self._store(self._decide(k, EPOCH + timedelta(days=dn)))
                return hit

            pairs = kcodes.astype(np.int64) * span + (days - base)
            out[per_day] = _per_distinct(pairs, {}, on_day, np.int32)
        return out

    def _exemption(self, combined: int) -> int:
        rest, age = divmod(combined, AGE_SPAN)
        region, segment = divmod(rest, self.segments)
        free, _, _ = _exempt(self.book, self.regions[region], age, self.day_of(segment))
        return 2 if free is None else int(free)

    def exemptions(self, region: I32, segment: I32, age: I32) -> I8:
        """Per row: 1 free by age, 0 not, 2 cannot be told (no age rules in force)."""
        combined = (region.astype(np.int64) * self.segments + segment) * AGE_SPAN + age
        return _per_distinct(combined, self._exempt, self._exemption, np.int8)

    def _ceiling_amount(self, combined: int) -> int:
        region, segment = divmod(combined, self.segments)
        amount = self.book.ceiling(self.regions[region], self.day_of(segment))
        return -1 if amount is None else amount.amount

    def ceilings(self, region: I32, segment: I32) -> I32:
        """Per row: the ceiling amount in force in the care region on the day (-1: none in the data)."""
        return _per_distinct(
            region.astype(np.int64) * self.segments + segment, self._ceiling, self._ceiling_amount, np.int32
        )


def list_fees(decided: list[Decided]) -> I32:
    """The list fee of each decision, by decision index (-1: undetermined)."""
    return np.array([-1 if d.list_fee is None else d.list_fee for d in decided] or [-1], dtype=np.int32)


AGE_SPAN = 16384
"""Ages are packed below this in the exemption key (a birth date gives at most about 10 000 years)."""


def _per_distinct(keys: I64, cache: dict[int, int], compute: Callable[[int], int], kind: Any) -> npt.NDArray[Any]:
    """`compute(key)` once per distinct key (remembered in `cache` across batches), spread over the rows."""
    codes, uniques = pd.factorize(keys)
    values = []
    for u in uniques.tolist():
        if u not in cache:
            cache[u] = compute(u)
        values.append(cache[u])
    table: npt.NDArray[Any] = np.array(values, dtype=kind)
    out: npt.NDArray[Any] = table[codes]
    return out


# --------------------------------------------------------------------------- the ceiling, per patient


@numba.njit(cache=True)
def _scan(
    first: npt.NDArray[np.bool_],
    line: I64,
    home: I32,
    birth: I32,
    day: I32,
    net: I32,
    ceiling: I32,
    ends: I32,
    day0: int,
) -> tuple[I32, I8, I8, I8, I8, I64, int, int]:
    """Walk each patient's contacts (sorted by patient, date, line) as `engine.price_contacts` does.

    Returns per row: fee (-1 undetermined), frikort (0 no, 1 yes, 2 unknown), whether the ceiling
    lowered the fee, the reason code of an undetermined fee (1 an earlier fee unknown, 2 an
    earlier ceiling unknown, 3 no ceiling for the year), and conflict (1 home region, 2 birth date
    differ from the patient's first row, whose line is returned too); the number of patients and of
    patients whose payments reached the ceiling.
    """
    n = len(day)
    fee = np.full(n, -1, np.int32)
    holds = np.zeros(n, np.int8)
    lowered = np.zeros(n, np.int8)
    why = np.zeros(n, np.int8)
    conflict = np.zeros(n, np.int8)
    ref = np.zeros(n, np.int64)
    patients = 0
    reaching = 0
    g = 0
    while g < n:
        e = g + 1
        while e < n and not first[e]:
            e += 1
        m = g
        for i in range(g + 1, e):
            if line[i] < line[m]:
                m = i
        patients += 1
        start = -1
        paid = 0
        frikort = False
        unknown = 0
        reached = False
        for i in range(g, e):
            if home[i] != home[m]:
                conflict[i] = 1
                ref[i] = line[m]
                continue
            if birth[i] != birth[m]:
                conflict[i] = 2
                ref[i] = line[m]
                continue
            on = day[i]
            if start >= 0 and on > ends[start - day0]:
                start = -1
                paid = 0
                frikort = False
            v = net[i]
            c = ceiling[i]
            holds[i] = 1 if frikort else 0
            if unknown != 0:
                holds[i] = 2
                if v == 0:
                    fee[i] = 0
                else:
                    why[i] = unknown
            elif frikort:
                fee[i] = 0
                lowered[i] = 1
            elif v < 0:
                unknown = 1
            elif v == 0:
                fee[i] = 0
            elif c < 0:
                why[i] = 3
                unknown = 2
            else:
                if start < 0:
                    start = on
                    paid = 0
                f = min(v, max(c - paid, 0))
                fee[i] = f
                if f < v:
                    lowered[i] = 1
                paid += f
                if paid >= c:
                    frikort = True
                    lowered[i] = 1
                    reached = True
        if reached:
            reaching += 1
        g = e
    return fee, holds, lowered, why, conflict, ref, patients, reaching


def _period_ends(day0: int, day1: int, months: int) -> I32:
    """For every day from day0 to day1: the last day of a high-cost period starting that day."""
    out = np.empty(day1 - day0 + 1, dtype=np.int32)
    for i in range(len(out)):
        start = EPOCH + timedelta(days=day0 + i)
        out[i] = (period_end(start, months) - EPOCH).days
    return out


def scan_patients(table: pa.Table, months: int) -> dict[str, Any]:
    """Sort one bucket by patient, date and line and run the ceiling scan over it."""
    if table.num_rows == 0:
        empty = np.zeros(0, dtype=np.int64)
        return {"line": empty, "patients": 0, "reaching": 0}
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame = frame.sort(["pid", "day", "line"])
    first = frame.select((pl.col("pid") != pl.col("pid").shift(1)).fill_null(True)).to_series().to_numpy()
    line = frame["line"].to_numpy()
    day = frame["day"].to_numpy()
    day0, day1 = int(day.min()), int(day.max())
    fee, holds, lowered, why, conflict, ref, patients, reaching = _scan(
        first,
        line,
        frame["home"].to_numpy(),
        frame["birth"].to_numpy(),
        day,
        frame["net"].to_numpy(),
        frame["ceiling"].to_numpy(),
        _period_ends(day0, day1, months),
        day0,
    )
    return {
        "line": line,
        "fee": fee,
        "holds": holds,
        "lowered": lowered,
        "why": why,
        "conflict": conflict,
        "ref": ref,
        "patients": patients,
        "reaching": reaching,
    }


# --------------------------------------------------------------------------- reading and writing


class _Ragged(Exception):
    """A CSV row has more or fewer fields than the header (the fast reader cannot number it)."""


def _batches(path: Path, header: list[str], columns: list[str] | None, exact: bool) -> Iterator[pa.RecordBatch]:
    """The register in batches of rows, every cell as text (CSV) or as stored (Parquet).

    `exact` reads a CSV with Python's own reader, one row at a time: slower, but it can keep a
    row whose number of fields is wrong (it is then rejected with that reason). The fast reader
    raises `_Ragged` when it meets such a row, and the caller starts over with `exact`.
    """
    wanted = columns or header
    if path.suffix.lower() == ".parquet":
        schema = pq.read_schema(path)
        # Texts with few distinct values come as dictionaries; patient ids are nearly all distinct.
        strings = [c for c in wanted if pa.types.is_string(schema.field(c).type) and c != "patient_id"]
        yield from pq.ParquetFile(path, read_dictionary=strings).iter_batches(batch_size=BATCH_ROWS, columns=wanted)
        return
    if exact:
        yield from _exact_batches(path, header, wanted)
        return

    ragged: list[str] = []

    def skip(row: Any) -> str:
        ragged.append(str(row.text))  # noted, and the whole read starts over with the exact reader
        return "skip"

    types = {c: pa.dictionary(pa.int32(), pa.string()) if c != "patient_id" else pa.string() for c in wanted}
    try:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(block_size=32 << 20),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip),
            convert_options=pa_csv.ConvertOptions(
                column_types=types, include_columns=wanted, strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
        for batch in reader:
            if ragged:
                raise _Ragged(ragged[0])
            yield batch
    except pa.ArrowInvalid as exc:
        raise RegisterError(f"{path}: cannot be read as CSV ({exc})") from None
    if ragged:
        raise _Ragged(ragged[0])


PROBLEM = "__problem__"


def _exact_batches(path: Path, header: list[str], wanted: list[str]) -> Iterator[pa.RecordBatch]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        while True:
            rows = [fields for _, fields in zip(range(BATCH_ROWS // 10), reader, strict=False)]
            if not rows:
                return
            data: dict[str, list[str | None]] = {
                c: [f[header.index(c)] if header.index(c) < len(f) else "" for f in rows] for c in wanted
            }
            data[PROBLEM] = [
                f"the row has {len(f)} fields but the header has {len(header)}" if len(f) != len(header) else None
                for f in rows
            ]
            yield pa.RecordBatch.from_pydict(data)


@dataclass
class _Columns:
    """Per row of the register (in file order): what the output and the summary need."""

    invalid: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    decision: list[I32] = field(default_factory=list)
    exempt_unknown: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    invoice: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    region: list[npt.NDArray[np.int8]] = field(default_factory=list)
    day: list[I32] = field(default_factory=list)
    age: list[I32] = field(default_factory=list)
    home: list[I32] = field(default_factory=list)
    birth: list[I32] = field(default_factory=list)
    problem: dict[int, str] = field(default_factory=dict)

    def joined(self) -> dict[str, Any]:
        kinds = {"invalid": np.bool_, "exempt_unknown": np.bool_, "invoice": np.bool_, "region": np.int8}
        return {
            name: np.concatenate(parts) if parts else np.zeros(0, dtype=kinds.get(name, np.int32))
            for name, parts in vars(self).items()
            if isinstance(parts, list)
        }


def _progress(total: int | None, what: str, enabled: bool, out: TextIO | None) -> tqdm[Any] | None:
    if not enabled or out is None:
        return None
    return tqdm(total=total, desc=what, unit=" rows", unit_scale=True, file=out, leave=False, mininterval=0.5)


@dataclass
class Run:
    """Figures of one run, beside the summary: time, memory and the bucket count."""

    seconds: float = 0.0
    peak_mb: float = 0.0
    buckets: int = 1


def peak_memory_mb() -> float:
    """The process's peak resident memory so far, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def price_register(
    book: RuleBook,
    register: Path,
    out: Path,
    chosen: Selection,
    rejects: Path | None = None,
    progress: TextIO | None = sys.stderr,
    chunk_rows: int = CHUNK_ROWS,
) -> tuple[Summary, Run]:
    """Read, validate and price a register in batches; write the priced rows and the rejected ones."""
    began = time.perf_counter()
    header = read_header(register)
    if PROBLEM in header:
        raise RegisterError(f"{register}: line 1: the column name {PROBLEM} is reserved")
    known = [c for c in header if c in KNOWN_COLUMNS]
    summary = Summary(ignored_columns=[c for c in header if c not in KNOWN_COLUMNS])
    rejects = rejects or rejects_path(out)
    parquet = register.suffix.lower() == ".parquet"
    total = pq.ParquetFile(register).metadata.num_rows if parquet else None
    estimate = total if total is not None else _estimate_rows(register)
    buckets = max(1, math.ceil(estimate / chunk_rows)) if chunk_rows > 0 else 1
    show = estimate >= PROGRESS_ROWS
    with tempfile.TemporaryDirectory(prefix="patientavgift-") as spill:
        try:
            exact = False
            columns, results, (patients, reaching) = _price_pass(
                book, chosen, register, header, known, exact, buckets, Path(spill), total, show, progress
            )
        except _Ragged:
            exact = True
            columns, results, (patients, reaching) = _price_pass(
                book, chosen, register, header, known, exact, buckets, Path(spill), total, show, progress
            )
    summary.patients = patients
    summary.patients_reaching_ceiling = reaching
    _write(book, register, header, out, rejects, exact, columns, results, summary, show, progress)
    assert summary.priced + summary.rejected == summary.read
    return summary, Run(time.perf_counter() - began, peak_memory_mb(), buckets)


def _estimate_rows(path: Path) -> int:
    """Rows of a CSV register, estimated from its size and its first lines."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        sample = handle.read(1 << 20)
    lines = max(sample.count(b"\n") - 1, 1)
    return int(size / (len(sample) / lines)) if sample else 0


def _price_pass(
    book: RuleBook,
    chosen: Selection,
    register: Path,
    header: list[str],
    known: list[str],
    exact: bool,
    buckets: int,
    spill: Path,
    total: int | None,
    show: bool,
    progress: TextIO | None,
) -> tuple[dict[str, Any], dict[str, Any], tuple[int, int]]:
    """Pass 1 (rules over every batch) and pass 2 (the ceiling per bucket of patients)."""
    encoder = Encoder(known)
    rules = Rules(book, chosen, encoder)
    columns = _Columns()
    writers: list[ipc.RecordBatchFileWriter] = []
    kept: list[pa.Table] = []
    schema = pa.schema(
        [
            ("pid", pa.string()),
            ("line", pa.int64()),
            ("day", pa.int32()),
            ("home", pa.int32()),
            ("birth", pa.int32()),
            ("net", pa.int32()),
            ("ceiling", pa.int32()),
        ]
    )
    if buckets > 1:
        writers = [ipc.new_file(spill / f"bucket-{k}.arrow", schema) for k in range(buckets)]
    bar = _progress(total, "reading and applying the rules", show, progress)
    start = 0
    for batch in _batches(register, header, known if not exact else None, exact):
        enc = encoder.encode(batch)
        n = batch.num_rows
        if exact:
            for i, problem in enumerate(batch.column(PROBLEM).to_pylist()):
                if problem:
                    columns.problem[start + i] = problem
                    enc.invalid[i] = True
        valid = ~enc.invalid
        decision = np.full(n, -1, dtype=np.int32)
        segment = np.searchsorted(rules.bounds, enc.day, side="right").astype(np.int32)
        decision[valid] = rules.decisions(enc.key[valid], enc.day[valid], segment[valid])
        fees = list_fees(rules.decided)
        list_fee = np.where(decision >= 0, fees[np.maximum(decision, 0)], -1)
        exempt = np.zeros(n, dtype=np.int8)
        exempt[valid] = rules.exemptions(enc.region[valid], segment[valid], enc.age[valid])
        ceiling = np.full(n, -1, dtype=np.int32)
        ceiling[valid] = rules.ceilings(enc.region[valid], segment[valid])
        net = np.where((exempt == 1) | (list_fee == 0), 0, np.where((list_fee < 0) | (exempt == 2), -1, list_fee))
        columns.invalid.append(enc.invalid)
        columns.decision.append(decision)
        columns.exempt_unknown.append((exempt == 2) & (list_fee > 0))
        columns.invoice.append((enc.home >= 0) & (enc.home != enc.region))
        columns.region.append(enc.region.astype(np.int8))
        columns.day.append(enc.day)
        columns.age.append(enc.age)
        columns.home.append(enc.home)
        columns.birth.append(enc.birth)
        rows = np.flatnonzero(valid)
        compact = pa.table(
            {
                "pid": enc.pid.take(pa.array(rows)),
                "line": pa.array(rows.astype(np.int64) + start + 2),
                "day": pa.array(enc.day[rows]),
                "home": pa.array(enc.home[rows]),
                "birth": pa.array(enc.birth[rows]),
                "net": pa.array(net[rows].astype(np.int32)),
                "ceiling": pa.array(ceiling[rows]),
            },
            schema=schema,
        )
        if writers:
            series = pl.from_arrow(compact.column("pid"))
            assert isinstance(series, pl.Series)
            bucket = (series.hash(seed=7) % buckets).to_numpy()
            for k, writer in enumerate(writers):
                writer.write_table(compact.filter(pa.array(bucket == k)))
        else:
            kept.append(compact)
        start += n
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    for writer in writers:
        writer.close()

    joined = columns.joined()
    joined["problem"] = columns.problem
    joined["decided"] = rules.decided
    rows_total = start
    results = {
        "fee": np.full(rows_total, -1, dtype=np.int32),
        "holds": np.zeros(rows_total, dtype=np.int8),
        "lowered": np.zeros(rows_total, dtype=np.int8),
        "why": np.zeros(rows_total, dtype=np.int8),
        "conflict": np.zeros(rows_total, dtype=np.int8),
        "ref": np.zeros(rows_total, dtype=np.int64),
    }
    patients = np.zeros(2, dtype=np.int64)
    bar = _progress(buckets, "pricing patients (buckets)", show and buckets > 1, progress)
    if writers:
        for k in range(buckets):
            with pa.memory_map(str(spill / f"bucket-{k}.arrow")) as source:
                patients += _scatter(ipc.open_file(source).read_all(), book.period_months(), results)
            (spill / f"bucket-{k}.arrow").unlink()
            if bar is not None:
                bar.update(1)
    else:
        whole = pa.concat_tables(kept) if kept else schema.empty_table()
        kept.clear()
        patients += _scatter(whole, book.period_months(), results)
    if bar is not None:
        bar.close()
    return joined, results, (int(patients[0]), int(patients[1]))


def _scatter(table: pa.Table, months: int, results: dict[str, Any]) -> npt.NDArray[np.int64]:
    scanned = scan_patients(table, months)
    index = scanned["line"] - 2
    for name, values in results.items():
        if name in scanned:
            values[index] = scanned[name]
    return np.array([scanned["patients"], scanned["reaching"]], dtype=np.int64)


# --------------------------------------------------------------------------- pass 3: the output


def _reason_text(d: Decided, exempt_unknown: bool, why: int, region: Region, on: date, age: int) -> str:
    """The `undetermined_reason` cell, worded as `register.outcome_cells` words it."""
    reasons = list(d.reasons)
    if exempt_unknown:
        reasons.append(no_age_rules(region, on, age))
    if why == 1:
        reasons.append(UNKNOWN_EARLIER_FEE)
    elif why == 2:
        reasons.append(UNKNOWN_EARLIER_CEILING)
    elif why == 3:
        reasons.append(no_ceiling(on))
    text = "; ".join(reasons) or "undetermined"
    if d.missing:
        text += f" (missing: {', '.join(d.missing)})"
    return text


def _write(
    book: RuleBook,
    register: Path,
    header: list[str],
    out: Path,
    rejects: Path,
    exact: bool,
    columns: dict[str, Any],
    results: dict[str, Any],
    summary: Summary,
    show: bool,
    progress: TextIO | None,
) -> None:
    """Read the register again and write each row to the output or the rejects file, in file order."""
    decided: list[Decided] = columns["decided"]
    regions = list(Region)
    invalid = columns["invalid"]
    rejected = invalid | (results["conflict"] > 0)
    fee = results["fee"]
    decision = np.maximum(columns["decision"], 0)
    d_list_fee = list_fees(decided)
    list_fee = d_list_fee[decision]
    priced = ~rejected
    summary.read = len(rejected)
    summary.rejected = int(rejected.sum())
    summary.priced = int(priced.sum())
    summary.undetermined = int((priced & (fee < 0)).sum())
    summary.revenue = int(fee[priced & (fee > 0)].sum(dtype=np.int64))
    reduced = priced & (list_fee > 0) & (fee >= 0) & (fee < list_fee)
    summary.free_by_ceiling = int((reduced & (results["lowered"] > 0)).sum())
    summary.free_by_exemption = int((reduced & (results["lowered"] == 0)).sum())

    # The decisions' values, spread over the rows by decision index (texts as dictionary columns).
    def texts(values: list[str | None]) -> tuple[npt.NDArray[np.int32], pa.Array]:
        """Per decision: the index of its text in a list without empties (-1: no text)."""
        unique = sorted({v for v in values if v is not None})
        where = {v: i for i, v in enumerate(unique)}
        index = np.array([where[v] if v is not None else -1 for v in values] or [-1], dtype=np.int32)
        return index, pa.array(unique, type=pa.string())

    def spread(table: tuple[npt.NDArray[np.int32], pa.Array], rows: npt.NDArray[np.int32]) -> pa.Array:
        index = table[0][rows]
        return pa.DictionaryArray.from_arrays(pa.array(np.maximum(index, 0), mask=index < 0), table[1])

    d_qualified = np.array([2 if d.qualified is None else int(d.qualified) for d in decided] or [2], dtype=np.int8)
    d_registration = texts([d.registration for d in decided])
    d_points = texts([d.contact_points for d in decided])
    d_category = texts([d.category for d in decided])
    reasons: dict[int, str] = {}

    parquet_out = out.suffix.lower() == ".parquet"
    writer: pq.ParquetWriter | None = None
    bar = _progress(summary.read, "writing", show, progress)
    with (
        out.open("wb") as good,
        rejects.open("w", encoding="utf-8", newline="") as bad,
    ):
        bad_rows = csv.writer(bad, lineterminator="\n")
        bad_rows.writerow(["line", *header, "reason"])
        start = 0
        wrote_header = False
        for batch in _batches(register, header, None, exact):
            n = batch.num_rows
            rows = slice(start, start + n)
            keep = priced[rows]
            lost = np.flatnonzero(~keep)
            if len(lost):
                records = batch.take(pa.array(lost)).to_pylist()
                for i, record in zip(lost.tolist(), records, strict=True):
                    line = start + i + 2
                    values = {k: text_cell(v) for k, v in record.items() if k != PROBLEM}
                    if invalid[start + i]:
                        reason = columns["problem"].get(start + i) or _parse(Row(line, values))
                        if reason is None:
                            raise AssertionError(f"line {line}: the row was found invalid but no reason was given")
                    else:
                        reason = _conflict_text(start + i, columns, results, regions)
                    bad_rows.writerow([line, *(values.get(c, "") for c in header), reason])
            take = np.flatnonzero(keep)
            kept = batch.select(header) if len(take) == n else batch.select(header).take(pa.array(take))
            index = take + start
            d = decision[index].astype(np.int32)
            f = fee[index]
            lf = d_list_fee[d]
            q = d_qualified[d]
            reason_cells = _reasons(decided, reasons, columns, results, decision, index, f < 0)
            holds = results["holds"][index]
            outcome = {
                "fee": pa.array(f, mask=f < 0),
                "list_fee": pa.array(lf, mask=lf < 0),
                "qualified": pa.array(q == 1, mask=q == 2),
                "registration": spread(d_registration, d),
                "contact_points": spread(d_points, d),
                "category": spread(d_category, d),
                "invoice_home_region": pa.array(columns["invoice"][index]),
                "frikort": pa.array(holds == 1, mask=holds == 2),
                "undetermined_reason": reason_cells,
            }
            assert tuple(outcome) == OUTCOME_COLUMNS
            result = pa.Table.from_arrays([*kept.columns, *outcome.values()], names=[*header, *OUTCOME_COLUMNS])
            if parquet_out:
                if writer is None:
                    plain = {"patient_id", "undetermined_reason"}
                    dictionary = [c for c in result.column_names if c not in plain]
                    writer = pq.ParquetWriter(good, result.schema, write_statistics=False, use_dictionary=dictionary)
                writer.write_table(result)
            else:
                frame = pl.from_arrow(result)
                assert isinstance(frame, pl.DataFrame)
                frame.write_csv(good, include_header=not wrote_header)
                wrote_header = True
            start += n
            if bar is not None:
                bar.update(n)
        if parquet_out and writer is None:
            writer = pq.ParquetWriter(good, pa.schema([(c, pa.string()) for c in [*header, *OUTCOME_COLUMNS]]))
        if writer is not None:
            writer.close()
        if not parquet_out and not wrote_header:
            good.write((",".join([*header, *OUTCOME_COLUMNS]) + "\n").encode())
    if bar is not None:
        bar.close()


def _reasons(
    decided: list[Decided],
    known: dict[int, str],
    columns: dict[str, Any],
    results: dict[str, Any],
    decision: I32,
    index: I64,
    undetermined: npt.NDArray[np.bool_],
) -> pa.Array:
    """The `undetermined_reason` cells of a batch: worded once per distinct reason, then spread."""
    rows = index[undetermined]
    cells = np.full(len(index), -1, dtype=np.int64)
    if len(rows):
        unknown_age = columns["exempt_unknown"][rows].astype(np.int64)
        why = results["why"][rows].astype(np.int64)
        # The day and the age only matter to the wording when the reason names them.
        dated = (unknown_age == 1) | (why == 3)
        day = np.where(dated, columns["day"][rows].astype(np.int64) + 2**20, 0)
        age = np.where(unknown_age == 1, columns["age"][rows].astype(np.int64), 0)
        region = np.where(unknown_age == 1, columns["region"][rows].astype(np.int64), 0)
        key = (
            (((decision[rows].astype(np.int64) * 4 + why) * 2 + unknown_age) * 32 + region) * 2**22 + day
        ) * 4096 + age
        codes, uniques = pd.factorize(key)
        texts: list[str] = []
        regions = list(Region)
        for u in uniques.tolist():
            text = known.get(u)
            if text is None:
                rest, a = divmod(u, 4096)
                rest, d = divmod(rest, 2**22)
                rest, r = divmod(rest, 32)
                rest, unknown = divmod(rest, 2)
                dec, w = divmod(rest, 4)
                on = EPOCH + timedelta(days=d - 2**20) if d else EPOCH
                text = known[u] = _reason_text(decided[dec], bool(unknown), w, regions[r], on, a)
            texts.append(text)
        cells[np.flatnonzero(undetermined)] = codes
    indices = pa.array(np.maximum(cells, 0).astype(np.int32), mask=cells < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(texts if len(rows) else [], type=pa.string()))


def _conflict_text(row: int, columns: dict[str, Any], results: dict[str, Any], regions: list[Region]) -> str:
    """The reason of a row whose home region or birth date differs from the patient's first row."""
    first = int(results["ref"][row]) - 2
    column = "home_region" if results["conflict"][row] == 1 else "birth_date"

    def shown(r: int) -> str:
        if column == "home_region":
            code = int(columns["home"][r])
            return regions[code].value if code >= 0 else ""
        day = int(columns["birth"][r])
        return str(EPOCH + timedelta(days=day)) if day != -(2**31) else ""

    return (
        f"{column}: '{shown(row)}' differs from '{shown(first)}' on line {first + 2} for the same patient; "
        "a patient's rows must agree on it"
    )
