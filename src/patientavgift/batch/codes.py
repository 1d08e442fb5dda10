"""Register cells to codes: every distinct text of a column checked once, the rows as numbers.

Each text column is read as a dictionary; its distinct texts are checked with the same models as
the per-contact path (`register.parse_row` rejects exactly what `_check_cell` rejects), and a
compiled loop spreads their codes over the rows: the facts of a contact as one number (the *key*),
the care and home region, the dates and the age. A row with a bad cell is marked invalid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from ..model import FACT_TYPES, Contact, Patient, Programme, Region, Service, contradictions, nested, parse_date
from ..register import (
    BLANK,
    CONTACT_COLUMNS,
    FIRST_DAY,
    KNOWN_COLUMNS,
    LAST_DAY,
    PERSONNUMMER,
    PROGRAMME_COLUMNS,
    REGION_IDS,
    SERVICE_IDS,
    text_cell,
    typed_cell,
)

EPOCH = date(1970, 1, 1)
REGIONS = list(Region)
"""Regions by code (a row's region and home region are kept as these indices)."""
REGION_CODE = {r: i for i, r in enumerate(REGIONS)}
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]


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
    value = typed_cell(column, text)
    try:
        if column == "region":
            region = REGION_IDS.get(text)
            return region is not None, region
        if column == "service":
            service = SERVICE_IDS.get(text)
            return service is not None, service
        if column in ("date", "birth_date"):
            on = parse_date(text)  # (what the models' date fields run)
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


def reject_contradictions(encoder: Encoder, enc: Coded) -> None:
    """Rows whose facts contradict each other are invalid, as in `register._parse` (`model.contradictions`)."""
    bad = [k for k in np.unique(enc.key[~enc.invalid]).tolist() if contradictions(encoder.decode(k)[0])]
    if bad:
        enc.invalid |= np.isin(enc.key, bad)


@dataclass
class Coded:
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
            else:
                facts[column] = value
        assert region is not None
        return nested(facts), region, service

    def encode(
        self, batch: pa.RecordBatch, keep_ids: bool = True, into: dict[str, npt.NDArray[Any]] | None = None
    ) -> Coded:
        """Check every cell of a batch and turn the rows into codes (a row with a bad cell is invalid).

        Each column goes through its dictionary: the distinct texts are looked up once, and one
        compiled loop per column spreads their codes over the rows. With `keep_ids` the batch's
        distinct patient ids are kept, so that all rows can be numbered by patient at the end.
        `into` may give the arrays to fill (by the names of `Coded`), so nothing is copied later.
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
        return Coded(invalid, key, day, age, region, home, birth, patient, ids, first)


def load_compiled() -> None:
    """Load numba's compiled code before the first batch needs it: the first compiled loop a process
    calls costs a few tenths of a second (the others load in milliseconds when they are called)."""
    i32, i64 = np.zeros(1, dtype=np.int32), np.zeros(1, dtype=np.int64)
    _fold(i32, _NO_BITS, 0, i64, np.ones(1, dtype=np.bool_), i64, i64.copy(), np.zeros(1, dtype=np.bool_), i32.copy())
    _checked(i32, i32, i32, i32, i32, i32, np.zeros(1, dtype=np.bool_))
