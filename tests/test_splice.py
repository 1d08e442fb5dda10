"""Parquet in, Parquet out: row groups without rejected rows are copied chunk by chunk.

The registers are synthetic (made-up patient ids). Each is written with small row groups and a
few rows made unreadable, so that some row groups are copied and some are encoded again. The
output must hold the same rows and cells as the per-contact path's CSV output, be readable by
other Parquet readers, and keep the copied chunks' own statistics.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import fastparquet
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from patientavgift import batch, register, synthetic
from patientavgift.batch import files
from patientavgift.engine import selection
from patientavgift.register import OUTCOME_COLUMNS
from patientavgift.rules import load_rules
from patientavgift.splice import Splicer, encode

BOOK = load_rules()


def _register(lost: list[int]) -> pa.Table:
    """A synthetic year of two regions, with the patient id blanked on the given rows (those are rejected)."""
    table = synthetic.concat([synthetic.region_year(r, 2025, 40, seed=5) for r in list(synthetic.MIXES)[:2]])
    ids = table.column("patient_id").to_pylist()
    for row in lost:
        ids[row] = " "
    return table.set_column(0, "patient_id", pa.array(ids, type=pa.string()))


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _cells(table: pa.Table) -> list[dict[str, str]]:
    return [{k: register.text_cell(v) for k, v in row.items()} for row in table.to_pylist()]


@pytest.mark.parametrize("lost", [[], [3, 250, 251]])
def test_parquet_output_copies_row_groups_and_equals_the_per_contact_path(tmp_path: Path, lost: list[int]) -> None:
    table = _register(lost)
    source = tmp_path / "register.parquet"
    pq.write_table(table, source, row_group_size=100)
    chosen = selection("none")
    expected = register.price_register(BOOK, source, tmp_path / "loop.csv", chosen, progress=None)
    got, _ = batch.price_register(BOOK, source, tmp_path / "fast.parquet", chosen, progress=None)
    assert got == expected
    assert expected.rejected == len(lost)
    want = _csv(tmp_path / "loop.csv")
    out = tmp_path / "fast.parquet"
    assert _cells(pq.read_table(out)) == want
    assert _csv(tmp_path / "fast.rejects.csv") == _csv(tmp_path / "loop.rejects.csv")

    # Other readers see the same rows: polars and fastparquet (each with its own Parquet decoder).
    frame = pl.read_parquet(out)
    assert frame.columns == [*table.column_names, *OUTCOME_COLUMNS]
    assert [str(v) if v is not None else "" for v in frame["fee"].to_list()] == [r["fee"] for r in want]
    other = fastparquet.ParquetFile(str(out)).to_pandas()
    assert other["patient_id"].tolist() == [r["patient_id"] for r in want]

    # Row groups follow the input's; a copied one keeps its bytes' statistics, one that lost rows is smaller.
    meta_in, meta_out = pq.ParquetFile(source).metadata, pq.ParquetFile(out).metadata
    assert meta_out.num_row_groups == meta_in.num_row_groups
    sizes = [meta_out.row_group(g).num_rows for g in range(meta_out.num_row_groups)]
    assert sizes == [meta_in.row_group(g).num_rows - sum(1 for r in lost if r // 100 == g) for g in range(len(sizes))]
    date = table.column_names.index("date")
    assert meta_out.row_group(1).column(date).statistics == meta_in.row_group(1).column(date).statistics
    assert pq.ParquetFile(out).schema_arrow.metadata[b"synthetic"] == b"true"


@pytest.mark.parametrize("lost", [[], [10]])
def test_input_from_another_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lost: list[int]) -> None:
    """fastparquet annotates text columns the older way. Its row groups can be copied, but one that
    loses rows would be encoded with pyarrow's annotation, so then the output is written in full."""
    table = _register(lost)
    source = tmp_path / "register.parquet"
    fastparquet.write(str(source), table.to_pandas(), row_group_offsets=100, stats=True)
    in_full: list[bool] = []
    ordinary = files._write_in_full

    def spy(*args: Any, **kwargs: Any) -> None:
        in_full.append(True)
        ordinary(*args, **kwargs)

    monkeypatch.setattr(files, "_write_in_full", spy)
    chosen = selection("none")
    register.price_register(BOOK, source, tmp_path / "loop.csv", chosen, progress=None)
    batch.price_register(BOOK, source, tmp_path / "fast.parquet", chosen, progress=None)
    assert bool(in_full) == bool(lost)
    assert _cells(pq.read_table(tmp_path / "fast.parquet")) == _csv(tmp_path / "loop.csv")
    assert _csv(tmp_path / "fast.rejects.csv") == _csv(tmp_path / "loop.rejects.csv")


def test_a_register_without_rows_gives_an_empty_output_with_every_column(tmp_path: Path) -> None:
    source = tmp_path / "register.parquet"
    pq.write_table(_register([]).slice(0, 0), source)
    batch.price_register(BOOK, source, tmp_path / "fast.parquet", selection("none"), progress=None)
    assert pq.read_table(tmp_path / "fast.parquet").num_rows == 0
    assert pl.read_parquet(tmp_path / "fast.parquet").height == 0
    assert pq.read_schema(tmp_path / "fast.parquet").names[-len(OUTCOME_COLUMNS) :] == list(OUTCOME_COLUMNS)


def test_added_columns_may_come_in_parts_in_any_order(tmp_path: Path) -> None:
    """A row group's added columns can be encoded in several parts (e.g. one of them ahead of the
    others); the output is the same as from one part, also when the next row group is encoded
    in full, and a part set that lacks a column or holds one twice is refused."""
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"x": pa.array(["a", "b", "c", "d"])}), source, row_group_size=3)
    added = pa.schema([("p", pa.int32()), ("q", pa.bool_()), ("r", pa.string())])
    columns = {
        "p": pa.array([1, None, 3], pa.int32()),
        "q": pa.array([True, False, None]),
        "r": pa.array(["u", None, "w"]),
    }
    last = pa.table({"x": ["d"], "p": pa.array([4], pa.int32()), "q": [True], "r": ["z"]})

    def written(parts: list[list[str]]) -> bytes:
        out = tmp_path / "out.parquet"
        with out.open("wb") as target, Splicer(source, target, added) as splicer:
            tables = [pa.table({c: columns[c] for c in names}) for names in parts]
            splicer.copy(0, [encode(t) for t in tables])
            splicer.write(last)
            splicer.finish()
        return out.read_bytes()

    whole = written([["p", "q", "r"]])
    assert written([["r"], ["q", "p"]]) == whole
    assert pq.read_table(tmp_path / "out.parquet").to_pydict() == {
        "x": ["a", "b", "c", "d"],
        "p": [1, None, 3, 4],
        "q": [True, False, None, True],
        "r": ["u", None, "w", "z"],
    }
    assert pl.read_parquet(tmp_path / "out.parquet")["r"].to_list() == ["u", None, "w", "z"]
    with pytest.raises(ValueError, match="added columns"):
        written([["p", "r"]])
    with pytest.raises(ValueError, match="more than one part"):
        written([["p", "q", "r"], ["r"]])
