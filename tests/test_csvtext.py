"""CSV text written from the Arrow buffers is byte for byte what polars writes for the same table."""

from __future__ import annotations

import io

import polars as pl
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from patientavgift.batch.csvtext import csv_bytes, csv_line

TEXT = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list("ab ,\"\n\r\t=-'å\x1e")), max_size=6))


@given(
    texts=st.lists(TEXT, min_size=0, max_size=30),
    numbers=st.lists(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)), min_size=30, max_size=30),
    flags=st.lists(st.one_of(st.none(), st.booleans()), min_size=30, max_size=30),
    start=st.integers(0, 5),
)
def test_csv_text_is_what_polars_writes(
    texts: list[str | None], numbers: list[int | None], flags: list[bool | None], start: int
) -> None:
    n = len(texts)
    table = pa.table(
        {
            "text": pa.array(texts, pa.string()),
            "large": pa.array(texts, pa.large_string()),
            "dictionary": pa.array(texts, pa.string()).dictionary_encode(),
            "int32": pa.array(numbers[:n], pa.int32()),
            "bool": pa.array(flags[:n], pa.bool_()),
        }
    ).slice(min(start, n))
    expected = io.BytesIO()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame.write_csv(expected)
    text = csv_bytes(table)
    assert text is not None
    assert csv_line(table.column_names).encode() + text.tobytes() == expected.getvalue()


def test_other_kinds_of_columns_are_left_to_polars() -> None:
    assert csv_bytes(pa.table({"x": pa.array([1.5])})) is None
