"""The register pricing on tables: Arrow batches in, per-row results and outcome columns out.

Nothing here reads or writes a file (that is `files`): `price_batches` takes the register's rows
as Arrow record batches, in file order, and returns what every row concluded (`Priced`), from
which `outcomes.Outcomes` builds the outcome columns of any rows. `price_table` does all of it for
a table held in memory. The steps:

1. **Rules over columns** (`codes`, `decisions`). Each text column is read as a dictionary, so
   every distinct cell is checked once; a compiled loop turns the cells of a row into one key,
   and the date into a *segment* (the stretch between two dates where any rule value starts or
   ends). `engine.decide` runs once per distinct (key, segment), the same for the age exemptions
   and the ceiling amount, and the answers are spread back over the rows.
2. **The ceiling, per patient** (`scan`). Patient ids are numbered once; a counting sort orders
   the rows by patient, date and line, and one compiled loop walks each patient's contacts
   through `ceiling.ceiling_step`, the engine's own step.
3. **Memory bounded.** With more than one bucket, the few columns the ceiling needs are spilled
   to Arrow files in buckets by patient (a patient's rows always land in the same bucket) and
   each bucket is sorted and scanned on its own. About 35 bytes per row are kept in file order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.ipc as ipc

from ..engine import Selection, checked_selection
from ..register import KNOWN_COLUMNS, OUTCOME_COLUMNS, RegisterError, Summary, check_flat, check_header
from ..rules import RuleBook
from .codes import Encoder, reject_contradictions
from .codes import load_compiled as load_codes
from .decisions import Rules
from .decisions import load_compiled as load_decisions
from .outcomes import Outcomes, summarise
from .scan import MAX_AT_ONCE, Results, numbered, patient_numbers
from .scan import load_compiled as load_scan

BATCH_ROWS = 1_000_000
"""Rows per batch when a register is read or a table is priced."""
PROBLEM = "__problem__"
"""A column the CSV reader adds when it reads row by row: why a row cannot be read (else empty)."""
LINE = "__line__"
"""A column the CSV reader adds when it reads row by row: the line where each row begins."""
RESERVED = (PROBLEM, LINE)


class Bar(Protocol):
    """A progress bar, as `tqdm` gives one."""

    def update(self, n: float | None = 1) -> bool | None: ...

    def close(self) -> None: ...


Progress = Callable[[str, int | None], Bar | None]
"""Makes a progress bar for a stage (its name and total), or None for no bar."""


def no_progress(what: str, total: int | None) -> Bar | None:
    """No progress bar for any stage (a table in memory, or a short register)."""
    return None


def load_compiled() -> None:
    """Load numba's compiled code before the first batch needs it: the first compiled loop a process
    calls costs a few tenths of a second (the others load in milliseconds when they are called)."""
    load_codes()
    load_decisions()
    load_scan()


class _Columns:
    """Per row of the register (in file order): what the ceiling, the output and the summary need.

    Each column is one array filled batch by batch, made as long as the register (Parquet) or as
    long as it is expected to be (CSV, from its size): a longer register grows it by half again.
    Nothing is joined at the end (which would hold two copies at once), and room never filled is
    never touched, so it costs no memory.
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

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.whole: dict[str, npt.NDArray[Any]] = {}
        self.problem: dict[int, str] = {}

    def _room(self, name: str, start: int, n: int) -> npt.NDArray[Any]:
        """The whole column `name`, with room for rows `start` to `start + n` (the rows before
        `start` are filled)."""
        whole = self.whole.get(name)
        if whole is None:
            whole = self.whole[name] = np.empty(max(self.rows, start + n), dtype=self.KINDS[name])
        elif len(whole) < start + n:
            grown = np.empty(max(start + n, len(whole) * 3 // 2), dtype=self.KINDS[name])
            grown[:start] = whole[:start]
            whole = self.whole[name] = grown
        return whole

    def views(self, names: list[str], start: int, n: int) -> dict[str, npt.NDArray[Any]]:
        """Where a batch's rows go in the whole columns."""
        return {name: self._room(name, start, n)[start : start + n] for name in names}

    def add(self, name: str, start: int, values: npt.NDArray[Any]) -> None:
        whole = self._room(name, start, len(values))
        if values.base is not whole:  # (a view given to the encoder is filled already)
            whole[start : start + len(values)] = values

    def joined(self, rows: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, kind in self.KINDS.items():
            whole = self.whole.pop(name, None)
            out[name] = whole[:rows] if whole is not None else np.zeros(0, dtype=kind)
        out["problem"] = self.problem
        return out


@dataclass
class Priced:
    """A register priced: per row in file order, what the rules and the ceiling concluded."""

    columns: dict[str, Any]
    """Per row: the columns of pass 1 (`_Columns.KINDS`), plus `problem` (row -> why it cannot be
    read), `decided` (the distinct decisions) and `rules` (the `decisions.Rules` that made them)."""
    results: Results
    priced: npt.NDArray[np.bool_]
    """Which rows are priced; the others are rejected."""
    summary: Summary
    scanning: float
    """When the ceiling scan began (`time.perf_counter`), for the run's figures."""

    def outcomes(self) -> Outcomes:
        """The maker of the outcome columns of any rows."""
        return Outcomes(self.columns, self.results)


SPILLED = pa.schema(
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
"""What a spilled bucket holds per valid row: the patient id, the row's number and what the scan needs."""
_SCANNED = ("day", "home", "birth", "net", "ceiling")


def price_batches(
    book: RuleBook,
    chosen: Selection,
    batches: Iterable[pa.RecordBatch],
    header: Sequence[str],
    *,
    source: str,
    total: int | None = None,
    expected: int = 0,
    buckets: int = 1,
    spill: Path | None = None,
    progress: Progress = no_progress,
    meanwhile: Callable[[dict[str, Any]], None] | None = None,
) -> Priced:
    """Price a register given as record batches in file order (each with the columns of `header`,
    and `PROBLEM` when read row by row): pass 1 (rules over every batch), then pass 2 (the ceiling,
    all patients at once, or bucket by bucket through files in `spill` when `buckets` > 1).

    `total` is the number of rows when known, else `expected` a guess (see `_Columns`); `source`
    names the register in messages; `meanwhile` gets the columns of pass 1 before pass 2 begins
    (it may start work in other threads that reads them).
    """
    summary = Summary(ignored_columns=[c for c in header if c not in KNOWN_COLUMNS])
    encoder = Encoder([c for c in header if c in KNOWN_COLUMNS])
    rules = Rules(book, chosen, encoder)
    columns = _Columns(total if total is not None else expected)
    writers: list[ipc.RecordBatchFileWriter] = []
    if buckets > 1:
        assert spill is not None
        writers = [ipc.new_file(spill / f"bucket-{k}.arrow", SPILLED) for k in range(buckets)]
    bar = progress("reading and applying the rules", total)
    start = 0
    for batch in batches:
        stored = ["invalid", "day", "age", "home", "birth", *([] if writers else ["patient"])]
        n = batch.num_rows
        if not writers and start + n > MAX_AT_ONCE:
            raise RegisterError(
                f"{source}: fler än {MAX_AT_ONCE:,} rader att prissätta på en gång; ange --chunk-rows under det,"
                " så att registret prissätts i grupper av patienter"
            )
        enc = encoder.encode(batch, keep_ids=not writers, into=columns.views(stored, start, n))
        if PROBLEM in batch.column_names:
            for i, problem in enumerate(batch.column(PROBLEM).to_pylist()):
                if problem:
                    columns.problem[start + i] = problem
                    enc.invalid[i] = True
        reject_contradictions(encoder, enc)
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
                schema=SPILLED,
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
    if meanwhile is not None:
        meanwhile(joined)
    results = Results.empty(start)
    scanning = time.perf_counter()
    months = book.period_months()
    if writers:
        assert spill is not None
        bar = progress("pricing patients (buckets)", buckets)
        for k in range(buckets):
            with pa.memory_map(str(spill / f"bucket-{k}.arrow")) as spilled:
                part = ipc.open_file(spilled).read_all()
            patient, patients = numbered(part.column("pid"))
            got = Results.empty(part.num_rows)
            day, home, birth, net, ceiling = (part.column(c).to_numpy() for c in _SCANNED)
            got.scan(patient, patients, day, home, birth, net, ceiling, months)
            results.place(got, part.column("row").to_numpy())
            (spill / f"bucket-{k}.arrow").unlink()
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    else:
        ids, patients = numbered(pa.chunked_array(encoder.patient_ids, type=pa.string()))
        patient = patient_numbers(joined.pop("patient"), ids)
        day, home, birth = joined["day"], joined["home"], joined["birth"]
        results.scan(patient, patients, day, home, birth, joined.pop("net"), joined.pop("ceiling"), months)
    priced = summarise(joined, results, summary)
    return Priced(joined, results, priced, summary, scanning)


def price_table(
    book: RuleBook, table: pa.Table, proposals: str | Sequence[str] | Selection = "none"
) -> tuple[pa.Table, Summary]:
    """Price a register held as an Arrow table: the priced rows in table order, every input column
    unchanged and the outcome columns added (`outcomes.OUTCOME_SCHEMA`), and the summary.

    Rows that cannot be priced are left out of the table and counted in the summary (`price_register`
    writes them with their reasons). Text cells are checked as in a CSV register; typed columns (as
    Parquet gives them) as `register.text_cell` writes them. `proposals` as `--proposals` takes them
    (none, all, ids), or a selection (`engine.selection`); unknown ids are refused (ValueError).
    """
    header = [c for c in table.column_names if c not in RESERVED]
    check_flat("the table", table.schema)
    check_header("the table", header)
    wanted = proposals if not isinstance(proposals, frozenset) else sorted(proposals)
    chosen = checked_selection(book, wanted)
    load_compiled()
    priced = price_batches(
        book, chosen, table.to_batches(max_chunksize=BATCH_ROWS), header, source="the table", total=table.num_rows
    )
    keep = np.flatnonzero(priced.priced)
    rows = table.select(header)
    if len(keep) < table.num_rows:
        rows = rows.take(pa.array(keep))
    outcomes = priced.outcomes().table(keep)
    return pa.Table.from_arrays([*rows.columns, *outcomes.columns], names=[*header, *OUTCOME_COLUMNS]), priced.summary
