"""Pricing a whole register at once: rules over columns, then one scan per patient for the ceiling.

The result is the same as pricing every patient's contacts through `engine.price_contacts` (the
tests check this on random registers); only the way there differs.

1. **Rules over columns.** A region's rules read only the facts of a contact and the date; the
   date matters only through which rule rows, amounts and exemptions are in force. Each text
   column is read as a dictionary, so every distinct cell is checked once; a compiled loop turns
   the cells of a row into one key, and the date into a *segment* (the stretch between two dates
   where any rule value starts or ends). `engine.decide` runs once per distinct (key, segment),
   the same for the age exemptions and the ceiling amount, and the answers are spread back over
   the rows. A register of millions of contacts has a few thousand distinct combinations. Where
   an undetermined decision's reason names the date, each date gets its own wording (see
   `Rules._on_day`).
2. **The ceiling, per patient.** Patient ids are numbered once; a counting sort orders the rows
   by patient, date and line, and one compiled loop walks each patient's contacts with the
   12-month period, the running sum and the frikort, the same steps as the engine.
3. **Memory bounded.** The register is read in batches. When it has more rows than `chunk_rows`,
   the few columns the ceiling needs are spilled to disk in buckets by patient (a patient's rows
   always land in the same bucket) and each bucket is sorted and scanned on its own. About 35
   bytes per row are kept in file order until the output is written (when all rows are priced
   at once; besides them, up to three decoded batches while reading).
4. **Output.** Every input column is copied unchanged. Parquet to Parquet copies the input's
   column chunks byte for byte and encodes only the outcome columns (see `splice`); the ones the
   rules decide alone are encoded while the ceiling is applied. Otherwise the register is read
   a second time and written in full.

Reading runs in worker threads beside the pricing (a Parquet register's row groups two at a
time), and the outcome columns are encoded in worker threads. Answers already worked out are
looked up in compiled hash tables (`_Memo`), so a batch costs a few passes over its rows.
"""

from __future__ import annotations

import csv
import math
import mmap
import resource
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import partial
from itertools import islice, repeat
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, TextIO

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

from .ceiling import FRIKORT, LOWERED, NO_CEILING, NO_PERIOD, REACHED, UNKNOWN, ceiling_step
from .confidence import Confidence, weakest
from .engine import (
    UNKNOWN_EARLIER_CEILING,
    UNKNOWN_EARLIER_FEE,
    Decision,
    Selection,
    decide,
    exemption,
    no_age_rules,
    no_ceiling,
    period_end,
)
from .model import FACT_TYPES, Contact, Patient, Programme, ProgrammeKind, Region, Service, _parse_date, contradictions
from .outputs import OutputError, atomic, spill_folder
from .register import (
    _REGIONS,
    _SERVICES,
    BLANK,
    CHUNK_ROWS,
    CONTACT_COLUMNS,
    FIRST_DAY,
    KNOWN_COLUMNS,
    LAST_DAY,
    OUTCOME_COLUMNS,
    PERSONNUMMER,
    PROGRAMME_COLUMNS,
    RegisterError,
    Row,
    Summary,
    _cell,
    _parse,
    _typed,
    check_csv_output,
    conflict_reason,
    csv_writer,
    encoding_error,
    field_count_problem,
    neutral,
    output_paths,
    read_header,
    reason_cell,
    shown_cells,
    text_cell,
    text_columns,
)
from .rules import RuleBook
from .splice import Encoded, SpliceError, Splicer, encode

EPOCH = date(1970, 1, 1)
REGIONS = list(Region)
"""Regions by code (a row's region and home region are kept as these indices)."""
REGION_CODE = {r: i for i, r in enumerate(REGIONS)}
BATCH_ROWS = 1_000_000
MAX_AT_ONCE = 2**31 - 1
"""At most this many rows are priced at once (rows and patients are numbered with 32-bit integers)."""
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

    def __init__(self, column: str, radix: int | None) -> None:
        self.column = column
        self.radix = radix
        self.value_set = pa.array([], type=pa.string())
        self.texts: list[str] = []
        self.where: dict[str, int] = {}
        self.ok: list[bool] = [True]
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
            return REGION_CODE[value] if value is not None else -1
        if self.column in ("date", "birth_date"):
            return (value - EPOCH).days if value is not None else MISSING_DAY
        if self.column == "age":
            return int(value) if value is not None else -1
        return 0

    def _add_dates(self, texts: pa.Array) -> npt.NDArray[np.bool_]:
        """Add the texts that are plain calendar dates (YYYY-MM-DD, years 1900-2199) in one vectorised
        step and return which ones; any other text is left to `_add`, one by one.

        A text counts as a plain date only when it parses and prints back as the same text, so a
        date that does not exist (2025-02-30) is never let through; `_add` then rejects it.
        """
        trimmed = pc.utf8_trim(texts, BLANK)
        plain = pc.fill_null(pc.match_substring_regex(trimmed, r"^(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}$"), False)
        parsed = pc.strptime(pc.if_else(plain, trimmed, "1970-01-01"), format="%Y-%m-%d", unit="s", error_is_null=True)
        back = pc.strftime(parsed, format="%Y-%m-%d")
        same = pc.fill_null(pc.and_(plain, pc.equal(back, trimmed)), False).to_numpy(zero_copy_only=False)
        unique = {t for t in texts.filter(pa.array(same)).to_pylist()}
        if len(unique) != int(same.sum()) or any(t in self.where for t in unique):
            return np.zeros(len(texts), dtype=np.bool_)  # (repeated texts: leave them to `_add`)
        good = pa.array(same)
        days = pc.cast(pc.cast(parsed.filter(good), pa.date32()), pa.int32()).to_numpy(zero_copy_only=False)
        dated = parsed.filter(good)
        md = (
            pc.year(dated).to_numpy(zero_copy_only=False).astype(np.int64) * 512
            + pc.month(dated).to_numpy(zero_copy_only=False).astype(np.int64) * 32
            + pc.day(dated).to_numpy(zero_copy_only=False).astype(np.int64)
        )
        count = len(days)
        self.texts.extend(texts.filter(good).to_pylist())
        self.ok.extend([True] * count)
        self.code.extend([0] * count)
        self.num.extend(days.tolist())
        self.md.extend(md.tolist())
        added: npt.NDArray[np.bool_] = same
        return added

    def _add(self, raw: str) -> None:
        text = raw.strip(BLANK)
        valid, value = _check_cell(self.column, text) if text else (True, None)
        self.texts.append(raw)
        self.ok.append(valid)
        self.code.append(self._code(value))
        self.num.append(self._num(value))
        self.md.append(value.year * 512 + value.month * 32 + value.day if isinstance(value, date) else 0)

    def entries(self, dictionary: pa.Array) -> npt.NDArray[np.int64]:
        """The slot of every text of a column's dictionary (new texts are checked and added first)."""
        found = pc.index_in(dictionary, value_set=self.value_set).fill_null(-1).to_numpy(zero_copy_only=False)
        pos: npt.NDArray[np.int64] = found.astype(np.int64) + 1
        new = np.flatnonzero(pos == 0)
        if not len(new):
            return pos
        if len(new) > 100 and self.column in ("date", "birth_date") and self.radix is None:
            fresh = dictionary.take(pa.array(new))
            added = self._add_dates(fresh)
            for i, text in zip(new[added].tolist(), fresh.filter(pa.array(added)).to_pylist(), strict=True):
                self.where[text] = len(self.where) + 1  # (the slot: texts and slots are numbered alike)
                pos[i] = self.where[text]
            new = new[~added]
        for i, text in zip(new.tolist(), dictionary.take(pa.array(new)).to_pylist(), strict=True):
            if text is None:
                continue  # (slot 0: an empty cell)
            if text not in self.where:  # (a dictionary may hold a text twice)
                self._add(text)
                self.where[text] = len(self.texts)
            pos[i] = self.where[text]
        self.value_set = pa.array(self.texts, type=pa.string())
        self._arrays = {}
        return pos

    def array(self, name: str) -> npt.NDArray[Any]:
        """One of the per-slot tables as a NumPy array (rebuilt after new texts)."""
        found = self._arrays.get(name)
        if found is None:
            kind = {"ok": np.bool_, "code": np.int64, "num": np.int64, "md": np.int64}[name]
            found = self._arrays[name] = np.array(getattr(self, name), dtype=kind)
        return found


