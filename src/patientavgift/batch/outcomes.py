"""The outcome columns of priced rows, and the summary's counts.

The columns the rules decide alone (`DECIDED_COLUMNS`) follow from each row's decision; fee,
frikort, the undetermined reason and the confidence from the ceiling scan. Texts are worded once
per distinct reason and spread over the rows as dictionary columns.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from ..engine import (
    UNKNOWN_EARLIER_CEILING,
    UNKNOWN_EARLIER_FEE,
    no_age_rules,
    no_ceiling,
)
from ..model import Region
from ..register import (
    OUTCOME_COLUMNS,
    Summary,
    conflict_reason,
    reason_cell,
)
from .codes import EPOCH, I8, I32, I64, MISSING_DAY, REGIONS
from .decisions import AGE_SPAN, CONFIDENCE_LEVELS, Decided, Rules, list_fees
from .scan import Results


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


def summarise(columns: dict[str, Any], results: Results, summary: Summary) -> npt.NDArray[np.bool_]:
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


class Decisions:
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


class Outcomes:
    """The outcome columns of any set of rows, from the per-row results of a priced register."""

    def __init__(self, columns: dict[str, Any], results: Results, decisions: Decisions | None = None) -> None:
        self.columns = columns
        self.results = results
        self.decisions = decisions or Decisions(columns)
        self.reasons: dict[int, str] = {}

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

    def table(self, index: I64 | slice) -> pa.Table:
        """The outcome columns of the given rows (numbered from 0 in file order; a slice for a stretch)."""
        return pa.Table.from_pydict({**self.decisions.arrays(index), **self._scanned(index)}, schema=OUTCOME_SCHEMA)

    def scanned(self, rows: slice) -> pa.Table:
        """The columns that `DECIDED_COLUMNS` leaves out, of a stretch of rows."""
        return pa.Table.from_pydict(self._scanned(rows), schema=_SCANNED_SCHEMA)


def _reasons(
    decided: list[Decided],
    known: dict[int, str],
    columns: dict[str, Any],
    results: Results,
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


def conflict_text(row: int, columns: dict[str, Any], results: Results) -> str:
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
