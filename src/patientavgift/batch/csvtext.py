"""CSV text of Arrow columns, each distinct cell formatted once, the lines built by a compiled loop.

A priced CSV register is written as its input cells with the outcome columns beside them. Almost
every column holds a few distinct texts, so each column is made a dictionary, each distinct cell is
formatted once, neighbouring columns with few distinct cells are joined into one (`_grouped`), and
a compiled loop copies the formatted bytes of each row's cells into the output, pieces of rows on
two threads at once. polars' own writer formats every cell anew and takes about three times as long.

How cells are written: a text is quoted when it holds a comma, a quote, a line feed or a carriage
return, with a quote inside doubled; an empty text and an empty (null) cell are written as nothing,
as Python's csv module and the per-contact path write them (except in a one-column table, where
either is written `""` so that its line is not blank); numbers, dates and true/false are
written as polars writes them; lines end in a line feed. A column of a type polars cannot write
as one cell (a list, a struct) raises `Unformattable`.
"""

from __future__ import annotations

import errno
import fcntl
import io
import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any, BinaryIO

import numba
import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

PIECE_ROWS = 32_768
"""Rows formatted by one call of the compiled loop (two run at the same time); each piece's buffers
(about 8 MB of lines for a priced register) are reused by the pieces after it (`_Buffers`)."""
AHEAD = 8
"""Pieces formatted ahead of the one being written."""
GROUP_ENTRIES = 4096
"""Most combinations of neighbouring columns' cells formatted as one cell (see `_grouped`)."""

_SPECIAL = np.zeros(256, dtype=np.bool_)
_SPECIAL[np.frombuffer(b',"\n\r', dtype=np.uint8)] = True
"""Bytes that make a text be quoted."""


class Unformattable(Exception):
    """A column of a type that cannot be written as CSV text (bytes, a duration, a list, ...)."""

    def __init__(self, kind: str, column: str = "") -> None:
        super().__init__(f"{column}: {kind}" if column else kind)
        self.kind = kind
        self.column = column


def text_parts(texts: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """The offsets of a text array's cells (one more than cells, from 0) and their bytes (a null
    cell's bytes are whatever its offsets span: fill nulls first where that matters)."""
    if not len(texts):
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    kind = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    offsets_buffer, data_buffer = texts.buffers()[1:3]
    offsets = np.frombuffer(offsets_buffer, dtype=kind)[texts.offset : texts.offset + len(texts) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, dtype=np.uint8)
    first, last = int(offsets[0]), int(offsets[-1])
    return (offsets - first).astype(np.int64), data[first:last]


def dictionary(texts: pa.Array) -> pa.Array:
    """A column as a dictionary (`pc.dictionary_encode`), by a short way when every cell holds the
    same text: an optional column a register does not use is empty throughout, and hashing each of
    its cells cost about a tenth of a second per 10 million rows, column by column."""
    n = len(texts)
    if n and not texts.null_count and (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        offsets, data = text_parts(texts)
        size = int(offsets[1])
        if int(offsets[-1]) == n * size and (
            not size or (bool((np.diff(offsets) == size).all()) and bool((data.reshape(n, size) == data[:size]).all()))
        ):
            return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)), texts.slice(0, 1))
    return pc.dictionary_encode(texts)


def _formatted(texts: pa.Array, empty_quoted: bool = False) -> pa.Array:
    """Each text as one CSV cell (quoted where needed, see the module's notes); a null as an empty
    cell; an empty text as `""` if `empty_quoted`, else as nothing."""
    texts = texts.fill_null("") if texts.null_count else texts
    offsets, data = text_parts(texts)
    if not _SPECIAL[data].any() and not (empty_quoted and (offsets[1:] == offsets[:-1]).any()):
        return texts
    needs = pc.match_substring_regex(texts, '[,"\n\r]')
    if empty_quoted:
        needs = pc.or_(needs, pc.equal(texts, ""))
    mark, none = pa.scalar('"', texts.type), pa.scalar("", texts.type)
    quoted = pc.binary_join_element_wise(mark, pc.replace_substring(texts, '"', '""'), mark, none)
    return pc.if_else(needs, quoted, texts)