@numba.njit(cache=True, nogil=True)
def _fold(
    indices: I32,
    bits: npt.NDArray[np.uint8],
    bit_offset: int,
    code: I64,
    ok: npt.NDArray[np.bool_],
    num: I64,
    key: I64,
    invalid: npt.NDArray[np.bool_],
    num_out: I32,
) -> None:
    """One column into the rows: add its digit to the fact key, mark bad cells, copy its number.

    The tables are per dictionary entry, with one more entry at the end for an empty (null) cell.
    `bits` is the column's validity bitmap (empty when no cell is null); `num_out` may be empty.
    """
    null = len(code) - 1
    for i in range(len(indices)):
        j = indices[i]
        if len(bits):
            b = bit_offset + i
            if not (bits[b >> 3] >> (b & 7)) & 1:
                j = null
        key[i] += code[j]
        if not ok[j]:
            invalid[i] = True
        if len(num_out):
            num_out[i] = num[j]


@numba.njit(cache=True, nogil=True)
def _checked(region: I32, day: I32, birth: I32, age: I32, on: I32, born: I32, invalid: npt.NDArray[np.bool_]) -> None:
    """The checks across columns, row by row: a care region and a date are given, the age or the
    birth date (one of them), no birth after the contact. A valid row with a birth date gets its
    age on the contact date from the two month-day numbers `on` and `born` (empty: no birth dates)."""
    for i in range(len(invalid)):
        has_birth = birth[i] != MISSING_DAY
        bad = invalid[i] or region[i] < 0 or day[i] == MISSING_DAY or (age[i] >= 0) == has_birth
        bad = bad or (has_birth and birth[i] > day[i])
        invalid[i] = bad
        if has_birth and not bad and len(on):
            age[i] = on[i] // 512 - born[i] // 512 - ((on[i] % 512) < (born[i] % 512))


def _dictionary(array: pa.Array) -> tuple[pa.Array, I32, npt.NDArray[np.uint8], int]:
    """A column as its texts (a dictionary) and, per row, the index of its text with the validity bits.

    Typed Parquet values (numbers, dates, true/false) are written as texts the way the per-contact
    path writes them (`register.text_cell`), once per distinct value.
    """
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array)
    dictionary = array.dictionary
    if not pa.types.is_string(dictionary.type):
        dictionary = pa.array([text_cell(v) for v in dictionary.to_pylist()], type=pa.string())
    indices = array.indices
    if indices.type != pa.int32():
        indices = pc.cast(indices, pa.int32())
    validity, data = indices.buffers()[:2]
    values = np.frombuffer(data, dtype=np.int32, count=indices.offset + len(indices))[indices.offset :]
    bits = np.frombuffer(validity, dtype=np.uint8) if validity is not None and indices.null_count else _NO_BITS
    return dictionary, values, bits, indices.offset


def _personnummer(ids: pa.Array) -> npt.NDArray[np.bool_]:
    """Which ids are shaped like a personal identity number (`register.PERSONNUMMER`). Only ids of 10
    to 13 bytes that begin with a digit are matched against the pattern (found from the offsets)."""
    shaped = np.zeros(len(ids), dtype=np.bool_)
    if not len(ids) or ids.buffers()[2] is None:
        return shaped
    offsets = np.frombuffer(ids.buffers()[1], dtype=np.int32)[ids.offset : ids.offset + len(ids) + 1]
    data = np.frombuffer(ids.buffers()[2], dtype=np.uint8)
    size = np.diff(offsets)
    long = np.flatnonzero((size >= 10) & (size <= 13))
    first = data[offsets[long]]
    maybe = long[(first >= ord("0")) & (first <= ord("9"))]
    if len(maybe):
        found = pc.match_substring_regex(ids.take(pa.array(maybe)), PERSONNUMMER)
        shaped[maybe] = pc.fill_null(found, False).to_numpy(zero_copy_only=False)
    return shaped


_NO_BITS = np.zeros(0, dtype=np.uint8)
_NO_NUM = np.zeros(0, dtype=np.int32)


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
        if column in ("date", "birth_date"):
            on = _parse_date(text)  # (what the models' date fields run)
            return column == "birth_date" or FIRST_DAY <= on <= LAST_DAY, on
        if column in ("age", "home_region"):
            return True, getattr(Patient.model_validate({column: value}), column)
        if column.startswith("programme."):
            key = column.split(".", 1)[1]
            return True, getattr(Programme.model_validate({key: value}), key)
        contact = Contact.model_validate({"date": "2000-01-01", column: value})
        return True, getattr(contact, column)
    except (ValidationError, ValueError):
        return False, None


def _reject_contradictions(encoder: Encoder, enc: _Encoded) -> None:
    """Rows whose facts contradict each other are invalid, as in `register._parse` (`model.contradictions`)."""
    bad = [k for k in np.unique(enc.key[~enc.invalid]).tolist() if contradictions(encoder.decode(k)[0])]
    if bad:
        enc.invalid |= np.isin(enc.key, bad)


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
    patient: I32  # index of the row's patient id among all ids read so far (see `Encoder.patient_ids`); when spilling, in `ids`
    ids: pa.Array  # this batch's distinct patient ids, trimmed (`patient - first` indexes it)
    first: int


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
        # (patient ids are not checked cell by cell: they are numbered, see `encode`)
        self.cells = {c: _Cells(c, self.radix.get(c)) for c in header if c in KNOWN_COLUMNS and c != "patient_id"}
        self.patient_ids: list[pa.Array] = []
        self.seen_ids = 0

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

    def encode(
        self, batch: pa.RecordBatch, keep_ids: bool = True, into: dict[str, npt.NDArray[Any]] | None = None
    ) -> _Encoded:
        """Check every cell of a batch and turn the rows into codes (a row with a bad cell is invalid).

        Each column goes through its dictionary: the distinct texts are looked up once, and one
        compiled loop per column spreads their codes over the rows. With `keep_ids` the batch's
        distinct patient ids are kept, so that all rows can be numbered by patient at the end.
        `into` may give the arrays to fill (by the names of `_Encoded`), so nothing is copied later.
        """
        n = batch.num_rows
        given = into or {}

        def buffer(name: str, kind: Any, fill: Any = None) -> npt.NDArray[Any]:
            """An array for the batch, filled with `fill` if given (else the loops below write every row)."""
            found = given.get(name)
            array = found if found is not None else np.empty(n, dtype=kind)
            if fill is not None:
                array.fill(fill)
            return array

        def numbers(name: str, source: str, absent: int) -> npt.NDArray[Any]:
            """The numbers of a column: its loop writes them, or every row takes `absent` when it is not read."""
            return buffer(name, np.int32, None if source in self.cells else absent)

        invalid = buffer("invalid", np.bool_, False)
        dated = "birth_date" in self.cells
        out = {
            "region": numbers("region", "region", -1),
            "home_region": numbers("home", "home_region", -1),
            "date": numbers("day", "date", MISSING_DAY),
            "birth_date": numbers("birth", "birth_date", MISSING_DAY),
            "age": numbers("age", "age", -1),
        }
        # (month-day numbers are read only where both dates are given, so they need no filling)
        md = {c: np.empty(n if dated else 0, dtype=np.int32) for c in ("date", "birth_date")}
        # A column with the same cell in every row (often the care region, or nothing at all) adds
        # the same to every row: that is done once, before the loops over the other columns.
        base, base_bad = 0, False
        varied = []
        for column, cells in self.cells.items():
            array = batch.column(column)
            if array.null_count == n:
                same: int | None = 0  # (slot 0: an empty cell)
            else:
                dictionary, indices, bits, offset = _dictionary(array)
                slot = np.append(cells.entries(dictionary), 0)
                same = int(slot[0]) if len(dictionary) == 1 and not array.null_count else None
            if same is None:
                varied.append((column, cells, indices, bits, offset, slot))
                continue
            base += int(cells.array("code")[same]) * (cells.radix or 0)
            base_bad |= not cells.array("ok")[same]
            if column in out:
                out[column].fill(int(cells.array("num")[same]))
            if column in md and dated:
                md[column].fill(int(cells.array("md")[same]))
        key = np.full(n, base, dtype=np.int64)
        if base_bad:
            invalid.fill(True)
        for column, cells, indices, bits, offset, slot in varied:
            code = cells.array("code")[slot] * (cells.radix or 0)
            ok = cells.array("ok")[slot]
            num_out = out.get(column, _NO_NUM)
            _fold(indices, bits, offset, code, ok, cells.array("num")[slot], key, invalid, num_out)
            if column in md and dated:
                _fold(indices, bits, offset, np.zeros_like(code), ok, cells.array("md")[slot], key, invalid, md[column])

        region, day, home, birth, age = (out[c] for c in ("region", "date", "home_region", "birth_date", "age"))
        _checked(region, day, birth, age, md["date"], md["birth_date"], invalid)

        dictionary, indices, bits, offset = _dictionary(batch.column("patient_id"))
        ids = pc.utf8_trim(dictionary, BLANK)
        present = pc.fill_null(pc.not_equal(ids, ""), False).to_numpy(zero_copy_only=False)
        ok = np.append(present & ~_personnummer(ids), False)
        first = self.seen_ids if keep_ids else 0  # (when spilling, the entries of this batch's ids)
        number = np.append(np.arange(first, first + len(ids), dtype=np.int64), -1)
        patient = buffer("patient", np.int32)
        _fold(indices, bits, offset, np.zeros(len(ok), dtype=np.int64), ok, number, key, invalid, patient)
        if keep_ids:
            self.seen_ids += len(ids)
            self.patient_ids.append(ids)
        return _Encoded(invalid, key, day, age, region, home, birth, patient, ids, first)


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
            _cell(d.contact_points) if d.contact_points is not None else None,
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
        enc: _Encoded,
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


