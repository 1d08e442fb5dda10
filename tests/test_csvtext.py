"""The CSV writer of priced registers (`batch.csvtext`) writes every cell so that it reads back as
it was, and otherwise the very bytes polars writes (the writer the register path used before).

The tables are random: texts with commas, quotes, line breaks, carriage returns, formula starts,
empty texts and empty cells, as plain columns and as dictionaries split over several chunks, beside
numbers, true/false and dates.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import io
import itertools
import os
from datetime import date, timedelta
from pathlib import Path
from unittest import mock

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from patientavgift import batch, synthetic
from patientavgift.batch import csvtext
from patientavgift.engine import selection
from patientavgift.register import RegisterError
from patientavgift.rules import RuleBook

TEXTS = st.one_of(
    st.none(),
    st.sampled_from(["", "a", "true", "skane", " x ", "a,b", 'q"x', '"', "a\nb", "a\r\nb", "\r", "'=1", "é ö"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=6),
)


@st.composite
def _column(draw: st.DrawFn, rows: int) -> pa.ChunkedArray:
    """A column of `rows` cells of one kind, in one to three chunks (dictionaries per chunk)."""
    kind = draw(st.sampled_from(["text", "dictionary", "few", "int", "bool", "date"]))
    if kind == "int":
        values: list[object] = draw(
            st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=rows, max_size=rows)
        )
        kind_type = pa.int64()
    elif kind == "bool":
        values = draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=rows, max_size=rows))
        kind_type = pa.bool_()
    elif kind == "date":
        days = st.one_of(st.none(), st.integers(0, 40_000).map(lambda d: date(1950, 1, 1) + timedelta(days=d)))
        values = draw(st.lists(days, min_size=rows, max_size=rows))
        kind_type = pa.date32()
    else:
        cells = st.sampled_from(draw(st.lists(TEXTS, min_size=1, max_size=3))) if kind == "few" else TEXTS
        values = draw(st.lists(cells, min_size=rows, max_size=rows))
        kind_type = pa.string()
    cut = sorted(draw(st.lists(st.integers(0, rows), max_size=2)))
    bounds = [0, *cut, rows]
    chunks = [pa.array(values[a:b], type=kind_type) for a, b in itertools.pairwise(bounds)]
    if kind in ("dictionary", "few"):
        chunks = [c.dictionary_encode() for c in chunks]
    return pa.chunked_array(chunks, type=chunks[0].type)


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    rows = draw(st.integers(0, 12))
    count = draw(st.integers(1, 6))
    names = draw(st.lists(st.sampled_from(["a", "b,c", 'd"', "e f", "=g", "h"]), min_size=count, max_size=count))
    columns = [draw(_column(rows)) for _ in names]
    return pa.Table.from_arrays(columns, names=[f"{n}{i}" for i, n in enumerate(names)])


def _written(table: pa.Table, header: bool = True) -> bytes:
    out = io.BytesIO()
    csvtext.write(out, table, header)
    return out.getvalue()


def _cell(value: object) -> str:
    """A cell as it should read back: empty for a missing value, true/false, ISO dates, digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@given(tables())
def test_every_cell_reads_back_as_it_was(table: pa.Table) -> None:
    # (pieces of two rows: lines built by many calls of the compiled loop, joined in order)
    with mock.patch.object(csvtext, "PIECE_ROWS", 2):
        text = _written(table).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == table.column_names
    expected = [[_cell(v) for v in row.values()] for row in table.to_pylist()]
    assert rows[1:] == expected


@given(tables())
def test_the_bytes_are_those_polars_writes_except_for_empty_texts(table: pa.Table) -> None:
    # polars writes an empty text as "" and an empty cell as nothing; both read back as an empty cell,
    # and the per-contact path writes both as nothing, as this writer does. (In a one-column table
    # polars writes an empty cell as a blank line, which a reader skips; this writer writes "".)
    assume(table.num_columns > 1)
    columns = [
        pa.chunked_array([pa.array(["-" if v == "" else v for v in c.to_pylist()], type=pa.string())])
        if pa.types.is_string(c.type) or pa.types.is_dictionary(c.type)
        else c
        for c in table.columns
    ]
    plain = pa.Table.from_arrays(columns, names=table.column_names)
    theirs = io.BytesIO()
    frame = pl.from_arrow(plain)
    assert isinstance(frame, pl.DataFrame)
    frame.write_csv(theirs)
    with mock.patch.object(csvtext, "PIECE_ROWS", 3):
        assert _written(plain) == theirs.getvalue()