def _typed(values: pa.Array) -> pa.Array:
    """Numbers, dates, true/false and other single values as texts, as polars writes them to CSV
    (each distinct value once: `values` is a dictionary's list of values)."""
    try:
        frame = pl.from_arrow(pa.table({"v": values}))
        assert isinstance(frame, pl.DataFrame)
        buffer = io.BytesIO()
        frame.write_csv(buffer, include_header=False)
    except (pl.exceptions.PolarsError, pa.ArrowException, TypeError, ValueError) as exc:
        raise Unformattable(str(values.type)) from exc
    lines = buffer.getvalue().decode("utf-8").split("\n")[:-1]
    if len(lines) != len(values):
        raise Unformattable(str(values.type))  # (a value written over more than one line)
    return pa.array(lines, type=pa.string())


def _entries(column: pa.ChunkedArray, empty_quoted: bool) -> tuple[pa.Array, npt.NDArray[np.int32]]:
    """A column as its distinct cells (formatted) and, per row, which one it holds.

    The column becomes one dictionary (the chunks' dictionaries unified), so that each distinct
    cell is formatted once; one more entry, last, stands for a null.
    """
    chunks = []
    for chunk in column.chunks:
        try:
            chunk = chunk if pa.types.is_dictionary(chunk.type) else dictionary(chunk)
        except pa.ArrowNotImplementedError as exc:
            raise Unformattable(str(chunk.type)) from exc
        chunks.append(pc.cast(chunk, pa.dictionary(pa.int32(), chunk.type.value_type)))
    if not chunks:
        return pa.array([""], type=pa.string()), np.zeros(0, dtype=np.int32)
    if len(chunks) > 1:
        chunks = pa.chunked_array(chunks).unify_dictionaries().chunks
    values = chunks[0].dictionary
    text = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    cells = _formatted(values.cast(pa.string()), empty_quoted) if text else _typed(values)
    null = len(values)
    rows = [
        (pc.fill_null(c.indices, null) if c.null_count else c.indices).to_numpy(zero_copy_only=False) for c in chunks
    ]
    texts = pa.concat_arrays([cells, pa.array(['""' if empty_quoted else ""], type=pa.string())])
    return texts, (np.concatenate(rows) if len(rows) > 1 else rows[0]).astype(np.int32, copy=False)


def _grouped(columns: list[tuple[pa.Array, npt.NDArray[np.int32]]]) -> list[tuple[pa.Array, npt.NDArray[np.int32]]]:
    """Neighbouring columns with few distinct cells joined into one, while their combinations are at
    most `GROUP_ENTRIES`: each combination's text is its cells joined by commas, so that a row is a
    few long cells instead of many short ones (most register columns hold a handful of texts)."""
    grouped: list[tuple[pa.Array, npt.NDArray[np.int32]]] = []
    for texts, rows in columns:
        if grouped and len(grouped[-1][0]) * len(texts) <= GROUP_ENTRIES:
            before, earlier = grouped.pop()
            joined = [f"{a},{b}" for a in before.to_pylist() for b in texts.to_pylist()]
            texts, rows = pa.array(joined, type=pa.string()), earlier * np.int32(len(texts)) + rows
        grouped.append((texts, rows))
    return grouped


BLOCK = 16
"""Bytes copied at a time: each distinct cell is kept padded to whole blocks, so that a cell's bytes
are moved by a fixed-length copy the compiler turns into one instruction (cells vary in length, and
a byte-by-byte copy of each would stall on every one)."""


@numba.njit(cache=True, nogil=True)
def _padded(starts: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]) -> Any:
    """The entries `data[starts[e]:starts[e + 1]]` each copied to the start of whole blocks: the
    padded bytes, where each entry begins in them, its length and its number of blocks."""
    entries = len(starts) - 1
    sizes = np.empty(entries, dtype=np.uint64)
    blocks = np.empty(entries, dtype=np.uint64)
    begins = np.empty(entries, dtype=np.uint64)
    total = 0
    for e in range(entries):
        size = starts[e + 1] - starts[e]
        sizes[e] = size
        blocks[e] = (size + BLOCK - 1) // BLOCK
        begins[e] = total
        total += blocks[e] * BLOCK
    padded = np.zeros(total, dtype=np.uint8)
    for e in range(entries):
        padded[begins[e] : begins[e] + sizes[e]] = data[starts[e] : starts[e + 1]]
    return padded, begins, sizes, blocks