# --------------------------------------------------------------------------- the ceiling, per patient


@numba.njit(cache=True, nogil=True)
def _order(patient: I32, day: I32, patients: int) -> tuple[I32, I64]:
    """Rows grouped by patient, each patient's rows by date, ties in file order (rows with patient -1 left out).

    A counting sort by patient keeps file order within a patient; each patient's rows are then
    sorted by date with a stable sort (insertion sort for a few rows, merge sort for many). Returns the row order and where
    each patient's rows start in it (plus the end).
    """
    starts = np.zeros(patients + 1, np.int64)
    for i in range(len(patient)):
        if patient[i] >= 0:
            starts[patient[i] + 1] += 1
    for p in range(patients):
        starts[p + 1] += starts[p]
    order = np.empty(starts[patients], np.int32)
    fill = starts[:-1].copy()
    for i in range(len(patient)):
        p = patient[i]
        if p >= 0:
            order[fill[p]] = i
            fill[p] += 1
    for p in range(patients):
        a, b = starts[p], starts[p + 1]
        if b - a > 64:
            for k in range(a + 1, b):
                if day[order[k]] < day[order[k - 1]]:
                    rows = order[a:b].copy()
                    order[a:b] = rows[np.argsort(day[rows], kind="mergesort")]
                    break
            continue
        for k in range(a + 1, b):  # insertion sort: stable, and quick for a patient's few rows
            row = order[k]
            j = k - 1
            while j >= a and day[order[j]] > day[row]:
                order[j + 1] = order[j]
                j -= 1
            order[j + 1] = row
    return order, starts


_ceiling_step = numba.njit(cache=True, nogil=True)(ceiling_step)
"""`ceiling.ceiling_step`, the engine's own step, compiled for the scan."""

NO_CEILING_WHY = 3
"""The reason code of a fee undetermined because no ceiling is in the rule data for its year (codes
1 and 2 are those of `ceiling.Period.unknown`)."""


@numba.njit(cache=True, nogil=True)
def _scan(
    order: I32,
    starts: I64,
    home: I32,
    birth: I32,
    day: I32,
    net: I32,
    ceiling: I32,
    ends: I32,
    day0: int,
    fee: I32,
    holds: I8,
    lowered: I8,
    why: I8,
    conflict: I8,
    ref: I64,
) -> tuple[int, int]:
    """Walk each patient's contacts (in `order`, see `_order`) through `ceiling.ceiling_step`, the
    step `engine.price_contacts` takes; `ends` gives the last day of a period starting on each day
    from `day0`.

    Writes per row: fee (-1 undetermined), frikort (0 no, 1 yes, 2 unknown), whether the ceiling
    lowered the fee, the reason code of an undetermined fee (1 an earlier fee unknown, 2 an
    earlier ceiling unknown, 3 no ceiling for the year), and conflict (1 home region, 2 birth date
    differ from the patient's first row in the file, whose row is written to `ref`). Returns the
    number of patients and of patients whose payments reached the ceiling.
    """
    patients = 0
    reaching = 0
    for p in range(len(starts) - 1):
        g, e = starts[p], starts[p + 1]
        if g == e:
            continue
        m = order[g]
        for k in range(g + 1, e):
            m = min(m, order[k])
        patients += 1
        state = NO_PERIOD
        reached = False
        for k in range(g, e):
            i = order[k]
            if home[i] != home[m]:
                conflict[i] = 1
                ref[i] = m
                continue
            if birth[i] != birth[m]:
                conflict[i] = 2
                ref[i] = m
                continue
            on = day[i]
            unknown = state.unknown
            fee[i], state, flags = _ceiling_step(state, on, net[i], ceiling[i], ends[on - day0])
            holds[i] = 2 if flags & UNKNOWN else 1 if flags & FRIKORT else 0
            if flags & LOWERED:
                lowered[i] = 1
            if flags & UNKNOWN and fee[i] < 0:
                why[i] = unknown
            elif flags & NO_CEILING:
                why[i] = NO_CEILING_WHY
            reached |= (flags & REACHED) != 0
        if reached:
            reaching += 1
    return patients, reaching


def _load_compiled() -> None:
    """Load numba's compiled code before the first batch needs it: the first compiled loop a process
    calls costs a few tenths of a second (the others load in milliseconds when they are called)."""
    i32, i64 = np.zeros(1, dtype=np.int32), np.zeros(1, dtype=np.int64)
    _fold(i32, _NO_BITS, 0, i64, np.ones(1, dtype=np.bool_), i64, i64.copy(), np.zeros(1, dtype=np.bool_), i32.copy())
    _checked(i32, i32, i32, i32, i32, i32, np.zeros(1, dtype=np.bool_))
    _per_distinct(i64, _Memo(), lambda key: 0)
    table, i8 = (_Memo().slots, _Memo().values), np.zeros(1, dtype=np.int8)
    no = np.zeros(1, dtype=np.bool_)
    _rule_rows(
        no, i64, i32, i32, i32, i32, 1, table, table, table, i8, i32, i32, i32.copy(), i32.copy(), i32.copy(), no.copy(), no.copy()
    )  # fmt: skip
    _net(i32, i32, np.zeros(1, dtype=np.int8))
    _order(i32, i32, 1)


def _period_ends(day0: int, day1: int, months: int) -> I32:
    """For every day from day0 to day1: the last day of a high-cost period starting that day."""
    out = np.empty(day1 - day0 + 1, dtype=np.int32)
    for i in range(len(out)):
        start = EPOCH + timedelta(days=day0 + i)
        out[i] = (period_end(start, months) - EPOCH).days
    return out


@dataclass
class _Results:
    """Per row of the register, in file order: what the ceiling scan concluded."""

    fee: I32
    holds: I8
    lowered: I8
    why: I8
    conflict: I8
    ref: I64
    patients: int = 0
    reaching: int = 0

    @classmethod
    def empty(cls, rows: int) -> _Results:
        def flags() -> I8:
            return np.zeros(rows, dtype=np.int8)

        return cls(
            np.full(rows, -1, dtype=np.int32), flags(), flags(), flags(), flags(), np.zeros(rows, dtype=np.int64)
        )

    def scan(
        self, patient: I32, patients: int, day: I32, home: I32, birth: I32, net: I32, ceiling: I32, months: int
    ) -> None:
        """Run the ceiling over rows numbered by patient (-1: not priced); the rows are this object's rows."""
        if len(day) > MAX_AT_ONCE:
            raise RegisterError(f"a bucket of more than {MAX_AT_ONCE:,} rows; give a smaller --chunk-rows")
        if not len(day) or not (patient >= 0).any():
            return
        priced = day[patient >= 0]
        day0, day1 = int(priced.min()), int(priced.max())
        order, starts = _order(patient, day, patients)
        found = _scan(
            order,
            starts,
            home,
            birth,
            day,
            net,
            ceiling,
            _period_ends(day0, day1, months),
            day0,
            self.fee,
            self.holds,
            self.lowered,
            self.why,
            self.conflict,
            self.ref,
        )
        self.patients += found[0]
        self.reaching += found[1]

    def place(self, other: _Results, rows: I64) -> None:
        """Copy a bucket's results into these rows."""
        for name in ("fee", "holds", "lowered", "why", "conflict"):
            getattr(self, name)[rows] = getattr(other, name)
        self.ref[rows] = rows[other.ref]
        self.patients += other.patients
        self.reaching += other.reaching


