"""Registers on disk: reading CSV and Parquet in batches, writing the outputs, the rejects file.

A thin layer around `core.price_batches`: reading runs in worker threads beside the pricing (a
Parquet register's row groups two at a time); a CSV row with the wrong number of fields makes the
register be read again with Python's reader, row by row, so that the row can be rejected with its
line. Outputs are written to temporary files, locked and renamed into place when the run has
succeeded (`outputs.atomic`); a long register's buckets of patients are spilled to a temporary
folder (`outputs.spill_folder`). Every input column is copied unchanged: Parquet to Parquet copies
the input's column chunks byte for byte and encodes only the outcome columns (see `splice`), the
ones the rules decide alone while the ceiling is applied. A CSV register is parsed once: the
batches of the rules pass are kept (in memory, or in the spill folder when long) and written in full
from there (CSV cells neutralised, `register.neutral`, and written by `csvtext`); a Parquet register
that cannot be copied is read a second time.
"""

from __future__ import annotations

import csv
import math
import resource
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, suppress
from dataclasses import dataclass, field
from functools import partial
from itertools import islice, repeat
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from tqdm import tqdm

from ..engine import (
    Selection,
)
from ..outputs import OutputError, atomic, spill_folder
from ..register import (
    CHUNK_ROWS,
    KNOWN_COLUMNS,
    OUTCOME_COLUMNS,
    RegisterError,
    Row,
    Summary,
    check_csv_output,
    csv_writer,
    encoding_error,
    field_count_problem,
    neutral,
    output_paths,
    parse_row,
    read_header,
    shown_cells,
    text_cell,
    text_columns,
)
from ..rules import RuleBook
from ..splice import Encoded, SpliceError, Splicer, encode
from . import csvtext
from .codes import I64
from .core import BATCH_ROWS, LINE, PROBLEM, RESERVED, Priced, Progress, load_compiled, price_batches
from .outcomes import OUTCOME_SCHEMA, Decisions, Outcomes, conflict_text

PROGRESS_ROWS = 200_000
"""Runs on registers at least this long show a progress bar on stderr."""
KEPT_ROWS = 2 * BATCH_ROWS
"""A CSV register of up to about this many rows is kept in memory between the passes, a longer one on disk."""
CSV_BLOCK = 16 << 20
"""Bytes of a CSV register parsed into one batch (about 100 000 rows): larger blocks cost more memory,
smaller ones more work per batch in the rules and when the output is written."""
READ_AHEAD = 4
"""Batches of a CSV register parsed ahead of the rules (they wait as plain texts, about 16 MB each),
so that the parsing goes on while the compiled loops are loaded."""
WRITE_ROWS = BATCH_ROWS // 2
"""Rows of CSV output made ready at a time (`csvtext.prepare`, which formats every column's distinct
cells once: the fewer groups, the less work). Two groups are held while one is written and the next
made ready: twice as many rows raised the peak memory for 10 M contacts from 1.7 to 1.9 GB."""


class _Ragged(Exception):
    """A CSV row has more or fewer fields than the header (the fast reader cannot number it)."""


@dataclass
class _Reads:
    """A register as reads of one batch each (in order), how many may run at the same time, and
    the files they opened (closed by `_read_ahead` at the end)."""

    tasks: Iterator[Callable[[], pa.RecordBatch | None]]
    workers: int
    opened: list[pq.ParquetFile | Generator[pa.RecordBatch]] = field(default_factory=list)
    then: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None
    """A second step for each batch, run in a worker of its own while the next batch is read."""


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
    # (a CSV register is parsed as plain texts, and the columns the rules read are made dictionaries
    # in a second worker: two steps of about the same cost, side by side)
    then = None if plain or exact or path.suffix.lower() == ".parquet" else partial(_encoded, KNOWN_COLUMNS)
    return _Reads(repeat(partial(next, batches, None)), 1, [batches], then)