@numba.njit(cache=True, nogil=True)
def _size(cells: npt.NDArray[np.int32], sizes: npt.NDArray[np.uint64]) -> int:
    """The bytes of the CSV lines of rows (see `_lines`)."""
    columns, rows = cells.shape
    size = np.uint64(rows * columns)
    for c in range(columns):
        for i in range(rows):
            size += sizes[cells[c, i]]
    return int(size)


@numba.njit(cache=True, nogil=True)
def _lines(
    cells: npt.NDArray[np.int32],
    padded: npt.NDArray[np.uint8],
    begins: npt.NDArray[np.uint64],
    sizes: npt.NDArray[np.uint64],
    blocks: npt.NDArray[np.uint64],
    out: npt.NDArray[np.uint8],
) -> None:
    """The CSV lines of rows into `out` (at least `_size` + `BLOCK` bytes: a last block may run past
    the end): `cells[c, i]` is the entry (see `_padded`) of column c in row i; cells are joined by
    commas and each line ends in a line feed. (Unsigned positions spare the compiler the checks for
    negative indices.)"""
    columns, rows = cells.shape
    at = np.uint64(0)
    for i in range(rows):
        for c in range(columns):
            e = np.uint64(cells[c, i])
            source = begins[e]
            for _ in range(blocks[e]):
                for k in range(BLOCK):
                    out[at + np.uint64(k)] = padded[source + np.uint64(k)]
                at += np.uint64(BLOCK)
                source += np.uint64(BLOCK)
            at -= blocks[e] * np.uint64(BLOCK) - sizes[e]
            out[at] = 44 if c < columns - 1 else 10  # (a comma, or the line feed)
            at += np.uint64(1)


class _Buffers:
    """The buffers of pieces of rows (their cells and their lines), handed out and given back, so
    that each is mapped into memory once rather than once a piece (fresh pages cost the system more
    than filling them)."""

    def __init__(self, columns: int) -> None:
        self.columns = columns
        self.free: deque[tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]] = deque()

    def take(self) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
        try:
            return self.free.pop()
        except IndexError:
            return np.empty((self.columns, PIECE_ROWS), dtype=np.int32), np.empty(0, dtype=np.uint8)

    def give(self, buffers: tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]) -> None:
        self.free.append(buffers)


def header_line(names: Sequence[str]) -> bytes:
    """The header line, each name formatted as a text cell."""
    texts = _formatted(pa.array(list(names), type=pa.string()), len(names) == 1)
    return (",".join(texts.to_pylist()) + "\n").encode("utf-8")


@dataclass
class Prepared:
    """A table made ready to be written (`prepare`): its column names and row count, its columns
    joined into groups (`_grouped`), each with the entry of every row, and the groups' distinct cells
    padded for the compiled loop (`_padded`; `base` is where each group's entries begin)."""

    names: list[str]
    rows: int
    entries: list[npt.NDArray[np.int32]]
    base: npt.NDArray[np.int32]
    padded: npt.NDArray[np.uint8]
    begins: npt.NDArray[np.uint64]
    sizes: npt.NDArray[np.uint64]
    blocks: npt.NDArray[np.uint64]
    size: int
    """Bytes of the lines, without the header."""


def prepare(table: pa.Table) -> Prepared:
    """A table made ready to be written (`emit`): each column's distinct cells formatted once.

    Raises `Unformattable` when a column has a type not handled here. Preparing one table while
    the one before is written lets the two steps overlap (`batch.files` does so).
    """
    n = table.num_rows
    alone = table.num_columns == 1

    def entries(named: tuple[str, pa.ChunkedArray]) -> tuple[pa.Array, npt.NDArray[np.int32]]:
        try:
            return _entries(named[1], alone)
        except Unformattable as exc:
            raise Unformattable(exc.kind, named[0]) from None

    columns = _grouped(list(map(entries, zip(table.column_names, table.columns, strict=True))))
    texts = pa.concat_arrays([texts.cast(pa.large_string()) for texts, _ in columns])
    offsets, data = text_parts(texts)
    padded, begins, sizes, blocks = _padded(offsets, data)
    base = np.cumsum([0] + [len(texts) for texts, _ in columns[:-1]]).astype(np.int32)
    size = n * len(columns) + sum(int(sizes[rows + b].sum()) for (_, rows), b in zip(columns, base, strict=True))
    rows = [rows for _, rows in columns]
    return Prepared(table.column_names, n, rows, base, padded, begins, sizes, blocks, size)