# --------------------------------------------------------------------------- reading and writing


class _Ragged(Exception):
    """A CSV row has more or fewer fields than the header (the fast reader cannot number it)."""


@dataclass
class _Reads:
    """A register as reads of one batch each (in order), how many may run at the same time, and
    the files they opened (closed by `_read_ahead` at the end)."""

    tasks: Iterator[Callable[[], pa.RecordBatch | None]]
    workers: int
    opened: list[pq.ParquetFile | Generator[pa.RecordBatch]] = field(default_factory=list)


def _parquet_reads(path: Path, wanted: list[str], strings: list[str]) -> _Reads | None:
    """A Parquet register as one read per row group, or None when its row groups are much larger
    than a batch (it is then read batch by batch).

    Two reads may run at the same time: each thread opens the file for itself. A column chunk
    whose statistics say every cell is empty is not read at all: the column is given as nulls.
    """
    meta = pq.read_metadata(path)
    sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
    if not sizes or max(sizes) > 4 * BATCH_ROWS:
        return None
    schema = pq.read_schema(path)
    leaf = {meta.schema.column(i).path: i for i in range(meta.num_columns)}  # (registers have no nested columns)
    local = threading.local()
    opened: list[pq.ParquetFile | Generator[pa.RecordBatch]] = []

    def read(group: int) -> pa.RecordBatch:
        if not hasattr(local, "source"):
            local.source = pq.ParquetFile(path, read_dictionary=strings)
            opened.append(local.source)
        size = sizes[group]
        stats = {c: meta.row_group(group).column(leaf[c]).statistics for c in wanted}
        skipped = {c for c, s in stats.items() if s is not None and s.has_null_count and s.null_count == size}
        needed = [c for c in wanted if c not in skipped]
        table = local.source.read_row_group(group, columns=needed, use_threads=False) if needed else None
        arrays = []
        for c in wanted:
            if c in skipped:
                kind = pa.dictionary(pa.int32(), pa.string()) if c in strings else schema.field(c).type
                arrays.append(pa.nulls(size, type=kind))
            else:
                assert table is not None
                arrays.append(table.column(c).combine_chunks())
        return pa.RecordBatch.from_arrays(arrays, names=wanted)

    return _Reads(iter([partial(read, group) for group in range(len(sizes))]), 2, opened)


def _text_columns(path: Path, wanted: list[str], plain: bool) -> list[str]:
    """The Parquet columns to read as dictionaries: every text column, unless `plain`."""
    schema = pq.read_schema(path)
    return [] if plain else [c for c in wanted if pa.types.is_string(schema.field(c).type)]


def _reads(path: Path, header: list[str], columns: list[str] | None, exact: bool, plain: bool = False) -> _Reads:
    """The register as reads of one batch each (see `_batches`).

    A Parquet register's row groups can be decoded side by side; any other register is read in
    order, each read giving the next batch (None after the last).
    """
    if path.suffix.lower() == ".parquet":
        wanted = columns or header
        groups = _parquet_reads(path, wanted, _text_columns(path, wanted, plain))
        if groups is not None:
            return groups
    batches = _batches(path, header, columns, exact, plain)
    return _Reads(repeat(partial(next, batches, None)), 1, [batches])


def _batches(
    path: Path, header: list[str], columns: list[str] | None, exact: bool, plain: bool = False
) -> Generator[pa.RecordBatch]:
    """The register in batches of rows, every cell as text (CSV) or as stored (Parquet).

    Text columns come as dictionaries, so that each distinct text is checked once per batch;
    `plain` reads them as plain texts instead (for copying them to the output). `exact` reads a
    CSV with Python's own reader, one row at a time: slower, but it can keep a row whose number
    of fields is wrong (it is then rejected with that reason). The fast reader raises `_Ragged`
    when it meets such a row, and the caller starts over with `exact`.
    """
    wanted = columns or header
    if path.suffix.lower() == ".parquet":
        with pq.ParquetFile(path, read_dictionary=_text_columns(path, wanted, plain)) as source:
            yield from source.iter_batches(batch_size=BATCH_ROWS, columns=wanted)
        return
    if exact:
        yield from _exact_batches(path, header, wanted)
        return

    ragged: list[str] = []

    def skip(row: Any) -> str:
        ragged.append(str(row.text))  # noted, and the whole read starts over with the exact reader
        return "skip"

    types = {c: pa.string() if plain else pa.dictionary(pa.int32(), pa.string()) for c in wanted}
    try:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(block_size=8 << 20),  # (bigger blocks: far more memory, no faster)
            # (a blank line is a row with the wrong number of fields, as in the per-contact path)
            parse_options=pa_csv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=skip
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=types, include_columns=wanted, strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
        with reader:
            for batch in reader:
                if ragged:
                    raise _Ragged(ragged[0])
                yield batch
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc) or "UTF-8" in str(exc):
            raise encoding_error(path) from None
        raise RegisterError(f"{path}: cannot be read as CSV ({exc})") from None
    if ragged:
        raise _Ragged(ragged[0])


def _read_ahead(reads: _Reads, meanwhile: Callable[[], None]) -> Generator[pa.RecordBatch]:
    """The batches of `reads` (see `_reads`), in order, read in worker threads while the ones
    before are priced.

    Reading and decoding run in pyarrow without the interpreter lock, so on two cores they
    overlap with the pricing; `meanwhile` runs while the first batches are read. Errors of the
    reader come out here, in order.
    """
    try:
        with ThreadPoolExecutor(max_workers=reads.workers) as pool:
            pending = deque(pool.submit(task) for task in islice(reads.tasks, reads.workers))
            meanwhile()
            while pending:
                batch = pending.popleft().result()
                if batch is None:
                    return
                following = next(reads.tasks, None)
                if following is not None:
                    pending.append(pool.submit(following))
                yield batch
    finally:
        for source in reads.opened:
            source.close()  # (a Parquet file, or the generator of `_batches`)


PROBLEM = "__problem__"
LINE = "__line__"