def test_neighbouring_columns_with_few_cells_are_joined_and_read_back_apart() -> None:
    # 4 x 4 x 4 x 4 combinations: the four columns are written as one cell of each row, 300 rows
    few: list[list[str | None]] = [
        ["", "x", "a,b", None],
        ["true", "false", "", None],
        ["1", "2", "3", '"'],
        ["p", "q", "r", "s"],
    ]
    rows = 300
    columns = {f"c{k}": pa.array([few[k][(i * (k + 1) + i // 7) % 4] for i in range(rows)]) for k in range(4)}
    table = pa.table({"id": pa.array([f"id-{i}" for i in range(rows)]), **columns}).combine_chunks()
    assert len(csvtext._grouped([csvtext._entries(table.column(c), False) for c in table.column_names])) == 2
    read = list(csv.reader(io.StringIO(_written(table).decode("utf-8"), newline="")))
    assert read[1:] == [[_cell(v) for v in row.values()] for row in table.to_pylist()]


def test_a_one_column_table_writes_an_empty_cell_so_that_its_line_is_not_blank() -> None:
    table = pa.table({"note": pa.array(["a", "", None])})
    assert _written(table) == b'note\na\n""\n""\n'


def test_the_header_alone_is_written_for_no_rows() -> None:
    table = pa.table({"a": pa.array([], type=pa.string()), "b,c": pa.array([], type=pa.int32())})
    assert _written(table) == b'a,"b,c"\n'
    assert _written(table, header=False) == b""


def test_a_column_csv_cannot_hold_is_refused_with_its_name() -> None:
    table = pa.table({"a": pa.array(["x"]), "wait": pa.array([timedelta(minutes=5)])})
    with pytest.raises(csvtext.Unformattable) as raised:
        _written(table)
    assert (raised.value.column, raised.value.kind) == ("wait", "duration[us]")


def test_a_register_column_csv_cannot_hold_is_refused_in_swedish(tmp_path: Path, book: RuleBook) -> None:
    table = synthetic.benchmark_register(200, seed=3)
    table = table.append_column("wait", pa.array([timedelta(minutes=i) for i in range(table.num_rows)]))
    source = tmp_path / "register.parquet"
    pq.write_table(table, source)
    out = tmp_path / "priced.csv"
    with pytest.raises(RegisterError) as raised:
        batch.price_register(book, source, out, selection("none"), progress=None)
    message = str(raised.value)
    assert "kolumnen wait" in message and "duration[us]" in message and "--out med .parquet" in message
    assert not out.exists()


def _large(rows: int) -> pa.Table:
    """A table of a few thousand lines of different lengths (texts that need quoting among them)."""
    return pa.table(
        {
            "id": pa.array([f"id-{i}" * (1 + i % 5) for i in range(rows)]),
            "few": pa.array([["a,b", "", None, "x"][i % 4] for i in range(rows)]),
            "n": pa.array(range(rows)),
        }
    )


def test_lines_written_straight_to_disk_are_the_bytes_written_through_memory(tmp_path: Path) -> None:
    # (a stage of 8 kB: the lines go in many aligned blocks, the header leaves the first one unaligned,
    # and two calls on one handle must join as they do in memory)
    first, second = _large(3000), _large(1000)
    memory = io.BytesIO()
    csvtext.write(memory, first, True)
    csvtext.write(memory, second, False)
    path = tmp_path / "lines.csv"
    with mock.patch.object(csvtext, "DIRECT_BYTES", 8192), path.open("wb") as handle:
        csvtext.write(handle, first, True)
        csvtext.write(handle, second, False)
        assert not fcntl.fcntl(handle.fileno(), fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0)
        handle.write(b"end\n")  # (the handle goes on where the lines end)
    assert len(memory.getvalue()) > 10 * 8192
    assert path.read_bytes() == memory.getvalue() + b"end\n"


def test_a_file_system_that_refuses_direct_writes_gets_the_same_bytes_the_ordinary_way(tmp_path: Path) -> None:
    table = _large(3000)
    memory = io.BytesIO()
    csvtext.write(memory, table, True)
    refused = []
    real = os.write

    def write(fd: int, data: object) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0):
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, data)  # type: ignore[arg-type]

    path = tmp_path / "lines.csv"
    with (
        mock.patch.object(csvtext, "DIRECT_BYTES", 8192),
        mock.patch("os.write", write),
        path.open("wb") as handle,
    ):
        csvtext.write(handle, table, True)
    assert refused if hasattr(os, "O_DIRECT") else not refused
    assert path.read_bytes() == memory.getvalue()


@given(
    st.lists(st.one_of(st.sampled_from(["", "ab", "ac", "é"]), st.none()), max_size=8),
    st.integers(0, 3),
)
def test_a_column_as_a_dictionary_holds_its_cells_in_order(cells: list[str | None], skip: int) -> None:
    # (the short way for a column of one text, and the ordinary one, give the same column; `skip`
    # makes the column a slice of a longer one)
    texts = pa.array(["zz"] * skip + cells, type=pa.string()).slice(skip)
    encoded = csvtext.dictionary(texts)
    assert encoded.type == pa.dictionary(pa.int32(), pa.string())
    assert encoded.to_pylist() == cells
    assert len(encoded.dictionary) == len({c for c in cells if c is not None})