def write(handle: BinaryIO, table: pa.Table, header: bool, pool: ThreadPoolExecutor | None = None) -> None:
    """Write a table's rows (and first its header, if `header`) as polars' `write_csv` would.

    Raises `Unformattable` before anything is written when a column has a type not handled here.
    `pool` formats pieces of `PIECE_ROWS` rows side by side; without one they are done in turn.
    """
    emit(handle, prepare(table), header, pool)


def emit(handle: BinaryIO, table: Prepared, header: bool, pool: ThreadPoolExecutor | None = None) -> None:
    """Write a prepared table's rows (and first its header, if `header`); see `write`."""
    if header:
        handle.write(header_line(table.names))
    n = table.rows
    if not n:
        return
    reserved = _reserve(handle, table.size)
    buffers = _Buffers(len(table.entries))

    def lines(start: int) -> tuple[memoryview, tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]]:
        """A piece's lines (a view into its buffer), and the buffers to give back once written."""
        held, out = buffers.take()
        m = min(PIECE_ROWS, n - start)
        cells = held[:, :m]
        for c, (rows, b) in enumerate(zip(table.entries, table.base, strict=True)):
            np.add(rows[start : start + m], b, out=cells[c])
        size = _size(cells, table.sizes)
        if len(out) < size + BLOCK:
            out = np.empty(size + size // 4 + BLOCK, dtype=np.uint8)
        _lines(cells, table.padded, table.begins, table.sizes, table.blocks, out)
        return out[:size].data, (held, out)

    sink = _Sink(handle)

    def put(piece: memoryview, used: tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]) -> None:
        sink.write(piece)
        buffers.give(used)

    starts = iter(range(0, n, PIECE_ROWS))
    try:
        if pool is None:
            for start in starts:
                put(*lines(start))
        else:
            pending = deque(pool.submit(lines, start) for start in islice(starts, AHEAD))
            while pending:
                done = pending.popleft().result()
                following = next(starts, None)
                if following is not None:
                    pending.append(pool.submit(lines, following))
                put(*done)
    except BaseException:
        sink.abandon()
        raise
    sink.close()
    if reserved:
        handle.truncate()  # (the room asked for is exactly what was written; this only makes sure)


FLUSH_BYTES = 32 << 20
"""Lines written before the system is asked to start putting them on disk (see `_Sink`)."""
DIRECT_ALIGN = 4096
"""Size and alignment of the blocks written straight to the disk (see `_Sink`): a multiple of every
disk's sector size."""
DIRECT_BYTES = 16 << 20
"""Lines gathered before they are written straight to the disk (see `_Sink`)."""