def _encoded(known: frozenset[str], batch: pa.RecordBatch) -> pa.RecordBatch:
    """A batch with the columns the rules read (`known`) as dictionaries: each distinct text is then
    checked once (`codes`) and written once (`csvtext`)."""
    columns = [
        csvtext.dictionary(c) if n in known else c for n, c in zip(batch.schema.names, batch.columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _batches(
    path: Path, header: list[str], columns: list[str] | None, exact: bool, plain: bool = False
) -> Generator[pa.RecordBatch]:
    """The register in batches of rows, every cell as text (CSV) or as stored (Parquet).

    A Parquet register's text columns come as dictionaries, so that each distinct text is checked
    once per batch (`plain` reads them as plain texts instead); a CSV register's cells come as plain
    texts, made dictionaries in a second step beside the parsing (`_reads`). `exact` reads a
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

    # (every cell as plain text: the columns the rules read are made dictionaries by `_reads`' second step)
    types = {c: pa.string() for c in wanted}
    try:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK),
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
        raise RegisterError(f"{path}: kan inte läsas som CSV ({exc})") from None
    if ragged:
        raise _Ragged(ragged[0])


def _read_ahead(reads: _Reads, meanwhile: Callable[[], None]) -> Generator[pa.RecordBatch]:
    """The batches of `reads` (see `_reads`), in order, read in worker threads while the ones
    before are priced.

    Reading and decoding run in pyarrow without the interpreter lock, so on two cores they
    overlap with the pricing; `meanwhile` runs while the first batches are read. Errors of the
    reader come out here, in order.
    """
    then = reads.then
    try:
        with ThreadPoolExecutor(max_workers=reads.workers) as pool, ThreadPoolExecutor(max_workers=1) as second:

            def submit(task: Callable[[], pa.RecordBatch | None]) -> Future[pa.RecordBatch | None]:
                read = pool.submit(task)
                if then is None:
                    return read

                def step() -> pa.RecordBatch | None:
                    batch = read.result()
                    return then(batch) if batch is not None else None

                return second.submit(step)

            pending = deque(submit(task) for task in islice(reads.tasks, reads.workers if then is None else READ_AHEAD))
            meanwhile()
            while pending:
                batch = pending.popleft().result()
                if batch is None:
                    return
                following = next(reads.tasks, None)
                if following is not None:
                    pending.append(submit(following))
                yield batch
    finally:
        for source in reads.opened:
            source.close()  # (a Parquet file, or the generator of `_batches`)


def _exact_batches(path: Path, header: list[str], wanted: list[str]) -> Iterator[pa.RecordBatch]:
    """The register read with Python's CSV reader; each batch also has the problem of each row
    (`PROBLEM`) and the line where it begins in the file (`LINE`)."""
    positions = {c: header.index(c) for c in wanted}
    # (the same types in every batch, so that the batches can be kept in one file)
    schema = pa.schema([*(pa.field(c, pa.string()) for c in wanted), (PROBLEM, pa.string()), (LINE, pa.int64())])
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
                yield pa.RecordBatch.from_pydict(data, schema=schema)
    except UnicodeDecodeError:
        raise encoding_error(path) from None


def _load_compiled() -> None:
    """Load the compiled loops of the pricing and of the CSV writer (see `core.load_compiled`)."""
    load_compiled()
    csvtext.load_compiled()


def _bars(enabled: bool, out: TextIO | None) -> Progress:
    """Progress bars on `out` for each stage, when `enabled` (a long register)."""

    def bar(what: str, total: int | None) -> tqdm[Any] | None:
        if not enabled or out is None:
            return None
        return tqdm(total=total, desc=what, unit=" rows", unit_scale=True, file=out, leave=False, mininterval=0.5)

    return bar


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
    _memory_pool()
    header = _header(register)
    rejects = output_paths(register, out, rejects)
    check_csv_output(register, out)
    parquet = register.suffix.lower() == ".parquet"
    total = pq.read_metadata(register).num_rows if parquet else None
    estimate = total if total is not None else _estimate_rows(register)
    buckets = max(1, math.ceil(estimate / chunk_rows)) if chunk_rows > 0 else 1
    bars = _bars(estimate >= PROGRESS_ROWS, progress)
    # (encoding ahead keeps every row group's encoded columns until written: only when all is in memory anyway)
    ahead = _Ahead(register, parquet and out.suffix.lower() == ".parquet" and buckets == 1)
    bar = None
    with atomic([out, rejects]) as (out_part, rejects_part):
        try:
            with spill_folder() as spill:
                # (a long register's batches are kept in the spill folder, a short one's in memory)
                parsed = _Parsed(not parquet, spill if estimate > KEPT_ROWS else None)

                def price_pass(exact: bool) -> Priced:
                    known = [c for c in header if c in KNOWN_COLUMNS]
                    # (a CSV register is read in full once: its batches are kept for the output)
                    reads = _reads(register, header, known if parquet and not exact else None, exact)
                    # (closed at once on an error, so that no reader thread outlives the run)
                    with closing(_read_ahead(reads, _load_compiled)) as read, closing(parsed.keeping(read)) as batches:
                        return price_batches(
                            book, chosen, batches, header, source=str(register), total=total, expected=estimate,
                            buckets=buckets, spill=spill, progress=bars, meanwhile=ahead.start,
                        )  # fmt: skip

                exact = False
                try:
                    priced = price_pass(exact)
                except _Ragged:  # (a CSV row with the wrong number of fields: read again, row by row)
                    exact = True
                    priced = price_pass(exact)
                summary = priced.summary
                bar = bars("writing", summary.read)
                steps = {"read and rules": priced.scanning - began, "ceiling": time.perf_counter() - priced.scanning}
                writing = time.perf_counter()
                _write(register, header, out_part, rejects_part, exact, priced, bar, ahead, parsed)
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


def _memory_pool() -> None:
    """Let Arrow take its memory from jemalloc where the installed pyarrow has it. The default
    (mimalloc) gives freed memory back to the system at once, and a register run frees and takes
    hundreds of MB: each page taken anew costs the system time. With jemalloc, pricing 1 M contacts
    took about 10 % less time from Parquet and 15 % less from CSV (`benchmarks/price_register.py`)."""
    if pa.default_memory_pool().backend_name == "jemalloc":
        return
    with suppress(NotImplementedError):  # (a pyarrow built without it: the default is kept)
        pa.set_memory_pool(pa.jemalloc_memory_pool())


def _header(path: Path) -> list[str]:
    """The register's checked header (`register.read_header`), without the names the row-by-row reader adds."""
    header = read_header(path)
    for reserved in RESERVED:
        if reserved in header:
            raise RegisterError(
                f"{path}: rad 1: kolumnnamnet {reserved} används av prissättningen; byt namn på kolumnen eller ta bort den"
            )
    return header


def read_table(path: Path) -> pa.Table:
    """A register file as one Arrow table for `core.price_table`, read as `price_register` reads it:
    every CSV cell as text, Parquet columns as stored; a CSV with a row of the wrong number of fields
    is read row by row, each row with its problem (`core.PROBLEM`), so that the row is rejected."""
    header = _header(path)
    try:
        batches = list(_batches(path, header, None, exact=False, plain=True))
    except _Ragged:
        batches = list(_batches(path, header, None, exact=True, plain=True))
    if batches:
        return pa.Table.from_batches(batches)
    if path.suffix.lower() == ".parquet":
        return pq.read_schema(path).empty_table()
    return pa.table({c: pa.array([], type=pa.string()) for c in header})


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
        self.decisions: Decisions | None = None

    def start(self, columns: dict[str, Any]) -> None:
        """Begin with the columns of pass 1 (they are only read from here on)."""
        if self.pool is None:
            return
        decisions = self.decisions = Decisions(columns)
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


class _Parsed:
    """A CSV register's batches as the rules pass read them, every column, kept for the write pass
    so that the register is parsed once: in memory (about 100 bytes a row, as dictionaries), or in
    an Arrow stream file in `folder` when the register is long."""

    def __init__(self, wanted: bool, folder: Path | None) -> None:
        self.wanted = wanted
        self.held: deque[pa.RecordBatch] = deque()
        self.path = folder / "register.arrows" if folder is not None else None

    def keeping(self, batches: Iterable[pa.RecordBatch]) -> Generator[pa.RecordBatch]:
        """The batches, each kept as it passes if `wanted` (a pass that starts over replaces what the
        last one kept)."""
        self.held.clear()
        writer = None
        try:
            for batch in batches:
                if not self.wanted:
                    pass
                elif self.path is None:
                    self.held.append(batch)
                else:
                    # (compressed: the dictionaries' indices shrink about eightfold, for little time)
                    options = ipc.IpcWriteOptions(compression="lz4")
                    writer = writer or ipc.new_stream(self.path, batch.schema, options=options)
                    writer.write_batch(batch)
                yield batch
        finally:
            if writer is not None:
                writer.close()

    def batches(self) -> Generator[pa.RecordBatch]:
        """The kept batches, in order, each let go once given."""
        while self.held:
            yield self.held.popleft()
        if self.path is not None and self.path.exists():
            with pa.OSFile(str(self.path)) as source:
                yield from ipc.open_stream(source)


class _Rejects:
    """The rejects file: each rejected row with the line where it begins, its cells as written to a
    CSV (`register.shown_cells`) and every reason, worded as the per-contact path words them."""

    def __init__(self, bad: TextIO, header: list[str], texts: frozenset[str], priced: Priced) -> None:
        self.header = header
        self.texts = texts
        self.columns = priced.columns
        self.results = priced.results
        self.write = csv_writer(bad)
        self.write(["line", *(neutral(c) for c in header), "reason"])

    def reject(self, batch: pa.RecordBatch | pa.Table, start: int, lost: I64, lines: I64 | None = None) -> None:
        """Write the given rows of a batch (numbered from 0 within it) to the rejects file, with their
        reasons; `lines` gives the line of each row of the batch in the file (else row + 2)."""
        if not len(lost):
            return
        records = batch.take(pa.array(lost)).to_pylist()
        for i, record in zip(lost.tolist(), records, strict=True):
            row = start + i
            line = int(lines[i]) if lines is not None else row + 2
            values = {k: text_cell(v) for k, v in record.items() if k not in RESERVED}
            if self.columns["invalid"][row]:
                reason = self.columns["problem"].get(row) or parse_row(Row(line, values))
                if reason is None:
                    raise AssertionError(f"line {line}: the row was found invalid but no reason was given")
            else:
                reason = conflict_text(row, self.columns, self.results)
            self.write([line, *shown_cells(values, self.header, self.texts), reason])


def _write(
    register: Path,
    header: list[str],
    out: Path,
    rejects: Path,
    exact: bool,
    priced: Priced,
    bar: tqdm[Any] | None,
    ahead: _Ahead,
    parsed: _Parsed,
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
                output = Outcomes(priced.columns, priced.results, ahead.decisions)
                _write_spliced(register, good, output, _Rejects(bad, header, texts, priced), priced.priced, bar, ahead)
            if _rows_written(out) == int(priced.priced.sum()):
                return
        except SpliceError:
            pass
        ahead.stop()  # (nothing of it is used now)
        if bar is not None:
            bar.reset()  # (the rows are written again, in full)
    with out.open("wb") as good, rejects.open("w", encoding="utf-8", newline="") as bad:
        lost = _Rejects(bad, header, texts, priced)
        _write_in_full(
            register,
            header,
            good,
            exact,
            priced.outcomes(),
            lost,
            texts,
            priced.priced,
            bar,
            out.suffix.lower() == ".parquet",
            parsed if parsed.wanted else None,
        )


def _write_spliced(
    register: Path,
    good: BinaryIO,
    output: Outcomes,
    lost: _Rejects,
    priced: npt.NDArray[np.bool_],
    bar: tqdm[Any] | None,
    ahead: _Ahead,
) -> None:
    """Parquet to Parquet: row groups without rejected rows are copied, the others written again.

    The outcome columns of the next row groups are built and encoded in worker threads while the
    current one is copied (NumPy and pyarrow do most of that without the interpreter lock).
    """
    pending: deque[tuple[int, int, list[Future[Encoded]]]] = deque()
    with (
        Splicer(register, good, OUTCOME_SCHEMA) as splicer,
        pq.ParquetFile(register) as source,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):

        def settle(keep: int) -> None:
            while len(pending) > keep:
                group, n, parts = pending.popleft()
                splicer.copy(group, [part.result() for part in parts])
                if bar is not None:
                    bar.update(n)

        start = 0
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
                    parts = [pool.submit(lambda rows: encode(output.table(rows)), rows)]
                pending.append((group, n, parts))
                settle(keep=2)
            else:
                settle(keep=0)
                table = source.read_row_group(group)
                lost.reject(table, start, np.flatnonzero(~keep))
                take = np.flatnonzero(keep)
                outcomes = output.table(take + start)
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
    output: Outcomes,
    lost: _Rejects,
    texts: frozenset[str],
    priced: npt.NDArray[np.bool_],
    bar: tqdm[Any] | None,
    parquet_out: bool,
    parsed: _Parsed | None = None,
) -> None:
    """Write every kept row with its outcome columns (CSV or Parquet), from the batches `parsed` in
    the rules pass, else from the register read again.

    CSV output has its text cells neutralised (`register.neutral`) and its rejected rows numbered by
    the lines where they begin in the file (`_lines`). Batches are gathered into groups of about
    `WRITE_ROWS` rows. Each group is made ready in one worker thread (`_prepared_csv`) and written
    in another (`csvtext.emit`, its pieces of rows on two more), so that the next group is made
    ready, and its rejected rows written, while one is written: the fewer the groups, the fewer
    times each column's distinct cells are formatted."""
    writer: pq.ParquetWriter | None = None
    start = 0
    line = 2 + sum(c.count("\n") for c in header)
    # (line numbers are needed only for rejected rows, and worked out only where a cell may hold a line break)
    quoted = not priced.all() and _breaks_in_cells(register, len(priced))
    names = [neutral(c) for c in header] + list(OUTCOME_COLUMNS)
    pending: deque[Future[None]] = deque()
    group: list[pa.Table] = []
    rows: list[I64] = []
    wrote = False

    def flush(pool: ThreadPoolExecutor, pieces: ThreadPoolExecutor) -> None:
        nonlocal wrote
        prepared = preparing.submit(_prepared_csv, register, group.copy(), output, np.concatenate(rows))
        pending.append(pool.submit(lambda header: csvtext.emit(good, prepared.result(), header, pieces), not wrote))
        wrote = True
        group.clear()
        rows.clear()
        while len(pending) > 2:
            pending.popleft().result()

    reads = (
        parsed.batches()
        if parsed is not None
        else _read_ahead(_reads(register, header, None, exact, plain=True), lambda: None)
    )
    with (
        closing(reads),
        ThreadPoolExecutor(max_workers=1) as pool,
        ThreadPoolExecutor(max_workers=1) as preparing,
        ThreadPoolExecutor(max_workers=2) as pieces,
    ):
        for batch in reads:
            n = batch.num_rows
            keep = priced[start : start + n]
            lines = None
            if LINE in batch.column_names:
                lines = batch.column(LINE).to_numpy(zero_copy_only=False).astype(np.int64)
            elif quoted:
                lines, line = _lines(batch, header, line)
            lost.reject(batch, start, np.flatnonzero(~keep), lines)
            take = np.flatnonzero(keep)
            kept = batch.select(header) if len(take) == n else batch.select(header).take(pa.array(take))
            if parquet_out:
                kept = _plain(kept) if parsed is not None else kept  # (the rules pass reads texts as dictionaries)
                outcomes = output.table(take + start)
                result = pa.Table.from_arrays([*kept.columns, *outcomes.columns], names=[*header, *OUTCOME_COLUMNS])
                if writer is None:
                    plain = {"patient_id", "undetermined_reason"}
                    dictionary = [c for c in result.column_names if c not in plain]
                    writer = pq.ParquetWriter(good, result.schema, write_statistics=False, use_dictionary=dictionary)
                writer.write_table(result)
            else:
                group.append(_neutralised(kept, texts))
                rows.append(take + start)
                if sum(len(r) for r in rows) >= WRITE_ROWS:
                    flush(pool, pieces)
            start += n
            if bar is not None:
                bar.update(n)
        if group:
            flush(pool, pieces)
        while pending:
            pending.popleft().result()
    if parquet_out and writer is None:
        writer = pq.ParquetWriter(good, pa.schema([*(pa.field(c, pa.string()) for c in header), *OUTCOME_SCHEMA]))
    if writer is not None:
        writer.close()
    if not parquet_out and start == 0:
        good.write(csvtext.header_line(names))


def _prepared_csv(register: Path, kept: list[pa.Table], output: Outcomes, rows: I64) -> csvtext.Prepared:
    """A group of batches' kept rows (neutralised) with their outcome columns, made ready to be
    written (`csvtext.prepare`)."""
    outcomes = output.table(rows)
    columns = pa.concat_tables(kept).columns
    result = pa.Table.from_arrays([*columns, *outcomes.columns], names=[*kept[0].column_names, *OUTCOME_COLUMNS])
    try:
        return csvtext.prepare(result)
    except csvtext.Unformattable as exc:
        raise RegisterError(
            f"{register}: kolumnen {exc.column} har typen {exc.kind}, som inte kan skrivas i en CSV-fil; "
            "skriv utfilen som Parquet (--out med .parquet), eller ta bort kolumnen ur registret"
        ) from None


def _breaks_in_cells(path: Path, rows: int) -> bool:
    """Whether a cell of a CSV register may hold a line break, so that its rows are not one line each
    (Parquet: no lines). Only where the file holds a quote, and has more line ends than its header
    and rows need, or a carriage return that does not end a line with a line feed."""
    if path.suffix.lower() == ".parquet":
        return False
    quote, ends, returns, pairs, last = False, 0, 0, 0, 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 24):
            data = np.frombuffer(block, dtype=np.uint8)
            quote = quote or b'"' in block
            ends += int(np.count_nonzero(data == 10))
            cr = data == 13
            if cr.any():
                returns += int(np.count_nonzero(cr))
                pairs += int(np.count_nonzero(cr[:-1] & (data[1:] == 10))) + (last == 13 and data[0] == 10)
            last = int(data[-1])
    needed = rows + 1 if last == 10 else rows  # (the header and the rows, the last one perhaps unended)
    return quote and (ends != needed or returns != pairs)


def _lines(batch: pa.RecordBatch, header: list[str], line: int) -> tuple[I64, int]:
    """The line in the file where each row of a batch begins (the first begins at `line`), and the
    line after the batch: a cell holding line breaks moves the rows after it down."""
    breaks = np.zeros(batch.num_rows, dtype=np.int64)
    for c in header:
        column = batch.column(c)
        texts = column.dictionary if pa.types.is_dictionary(column.type) else column
        if _any_byte(texts, b"\r\n"):
            found = pc.fill_null(pc.count_substring_regex(texts, r"\r\n|\r|\n"), 0).to_numpy(zero_copy_only=False)
            breaks += found[column.indices.to_numpy()] if texts is not column else found
    spans = breaks + 1
    ends = line + np.cumsum(spans)
    return ends - spans, int(ends[-1]) if len(ends) else line


def _any_byte(array: pa.Array, found: bytes) -> bool:
    """Whether a text column may hold any of the given bytes (a quick look at all its bytes)."""
    _, data = csvtext.text_parts(array)
    return bool(np.isin(data, np.frombuffer(found, dtype=np.uint8)).any())


_FORMULA_BYTE = np.zeros(256, dtype=np.bool_)
_FORMULA_BYTE[np.frombuffer(b"=+-@\t\r", dtype=np.uint8)] = True
"""Which first bytes make a cell look like a formula (see `register.FORMULA_START`)."""


def _risky(array: pa.Array) -> bool:
    """Whether a text column holds a cell that begins like a formula (see `register.FORMULA_START`)."""
    offsets, data = csvtext.text_parts(array)
    starts = offsets[:-1][offsets[1:] > offsets[:-1]]
    return bool(_FORMULA_BYTE[data[starts]].any())


def _neutralised(table: pa.Table, texts: frozenset[str]) -> pa.Table:
    """A table as written to CSV: text cells that a spreadsheet would take for a formula get a leading '
    (see `register.neutral`), and the column names likewise."""
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if name in texts:
            chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
            column = pa.chunked_array([_neutral_cells(chunk) for chunk in chunks], type=column.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=[neutral(c) for c in table.column_names])


def _neutral_cells(array: pa.Array) -> pa.Array:
    """A text column neutralised (see `_neutralised`); a dictionary column has its distinct texts
    neutralised, each once."""
    if pa.types.is_dictionary(array.type):
        return pa.DictionaryArray.from_arrays(array.indices, _neutral_cells(array.dictionary))
    if not _risky(array):
        return array
    risky = pc.fill_null(pc.match_substring_regex(array, r"^[=+\-@\t\r]"), False)
    return pc.if_else(
        risky, pc.binary_join_element_wise(pa.scalar("'", array.type), array, pa.scalar("", array.type)), array
    )


def _plain(table: pa.Table) -> pa.Table:
    """A table with its dictionary columns as plain columns of their values."""
    columns = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)
