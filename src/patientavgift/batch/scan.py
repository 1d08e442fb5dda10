"""The ceiling, per patient: the rows ordered by patient, date and line, and one compiled walk through
each patient's contacts with `ceiling.ceiling_step`, the step the engine takes contact by contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numba
import numpy as np
import polars as pl
import pyarrow as pa

from ..ceiling import FRIKORT, LOWERED, NO_CEILING, NO_PERIOD, REACHED, UNKNOWN, ceiling_step
from ..engine import (
    period_end,
)
from ..register import (
    RegisterError,
)
from .codes import EPOCH, I8, I32, I64

MAX_AT_ONCE = 2**31 - 1
"""At most this many rows are priced at once (rows and patients are numbered with 32-bit integers)."""


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


def load_compiled() -> None:
    """Load numba's compiled code of the scan before it is needed (see `codes.load_compiled`)."""
    i32 = np.zeros(1, dtype=np.int32)
    _order(i32, i32, 1)


def _period_ends(day0: int, day1: int, months: int) -> I32:
    """For every day from day0 to day1: the last day of a high-cost period starting that day."""
    out = np.empty(day1 - day0 + 1, dtype=np.int32)
    for i in range(len(out)):
        start = EPOCH + timedelta(days=day0 + i)
        out[i] = (period_end(start, months) - EPOCH).days
    return out


@dataclass
class Results:
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
    def empty(cls, rows: int) -> Results:
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
            raise RegisterError(f"en patientgrupp med fler än {MAX_AT_ONCE:,} rader; ange ett mindre --chunk-rows")
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

    def place(self, other: Results, rows: I64) -> None:
        """Copy a bucket's results into these rows."""
        for name in ("fee", "holds", "lowered", "why", "conflict"):
            getattr(self, name)[rows] = getattr(other, name)
        self.ref[rows] = rows[other.ref]
        self.patients += other.patients
        self.reaching += other.reaching


@numba.njit(cache=True, nogil=True)
def patient_numbers(entry: I32, number: I32) -> I32:
    """Each row's patient number from the number of its id entry (-1 stays -1: not priced)."""
    out = np.empty(len(entry), np.int32)
    for i in range(len(entry)):
        out[i] = number[entry[i]] if entry[i] >= 0 else -1
    return out


def numbered(ids: pa.ChunkedArray) -> tuple[I32, int]:
    """Each id as a number (equal ids, equal numbers) and how many distinct ids there are."""
    if not len(ids):
        return np.zeros(0, dtype=np.int32), 0
    ranks = pl.Series(ids.combine_chunks()).rank("dense").to_numpy().astype(np.int32) - 1
    return ranks, int(ranks.max()) + 1