class _Sink:
    """The lines of a file on disk written straight to the disk where the system allows it
    (`O_DIRECT`, in whole aligned blocks), else through the system's page cache.

    Why: on a machine short of free page cache, copying gigabytes of lines into it cost seconds of
    system time (writing 2.5 GB took from 0.6 to 6 s, up to 5 s of it the system's), while the disk
    takes them straight from the process in about a second with almost no processor time. The
    lines are gathered in an aligned buffer and written in whole blocks; the bytes up to the first
    block boundary and the last partial block go the ordinary way, so the file holds exactly the
    bytes given, in order. Where the file system refuses direct writes (tmpfs, some network file
    systems), or the handle is no file on disk, everything goes the ordinary way, the written lines
    handed to the disk every `FLUSH_BYTES` (`_flush_behind`).
    """

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.flushed = _position(handle)
        self.direct = self.flushed is not None and hasattr(os, "O_DIRECT")
        self.flags: int | None = None  # (the handle's flags while the direct flag is on)
        self.lead = -self.flushed % DIRECT_ALIGN if self.flushed is not None else 0
        self.fill = 0
        self.stage = np.empty(0, dtype=np.uint8)
        if self.direct:
            # (the stage starts on an aligned address: its blocks are then aligned in memory too)
            room = np.empty(DIRECT_BYTES + 2 * DIRECT_ALIGN, dtype=np.uint8)
            skip = -room.ctypes.data % DIRECT_ALIGN
            self.stage = room[skip : skip + DIRECT_BYTES + DIRECT_ALIGN]

    def write(self, piece: memoryview) -> None:
        """Write the next bytes of the file."""
        if not self.direct:
            self.handle.write(piece)
            self.flushed = _flush_behind(self.handle, self.flushed)
            return
        data = np.frombuffer(piece, dtype=np.uint8)
        if self.lead:  # (up to the first block boundary the ordinary way)
            self.handle.write(memoryview(data[: self.lead]))  # type: ignore[arg-type]
            data, self.lead = data[self.lead :], max(self.lead - len(data), 0)
        while len(data):
            take = min(len(data), len(self.stage) - self.fill)
            self.stage[self.fill : self.fill + take] = data[:take]
            self.fill += take
            data = data[take:]
            if self.fill >= DIRECT_BYTES:
                self._blocks()
                if not self.direct:  # (refused: the rest the ordinary way)
                    self.write(memoryview(data))
                    return

    def _blocks(self) -> None:
        """Write the whole blocks gathered straight to the disk; keep the rest at the stage's start."""
        fd = self.handle.fileno()
        whole = self.fill - self.fill % DIRECT_ALIGN
        view = memoryview(self.stage[:whole])  # type: ignore[arg-type]
        try:
            if self.flags is None:
                self.handle.flush()
                flags = fcntl.fcntl(fd, fcntl.F_GETFL)
                fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT)
                self.flags = flags
            while view:
                view = view[os.write(fd, view) :]
        except OSError as exc:
            if exc.errno != errno.EINVAL or len(view) != whole:
                raise
            self._ordinary()  # (the file system refuses direct writes: nothing of these was written)
            return
        rest = self.fill - whole
        self.stage[:rest] = self.stage[whole : self.fill]
        self.fill = rest

    def _restore(self) -> None:
        """The handle's own flags back, and its own idea of where it is."""
        if self.flags is not None:
            fd, flags, self.flags = self.handle.fileno(), self.flags, None
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)
            self.handle.seek(os.lseek(fd, 0, os.SEEK_CUR))

    def _ordinary(self) -> None:
        """Go on the ordinary way: the flag off, the gathered bytes written through the handle."""
        self._restore()
        self.direct = False
        self.handle.write(memoryview(self.stage[: self.fill]))  # type: ignore[arg-type]
        self.fill = 0

    def close(self) -> None:
        """Write what is left (the last partial block the ordinary way) and put the flags back."""
        if self.direct:
            if self.fill >= DIRECT_ALIGN:
                self._blocks()
            self._ordinary()

    def abandon(self) -> None:
        """Put the flags back after an error, writing nothing more."""
        self._restore()


def _position(handle: BinaryIO) -> int | None:
    """Where the next byte goes in the file, or None if the handle is no file on disk."""
    try:
        handle.fileno()
        return handle.tell()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None


def _flush_behind(handle: BinaryIO, since: int | None) -> int | None:
    """Ask the system to start putting the lines written since `since` on disk, without waiting,
    once they are `FLUSH_BYTES` or more (`posix_fadvise`, which on Linux starts the writing and lets
    the written pages go). The output is flushed to disk when complete (`outputs.atomic`); started
    early, that final flush has little left to wait for. Returns the new mark."""
    advise = getattr(os, "posix_fadvise", None)
    if since is None or advise is None:
        return None
    try:
        at = handle.tell()
        if at - since < FLUSH_BYTES:
            return since
        handle.flush()
        advise(handle.fileno(), since, at - since, os.POSIX_FADV_DONTNEED)
    except OSError:
        return None
    return at


def _reserve(handle: BinaryIO, size: int) -> bool:
    """Ask the file system for `size` more bytes of room at the end of a file, in one piece, where it
    can (`posix_fallocate`): writing into room set aside costs a third of the time of growing the
    file page by page. False where the handle is no file or the system cannot."""
    allocate = getattr(os, "posix_fallocate", None)
    try:
        if allocate is None or not size:
            return False
        allocate(handle.fileno(), handle.tell(), size)
    except (OSError, io.UnsupportedOperation):
        return False
    return True


def load_compiled() -> None:
    """Load the compiled loop before it is first needed (see `core.load_compiled`)."""
    padded, begins, sizes, blocks = _padded(np.array([0, 1], dtype=np.int64), np.zeros(1, dtype=np.uint8))
    cells = np.zeros((1, 1), dtype=np.int32)
    _lines(cells, padded, begins, sizes, blocks, np.empty(_size(cells, sizes) + BLOCK, dtype=np.uint8))