def _exact_batches(path: Path, header: list[str], wanted: list[str]) -> Iterator[pa.RecordBatch]:
    """The register read with Python's CSV reader; each batch also has the problem of each row
    (`PROBLEM`) and the line where it begins in the file (`LINE`)."""
    positions = {c: header.index(c) for c in wanted}
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            line = reader.line_num + 1
            while True:
                rows, lines = [], []
                for fields in islice(reader, BATCH_ROWS // 10):
                    rows.append(fields)
                    lines.append(line)
                    line = reader.line_num + 1
                if not rows:
                    return
                data: dict[str, list[Any]] = {
                    c: [f[i] if i < len(f) else "" for f in rows] for c, i in positions.items()
                }
                data[PROBLEM] = [field_count_problem(f, header) for f in rows]
                data[LINE] = lines
                yield pa.RecordBatch.from_pydict(data)
    except UnicodeDecodeError:
        raise encoding_error(path) from None


class _Columns:
    """Per row of the register (in file order): what the ceiling, the output and the summary need.

    When the number of rows is known (Parquet), each column is one array filled batch by batch;
    otherwise the batches' arrays are joined at the end.
    """

    KINDS: ClassVar[dict[str, Any]] = {
        "invalid": np.bool_,
        "decision": np.int32,
        "exempt_unknown": np.bool_,
        "region": np.int8,
        "day": np.int32,
        "age": np.int32,
        "home": np.int32,
        "birth": np.int32,
        "net": np.int32,  # (net, ceiling and patient: kept only when all patients are priced at once)
        "ceiling": np.int32,
        "patient": np.int32,
    }

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.parts: dict[str, list[npt.NDArray[Any]]] = {name: [] for name in self.KINDS}
        self.whole: dict[str, npt.NDArray[Any]] = {}
        self.problem: dict[int, str] = {}

    def views(self, names: list[str], start: int, n: int) -> dict[str, npt.NDArray[Any]]:
        """Where a batch's rows go in the whole columns (nothing when the number of rows is not known)."""
        if self.total is None:
            return {}
        for name in names:
            if name not in self.whole:
                self.whole[name] = np.empty(self.total, dtype=self.KINDS[name])
        return {name: self.whole[name][start : start + n] for name in names}

    def add(self, name: str, start: int, values: npt.NDArray[Any]) -> None:
        if self.total is None:
            self.parts[name].append(values.astype(self.KINDS[name], copy=False))
            return
        if name not in self.whole:
            self.whole[name] = np.empty(self.total, dtype=self.KINDS[name])
        if values.base is not self.whole[name]:  # (a view given to the encoder is filled already)
            self.whole[name][start : start + len(values)] = values

    def joined(self, rows: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, kind in self.KINDS.items():
            if name in self.whole:
                out[name] = self.whole.pop(name)[:rows]
            else:
                parts = self.parts.pop(name)
                out[name] = np.concatenate(parts) if parts else np.zeros(0, dtype=kind)
        out["problem"] = self.problem
        return out


def _progress(total: int | None, what: str, enabled: bool, out: TextIO | None) -> tqdm[Any] | None:
    if not enabled or out is None:
        return None
    return tqdm(total=total, desc=what, unit=" rows", unit_scale=True, file=out, leave=False, mininterval=0.5)


@dataclass
class Run:
    """Figures of one run, beside the summary: time, memory, the bucket count and seconds per step."""

    seconds: float = 0.0
    peak_mb: float = 0.0
    buckets: int = 1
    steps: dict[str, float] = field(default_factory=dict)


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
    for reserved in (PROBLEM, LINE):
        if reserved in header:
            raise RegisterError(
                f"{register}: line 1: the column name {reserved} is reserved for the pricing; rename or remove that column"
            )
    known = [c for c in header if c in KNOWN_COLUMNS]
    summary = Summary(ignored_columns=[c for c in header if c not in KNOWN_COLUMNS])
    rejects = output_paths(register, out, rejects)
    check_csv_output(register, out)
    parquet = register.suffix.lower() == ".parquet"
    total = pq.read_metadata(register).num_rows if parquet else None
    estimate = total if total is not None else _estimate_rows(register)
    buckets = max(1, math.ceil(estimate / chunk_rows)) if chunk_rows > 0 else 1
    show = estimate >= PROGRESS_ROWS
    # (encoding ahead keeps every row group's encoded columns until written: only when all is in memory anyway)
    ahead = _Ahead(register, parquet and out.suffix.lower() == ".parquet" and buckets == 1)
    bar = None
    with atomic([out, rejects]) as (out_part, rejects_part):
        try:
            with spill_folder() as spill:

                def price_pass(exact: bool) -> tuple[dict[str, Any], _Results, float]:
                    return _price_pass(
                        book, chosen, register, header, known, exact, buckets, spill, total, show, progress, ahead.start
                    )

                exact = False
                try:
                    columns, results, scanning = price_pass(exact)
                except _Ragged:  # (a CSV row with the wrong number of fields: read again, row by row)
                    exact = True
                    columns, results, scanning = price_pass(exact)
            priced = _summarise(columns, results, summary)
            bar = _progress(summary.read, "writing", show, progress)
            steps = {"read and rules": scanning - began, "ceiling": time.perf_counter() - scanning}
            writing = time.perf_counter()
            _write(register, header, out_part, rejects_part, exact, columns, results, priced, bar, ahead)
            steps["write"] = time.perf_counter() - writing
        finally:
            ahead.stop()
            if bar is not None:
                bar.close()
        if out.suffix.lower() == ".parquet" and _rows_written(out_part) != summary.priced:
            raise OutputError(
                f"{out}: den skrivna Parquet-filen kunde inte läsas tillbaka med {summary.priced} rader; "
                "ingen utfil skrevs. Skriv CSV (--out med .csv) och rapportera felet (the written file did not read back)"
            )
    assert summary.priced + summary.rejected == summary.read
    return summary, Run(time.perf_counter() - began, peak_memory_mb(), buckets, steps)


def _rows_written(path: Path) -> int:
    """The number of rows a Parquet file's footer gives, read back as any reader would (-1: unreadable)."""
    try:
        return int(pq.read_metadata(path).num_rows)
    except (OSError, pa.ArrowException):
        return -1


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
    meanwhile: Callable[[dict[str, Any]], None],
) -> tuple[dict[str, Any], _Results, float]:
    """Pass 1 (rules over every batch) and pass 2 (the ceiling, all patients at once or bucket by bucket);
    also returns when pass 2 began, for the run's figures. `meanwhile` gets the columns of pass 1
    before pass 2 begins (it may start work in other threads that reads them)."""
    encoder = Encoder(known)
    rules = Rules(book, chosen, encoder)
    columns = _Columns(total)
    writers: list[ipc.RecordBatchFileWriter] = []
    schema = pa.schema(
        [
            ("pid", pa.string()),
            ("row", pa.int64()),
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
    # (closed at once on an error, so that no reader thread outlives the run)
    with closing(_read_ahead(_reads(register, header, known if not exact else None, exact), _load_compiled)) as reads:
        for batch in reads:
            stored = ["invalid", "day", "age", "home", "birth", *([] if writers else ["patient"])]
            n = batch.num_rows
            if not writers and start + n > MAX_AT_ONCE:
                raise RegisterError(
                    f"{register}: more than {MAX_AT_ONCE:,} rows to price at once; give a --chunk-rows below that"
                    " so that the register is priced in buckets by patient"
                )
            enc = encoder.encode(batch, keep_ids=not writers, into=columns.views(stored, start, n))
            if exact:
                for i, problem in enumerate(batch.column(PROBLEM).to_pylist()):
                    if problem:
                        columns.problem[start + i] = problem
                        enc.invalid[i] = True
            _reject_contradictions(encoder, enc)
            valid = ~enc.invalid
            segment = rules.segments_of(enc.day, valid)
            ruled = ["decision", "exempt_unknown", *([] if writers else ["net", "ceiling"])]
            decision, ceiling, net, exempt_unknown = rules.apply(enc, segment, columns.views(ruled, start, n))
            columns.add("invalid", start, enc.invalid)
            columns.add("decision", start, decision)
            columns.add("exempt_unknown", start, exempt_unknown)
            columns.add("region", start, enc.region.astype(np.int8))
            columns.add("day", start, enc.day)
            columns.add("age", start, enc.age)
            columns.add("home", start, enc.home)
            columns.add("birth", start, enc.birth)
            if writers:
                rows = np.flatnonzero(valid)
                compact = pa.table(
                    {
                        "pid": enc.ids.take(pa.array(enc.patient[rows] - enc.first)),
                        "row": pa.array(rows.astype(np.int64) + start),
                        "day": pa.array(enc.day[rows]),
                        "home": pa.array(enc.home[rows]),
                        "birth": pa.array(enc.birth[rows]),
                        "net": pa.array(net[rows]),
                        "ceiling": pa.array(ceiling[rows]),
                    },
                    schema=schema,
                )
                series = pl.from_arrow(compact.column("pid"))
                assert isinstance(series, pl.Series)
                bucket = (series.hash(seed=7) % buckets).to_numpy()
                for k, writer in enumerate(writers):
                    writer.write_table(compact.filter(pa.array(bucket == k)))
            else:
                columns.add("net", start, net)
                columns.add("ceiling", start, ceiling)
                enc.patient[~valid] = -1
                columns.add("patient", start, enc.patient)
            start += n
            if bar is not None:
                bar.update(n)
    if bar is not None:
        bar.close()
    for writer in writers:
        writer.close()

    joined = columns.joined(start)
    joined["decided"] = rules.decided
    joined["rules"] = rules
    meanwhile(joined)
    results = _Results.empty(start)
    scanning = time.perf_counter()
    months = book.period_months()
    if writers:
        bar = _progress(buckets, "pricing patients (buckets)", show, progress)
        for k in range(buckets):
            with pa.memory_map(str(spill / f"bucket-{k}.arrow")) as source:
                part = ipc.open_file(source).read_all()
            patient, patients = _numbered(part.column("pid"))
            got = _Results.empty(part.num_rows)
            day, home, birth, net, ceiling = (part.column(c).to_numpy() for c in _SCANNED)
            got.scan(patient, patients, day, home, birth, net, ceiling, months)
            results.place(got, part.column("row").to_numpy())
            (spill / f"bucket-{k}.arrow").unlink()
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    else:
        ids, patients = _numbered(pa.chunked_array(encoder.patient_ids, type=pa.string()))
        patient = _patients(joined.pop("patient"), ids)
        day, home, birth = joined["day"], joined["home"], joined["birth"]
        results.scan(patient, patients, day, home, birth, joined.pop("net"), joined.pop("ceiling"), months)
    return joined, results, scanning


_SCANNED = ("day", "home", "birth", "net", "ceiling")


@numba.njit(cache=True, nogil=True)
def _patients(entry: I32, number: I32) -> I32:
    """Each row's patient number from the number of its id entry (-1 stays -1: not priced)."""
    out = np.empty(len(entry), np.int32)
    for i in range(len(entry)):
        out[i] = number[entry[i]] if entry[i] >= 0 else -1
    return out


def _numbered(ids: pa.ChunkedArray) -> tuple[I32, int]:
    """Each id as a number (equal ids, equal numbers) and how many distinct ids there are."""
    if not len(ids):
        return np.zeros(0, dtype=np.int32), 0
    ranks = pl.Series(ids.combine_chunks()).rank("dense").to_numpy().astype(np.int32) - 1
    return ranks, int(ranks.max()) + 1


# --------------------------------------------------------------------------- pass 3: the output


def _reason_text(d: Decided, exempt_unknown: bool, why: int, region: Region, on: date, age: int) -> str:
    """The `undetermined_reason` cell of a row, with the reasons the ceiling scan adds."""
    reasons = list(d.reasons)
    if exempt_unknown:
        reasons.append(no_age_rules(region, on, age))
    if why == 1:
        reasons.append(UNKNOWN_EARLIER_FEE)
    elif why == 2:
        reasons.append(UNKNOWN_EARLIER_CEILING)
    elif why == 3:
        reasons.append(no_ceiling(on))
    return reason_cell(reasons, d.missing)


@numba.njit(cache=True, nogil=True)
def _counts(
    invalid: npt.NDArray[np.bool_], conflict: I8, decision: I32, fees: I32, fee: I32, lowered: I8
) -> tuple[npt.NDArray[np.bool_], int, int, int, int, int]:
    """Which rows are priced, and the summary's counts over them (one pass)."""
    n = len(fee)
    priced = np.empty(n, np.bool_)
    rejected = undetermined = revenue = by_ceiling = by_exemption = 0
    for i in range(n):
        priced[i] = not invalid[i] and conflict[i] == 0
        if not priced[i]:
            rejected += 1
            continue
        f = fee[i]
        if f < 0:
            undetermined += 1
            continue
        revenue += f
        listed = fees[max(decision[i], 0)]
        if listed > 0 and f < listed:
            if lowered[i] > 0:
                by_ceiling += 1
            else:
                by_exemption += 1
    return priced, rejected, undetermined, revenue, by_ceiling, by_exemption


def _summarise(columns: dict[str, Any], results: _Results, summary: Summary) -> npt.NDArray[np.bool_]:
    """Fill in the summary's counts; returns which rows are priced (the others are rejected)."""
    fees = list_fees(columns["decided"])
    counted = _counts(columns["invalid"], results.conflict, columns["decision"], fees, results.fee, results.lowered)
    priced, rejected, undetermined, revenue, by_ceiling, by_exemption = counted
    summary.read = len(priced)
    summary.rejected = rejected
    summary.priced = len(priced) - rejected
    summary.undetermined = undetermined
    summary.revenue = revenue
    summary.free_by_ceiling = by_ceiling
    summary.free_by_exemption = by_exemption
    summary.patients = results.patients
    summary.patients_reaching_ceiling = results.reaching
    level = confidence_levels(columns, columns["decision"], results.fee, slice(0, len(priced)))
    summary.uncertain = int(np.count_nonzero(priced & (level >= CONFIDENCE_LEVELS.index("inferred"))))
    return priced


def _invoice(home: I32, region: npt.NDArray[np.int8], qualified: npt.NDArray[np.int8]) -> pa.Array:
    """Whether the visit is invoiced to the home region: a home region other than the care region is
    given and the contact is qualified (null where qualification is not decided), as the engine says."""
    elsewhere = (home >= 0) & (home != region)
    return pa.array(elsewhere & (qualified == 1), mask=elsewhere & (qualified == 2))


def _with_nulls(values: I32, given: npt.NDArray[np.bool_]) -> pa.Array:
    """An int32 Arrow array of `values`, null where not `given` (the validity bitmap packed directly)."""
    if given.all():
        return pa.array(values, type=pa.int32())
    bitmap = pa.py_buffer(np.packbits(given, bitorder="little"))
    data = pa.py_buffer(np.ascontiguousarray(values, dtype=np.int32))
    return pa.Array.from_buffers(pa.int32(), len(values), [bitmap, data])


DECIDED_COLUMNS = ("list_fee", "qualified", "registration", "contact_points", "category", "invoice_home_region")
"""The outcome columns that the rules decide alone: known before the ceiling is applied."""

TEXT = pa.dictionary(pa.int32(), pa.string())
OUTCOME_SCHEMA = pa.schema(
    [
        ("fee", pa.int32()),
        ("list_fee", pa.int32()),
        ("qualified", pa.bool_()),
        ("registration", TEXT),
        ("contact_points", TEXT),
        ("category", TEXT),
        ("invoice_home_region", pa.bool_()),
        ("frikort", pa.bool_()),
        ("undetermined_reason", TEXT),
        ("confidence", TEXT),
    ]
)
CONFIDENCE_LEVELS: tuple[Confidence, ...] = ("verified", "derived", "inferred", "unverified")
assert tuple(OUTCOME_SCHEMA.names) == OUTCOME_COLUMNS
_DECIDED_SCHEMA = pa.schema([OUTCOME_SCHEMA.field(c) for c in DECIDED_COLUMNS])
_SCANNED_SCHEMA = pa.schema([f for f in OUTCOME_SCHEMA if f.name not in DECIDED_COLUMNS])


def confidence_levels(columns: dict[str, Any], decision: I32, fee: I32, index: I64 | slice) -> I8:
    """Per row, how sure its fee is, as a position in `CONFIDENCE_LEVELS` (-1: the fee is undetermined).

    The decision's own level, lowered where an age exemption or the ceiling cut the fee below the
    list fee to the level of what cut it (worked out once per region, validity segment and age),
    exactly as `engine.price_contacts` counts the steps that decide a fee.
    """
    decided: list[Decided] = columns["decided"]
    own = np.array([CONFIDENCE_LEVELS.index(d.confidence) for d in decided] or [0], dtype=np.int8)
    d = np.maximum(decision, 0)
    level: I8 = own[d]
    listed = list_fees(decided)[d]
    cut = np.flatnonzero((fee >= 0) & (listed > 0) & (fee < listed))
    if len(cut):
        rows = cut + index.start if isinstance(index, slice) else np.asarray(index)[cut]
        rules: Rules = columns["rules"]
        region = columns["region"][rows].astype(np.int64)
        segment = rules.segments_of(columns["day"][rows], np.ones(len(rows), dtype=np.bool_)).astype(np.int64)
        age = columns["age"][rows].astype(np.int64)
        codes, uniques = pd.factorize((region * rules.segments + segment) * AGE_SPAN + age + 1)
        found = np.empty(len(uniques), dtype=np.int8)
        for n, u in enumerate(uniques.tolist()):
            place, a = divmod(u, AGE_SPAN)
            r, seg = divmod(place, rules.segments)
            found[n] = rules.cut_confidence(r, rules.day_of(seg), a - 1)
        level[cut] = np.maximum(level[cut], found[codes])
    level[fee < 0] = -1
    return level


class _Decisions:
    """The outcome columns that follow from each row's decision and regions (`DECIDED_COLUMNS`)."""

    def __init__(self, columns: dict[str, Any]) -> None:
        self.columns = columns
        self.decided: list[Decided] = columns["decided"]
        self.decision = np.maximum(columns["decision"], 0)
        self.list_fee = list_fees(self.decided)
        self.qualified = np.array(
            [2 if d.qualified is None else int(d.qualified) for d in self.decided] or [2], dtype=np.int8
        )
        self.registration = self._texts([d.registration for d in self.decided])
        self.points = self._texts([d.contact_points for d in self.decided])
        self.category = self._texts([d.category for d in self.decided])

    @staticmethod
    def _texts(values: list[str | None]) -> tuple[npt.NDArray[np.int32], pa.Array]:
        """Per decision: the index of its text in a list without empties (-1: no text), and the list."""
        unique = sorted({v for v in values if v is not None})
        where = {v: i for i, v in enumerate(unique)}
        index = np.array([where[v] if v is not None else -1 for v in values] or [-1], dtype=np.int32)
        return index, pa.array(unique, type=pa.string())

    @staticmethod
    def _spread(table: tuple[npt.NDArray[np.int32], pa.Array], rows: npt.NDArray[np.int32]) -> pa.Array:
        index = table[0][rows]
        return pa.DictionaryArray.from_arrays(_with_nulls(index, index >= 0), table[1])

    def arrays(self, index: I64 | slice) -> dict[str, pa.Array]:
        """The decided columns of the given rows (numbered from 0 in file order; a slice for a stretch)."""
        d = self.decision[index]
        list_fee = self.list_fee[d]
        qualified = self.qualified[d]
        return {
            "list_fee": _with_nulls(list_fee, list_fee >= 0),
            "qualified": pa.array(qualified == 1, mask=qualified == 2),
            "registration": self._spread(self.registration, d),
            "contact_points": self._spread(self.points, d),
            "category": self._spread(self.category, d),
            "invoice_home_region": _invoice(self.columns["home"][index], self.columns["region"][index], qualified),
        }

    def table(self, rows: slice) -> pa.Table:
        return pa.Table.from_pydict(self.arrays(rows), schema=_DECIDED_SCHEMA)


class _Output:
    """The outcome columns of any set of rows, and the rejects file's rows, from the per-row results."""

    def __init__(
        self,
        header: list[str],
        columns: dict[str, Any],
        results: _Results,
        bad: TextIO,
        texts: frozenset[str],
        decisions: _Decisions | None = None,
    ) -> None:
        self.header = header
        self.texts = texts
        self.columns = columns
        self.results = results
        self.decisions = decisions or _Decisions(columns)
        self.reasons: dict[int, str] = {}
        self.bad = csv_writer(bad)
        self.bad(["line", *(neutral(c) for c in header), "reason"])

    def _scanned(self, index: I64 | slice) -> dict[str, pa.Array]:
        """The outcome columns that the ceiling settles (fee, frikort, undetermined reason)."""
        fee = self.results.fee[index]
        holds = self.results.holds[index]
        decided, decision = self.decisions.decided, self.decisions.decision
        return {
            "fee": _with_nulls(fee, fee >= 0),
            "frikort": pa.array(holds == 1, mask=holds == 2),
            "undetermined_reason": _reasons(
                decided, self.reasons, self.columns, self.results, decision, index, fee < 0
            ),
            "confidence": self._confidence(index, fee),
        }

    def _confidence(self, index: I64 | slice, fee: I32) -> pa.Array:
        """The `confidence` cells (see `confidence_levels`)."""
        level = confidence_levels(self.columns, self.decisions.decision[index], fee, index)
        return pa.DictionaryArray.from_arrays(
            pa.array(level.astype(np.int32), mask=level < 0), pa.array(CONFIDENCE_LEVELS, type=pa.string())
        )

    def outcomes(self, index: I64 | slice) -> pa.Table:
        """The outcome columns of the given rows (numbered from 0 in file order; a slice for a stretch)."""
        return pa.Table.from_pydict({**self.decisions.arrays(index), **self._scanned(index)}, schema=OUTCOME_SCHEMA)

    def scanned(self, rows: slice) -> pa.Table:
        """The columns that `DECIDED_COLUMNS` leaves out, of a stretch of rows."""
        return pa.Table.from_pydict(self._scanned(rows), schema=_SCANNED_SCHEMA)

    def reject(self, batch: pa.RecordBatch | pa.Table, start: int, lost: I64, lines: I64 | None = None) -> None:
        """Write the given rows of a batch (numbered from 0 within it) to the rejects file, with their
        reasons; `lines` gives the line of each row of the batch in the file (else row + 2)."""
        if not len(lost):
            return
        records = batch.take(pa.array(lost)).to_pylist()
        for i, record in zip(lost.tolist(), records, strict=True):
            row = start + i
            line = int(lines[i]) if lines is not None else row + 2
            values = {k: text_cell(v) for k, v in record.items() if k not in (PROBLEM, LINE)}
            if self.columns["invalid"][row]:
                reason = self.columns["problem"].get(row) or _parse(Row(line, values))
                if reason is None:
                    raise AssertionError(f"line {line}: the row was found invalid but no reason was given")
            else:
                reason = _conflict_text(row, self.columns, self.results)
            self.bad([line, *shown_cells(values, self.header, self.texts), reason])


class _Ahead:
    """The decided outcome columns (`DECIDED_COLUMNS`) of a Parquet register's row groups, encoded
    in a worker thread while the ceiling is applied (when `wanted`: Parquet to Parquet).

    Only row groups without invalid rows are encoded; a row group that loses rows to the
    ceiling's checks is encoded again in full when it is written.
    """

    def __init__(self, register: Path, wanted: bool) -> None:
        self.register = register
        self.pool = ThreadPoolExecutor(max_workers=1) if wanted else None
        self.encoded: dict[int, Future[Encoded]] = {}
        self.decisions: _Decisions | None = None

    def start(self, columns: dict[str, Any]) -> None:
        """Begin with the columns of pass 1 (they are only read from here on)."""
        if self.pool is None:
            return
        decisions = self.decisions = _Decisions(columns)
        meta = pq.read_metadata(self.register)
        start = 0
        for group in range(meta.num_row_groups):
            n = meta.row_group(group).num_rows
            if n and not columns["invalid"][start : start + n].any():
                rows = slice(start, start + n)
                self.encoded[group] = self.pool.submit(lambda rows: encode(decisions.table(rows)), rows)
            start += n

    def take(self, group: int) -> Future[Encoded] | None:
        """A row group's encoded decided columns, if they were encoded (each is handed out once)."""
        return self.encoded.pop(group, None)

    def stop(self) -> None:
        """Drop what is not yet encoded and wait for the worker (also on errors)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.encoded.clear()


def _write(
    register: Path,
    header: list[str],
    out: Path,
    rejects: Path,
    exact: bool,
    columns: dict[str, Any],
    results: _Results,
    priced: npt.NDArray[np.bool_],
    bar: tqdm[Any] | None,
    ahead: _Ahead,
) -> None:
    """Write each row to the output or the rejects file, in file order.

    Parquet to Parquet copies the input's column chunks where no row is rejected (see `splice`),
    with the decided outcome columns that `ahead` has encoded; otherwise the register is read
    again and written in full.
    """
    texts = text_columns(register, header)
    if register.suffix.lower() == ".parquet" and out.suffix.lower() == ".parquet":
        try:
            with out.open("wb") as good, rejects.open("w", encoding="utf-8", newline="") as bad:
                output = _Output(header, columns, results, bad, texts, ahead.decisions)
                _write_spliced(register, good, output, priced, bar, ahead)
            if _rows_written(out) == int(priced.sum()):
                return
        except SpliceError:
            pass
        ahead.stop()  # (nothing of it is used now)
        if bar is not None:
            bar.reset()  # (the rows are written again, in full)
    with out.open("wb") as good, rejects.open("w", encoding="utf-8", newline="") as bad:
        output = _Output(header, columns, results, bad, texts)
        _write_in_full(register, header, good, exact, output, priced, bar, out.suffix.lower() == ".parquet")


def _write_spliced(
    register: Path,
    good: BinaryIO,
    output: _Output,
    priced: npt.NDArray[np.bool_],
    bar: tqdm[Any] | None,
    ahead: _Ahead,
) -> None:
    """Parquet to Parquet: row groups without rejected rows are copied, the others written again.

    The outcome columns of the next row groups are built and encoded in worker threads while the
    current one is copied (NumPy and pyarrow do most of that without the interpreter lock).
    """
    with Splicer(register, good, OUTCOME_SCHEMA) as splicer:
        _splice_groups(splicer, register, output, priced, bar, ahead)


def _splice_groups(
    splicer: Splicer,
    register: Path,
    output: _Output,
    priced: npt.NDArray[np.bool_],
    bar: tqdm[Any] | None,
    ahead: _Ahead,
) -> None:
    with pq.ParquetFile(register) as source:
        _splice_from(splicer, source, output, priced, bar, ahead)


def _splice_from(
    splicer: Splicer,
    source: pq.ParquetFile,
    output: _Output,
    priced: npt.NDArray[np.bool_],
    bar: tqdm[Any] | None,
    ahead: _Ahead,
) -> None:
    pending: deque[tuple[int, int, list[Future[Encoded]]]] = deque()

    def settle(keep: int) -> None:
        while len(pending) > keep:
            group, n, parts = pending.popleft()
            splicer.copy(group, [part.result() for part in parts])
            if bar is not None:
                bar.update(n)

    start = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for group in range(splicer.num_groups):
            n = splicer.rows(group)
            keep = priced[start : start + n]
            if n == 0:
                continue  # (an empty row group has nothing to copy)
            if keep.all():
                rows = slice(start, start + n)
                decided = ahead.take(group)
                if decided is not None:
                    parts = [decided, pool.submit(lambda rows: encode(output.scanned(rows)), rows)]
                else:
                    parts = [pool.submit(lambda rows: encode(output.outcomes(rows)), rows)]
                pending.append((group, n, parts))
                settle(keep=2)
            else:
                settle(keep=0)
                table = source.read_row_group(group)
                output.reject(table, start, np.flatnonzero(~keep))
                take = np.flatnonzero(keep)
                outcomes = output.outcomes(take + start)
                kept = table.take(pa.array(take))
                splicer.write(pa.Table.from_arrays([*kept.columns, *outcomes.columns], schema=splicer.combined))
                if bar is not None:
                    bar.update(n)
            start += n
        settle(keep=0)
    splicer.finish()


def _write_in_full(
    register: Path,
    header: list[str],
    good: BinaryIO,
    exact: bool,
    output: _Output,
    priced: npt.NDArray[np.bool_],
    bar: tqdm[Any] | None,
    parquet_out: bool,
) -> None:
    """Read the register again and write every kept row with its outcome columns (CSV or Parquet).

    CSV output has its text cells neutralised (`register.neutral`) and its rejected rows numbered by
    the lines where they begin in the file (`_lines`)."""
    writer: pq.ParquetWriter | None = None
    start = 0
    wrote_header = False
    line = 2 + sum(c.count("\n") for c in header)
    quoted = _has_quotes(register)
    with closing(_read_ahead(_reads(register, header, None, exact, plain=True), lambda: None)) as reads:
        for batch in reads:
            n = batch.num_rows
            keep = priced[start : start + n]
            lines = None
            if LINE in batch.column_names:
                lines = batch.column(LINE).to_numpy(zero_copy_only=False).astype(np.int64)
            elif quoted:
                lines, line = _lines(batch, header, line)
            output.reject(batch, start, np.flatnonzero(~keep), lines)
            take = np.flatnonzero(keep)
            kept = batch.select(header) if len(take) == n else batch.select(header).take(pa.array(take))
            if not parquet_out:
                kept = _neutralised(kept, output.texts)
            outcomes = output.outcomes(take + start)
            result = pa.Table.from_arrays([*kept.columns, *outcomes.columns], names=[*header, *OUTCOME_COLUMNS])
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
        writer = pq.ParquetWriter(good, pa.schema([*(pa.field(c, pa.string()) for c in header), *OUTCOME_SCHEMA]))
    if writer is not None:
        writer.close()
    if not parquet_out and not wrote_header:
        frame = pl.DataFrame(schema=[neutral(c) for c in header] + list(OUTCOME_COLUMNS))
        frame.write_csv(good)


def _has_quotes(path: Path) -> bool:
    """Whether a CSV file holds a quote, so that a cell may hold a line break (Parquet: no lines)."""
    if path.suffix.lower() == ".parquet" or path.stat().st_size == 0:
        return False
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(b'"') >= 0


def _lines(batch: pa.RecordBatch, header: list[str], line: int) -> tuple[I64, int]:
    """The line in the file where each row of a batch begins (the first begins at `line`), and the
    line after the batch: a cell holding line breaks moves the rows after it down."""
    breaks = np.zeros(batch.num_rows, dtype=np.int64)
    for c in header:
        column = batch.column(c)
        if _any_byte(column, b"\r\n"):
            found = pc.count_substring_regex(column, r"\r\n|\r|\n")
            breaks += pc.fill_null(found, 0).to_numpy(zero_copy_only=False)
    spans = breaks + 1
    ends = line + np.cumsum(spans)
    return ends - spans, int(ends[-1]) if len(ends) else line


def _text_parts(array: pa.Array) -> tuple[npt.NDArray[Any], npt.NDArray[np.uint8]]:
    """The offsets (one more than cells) and the bytes of a plain text column."""
    kind = np.int64 if pa.types.is_large_string(array.type) else np.int32
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=kind)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, dtype=np.uint8)
    return offsets, data


def _any_byte(array: pa.Array, found: bytes) -> bool:
    """Whether a text column may hold any of the given bytes (a quick look at all its bytes)."""
    offsets, data = _text_parts(array)
    if not len(array):
        return False
    held = data[int(offsets[0]) : int(offsets[-1])]
    return bool(np.isin(held, np.frombuffer(found, dtype=np.uint8)).any())


_FORMULA_BYTES = np.frombuffer(b"=+-@\t\r", dtype=np.uint8)


def _risky(array: pa.Array) -> bool:
    """Whether a text column holds a cell that begins like a formula (see `register.FORMULA_START`)."""
    offsets, data = _text_parts(array)
    starts = offsets[:-1][offsets[1:] > offsets[:-1]]
    return bool(np.isin(data[starts], _FORMULA_BYTES).any())


def _neutralised(table: pa.Table, texts: frozenset[str]) -> pa.Table:
    """A table as written to CSV: text cells that a spreadsheet would take for a formula get a leading '
    (see `register.neutral`), and the column names likewise."""
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name in texts:
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
            if any(_risky(chunk) for chunk in chunks):
                risky = pc.fill_null(pc.match_substring_regex(column, r"^[=+\-@\t\r]"), False)
                column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=[neutral(c) for c in table.column_names])


def _reasons(
    decided: list[Decided],
    known: dict[int, str],
    columns: dict[str, Any],
    results: _Results,
    decision: I32,
    index: I64 | slice,
    undetermined: npt.NDArray[np.bool_],
) -> pa.Array:
    """The `undetermined_reason` cells of a batch: worded once per distinct reason, then spread."""
    rows = np.flatnonzero(undetermined) + index.start if isinstance(index, slice) else index[undetermined]
    cells = np.full(len(undetermined), -1, dtype=np.int64)
    if len(rows):
        unknown_age = columns["exempt_unknown"][rows].astype(np.int64)
        why = results.why[rows].astype(np.int64)
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
        for u in uniques.tolist():
            text = known.get(u)
            if text is None:
                rest, a = divmod(u, 4096)
                rest, d = divmod(rest, 2**22)
                rest, r = divmod(rest, 32)
                rest, unknown = divmod(rest, 2)
                dec, w = divmod(rest, 4)
                on = EPOCH + timedelta(days=d - 2**20) if d else EPOCH
                text = known[u] = _reason_text(decided[dec], bool(unknown), w, REGIONS[r], on, a)
            texts.append(text)
        cells[np.flatnonzero(undetermined)] = codes
    indices = pa.array(np.maximum(cells, 0).astype(np.int32), mask=cells < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(texts if len(rows) else [], type=pa.string()))


def _conflict_text(row: int, columns: dict[str, Any], results: _Results) -> str:
    """The reason of a row whose home region or birth date differs from the patient's first row."""
    first = int(results.ref[row])
    column = "home_region" if results.conflict[row] == 1 else "birth_date"

    def shown(r: int) -> str:
        if column == "home_region":
            code = int(columns["home"][r])
            return REGIONS[code].value if code >= 0 else ""
        day = int(columns["birth"][r])
        return str(EPOCH + timedelta(days=day)) if day != MISSING_DAY else ""

    return conflict_reason(column, shown(row), shown(first), first + 2)
