"""A table as CSV text, byte for byte as polars' `write_csv` writes it, straight from the Arrow buffers.

Writing a priced register to CSV through polars first copies every text column into polars' own
string form and then formats it; for a register of text columns that costs more than pricing it.
Here two compiled loops per column work on the Arrow offsets and bytes: one adds up the length of
every row, one writes the cells in place. The rules are polars' (`quote_style="necessary"`): a null
cell is empty; a text cell is quoted when it is empty or holds a comma, a quote or a line break
(a quote doubled inside); anything else is written as it is. Numbers and true/false are written as
Arrow casts them to text, which is what polars writes for them. A table with a column of another
kind (dates, decimals, floats, binary) is left to polars (`csv_bytes` gives None).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .codes import I64

U8 = npt.NDArray[np.uint8]

_QUOTE, _COMMA, _LF, _CR = 34, 44, 10, 13
_NO_BYTES = np.zeros(0, dtype=np.uint8)


def _text(array: pa.Array) -> pa.Array | None:
    """A column as plain text the way polars writes it, or None when it is not a kind written here."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        if not (pa.types.is_string(kind.value_type) or pa.types.is_large_string(kind.value_type)):
            return None
        return array.cast(kind.value_type)
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return pc.cast(array, pa.string())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return array
    return None


def _parts(array: pa.Array) -> tuple[npt.NDArray[Any], U8, U8, int]:
    """A text column's offsets (one more than cells), bytes, validity bitmap (empty: no nulls) and bit offset."""
    kind = np.int64 if pa.types.is_large_string(array.type) else np.int32
    validity, offsets, data = array.buffers()
    starts = np.frombuffer(offsets, dtype=kind)[array.offset : array.offset + len(array) + 1]
    text = np.frombuffer(data, dtype=np.uint8) if data is not None else _NO_BYTES
    bits = np.frombuffer(validity, dtype=np.uint8) if validity is not None and array.null_count else _NO_BYTES
    return starts, text, bits, array.offset


_SPECIAL = np.zeros(256, dtype=np.bool_)
_SPECIAL[[_QUOTE, _COMMA, _LF, _CR]] = True
"""The bytes that make a text cell quoted."""


@numba.njit(cache=True, nogil=True)
def _scan(offsets: npt.NDArray[Any], data: U8, quoted: U8, size: I64) -> None:
    """Mark the cells holding a special byte as quoted, and add their quotes (each doubled) to `size`."""
    for i in range(len(size)):
        for j in range(offsets[i], offsets[i + 1]):
            c = data[j]
            if c == _QUOTE:
                size[i] += 1
                quoted[i] = 1
            elif c in (_COMMA, _LF, _CR):
                quoted[i] = 1


@numba.njit(cache=True, nogil=True)
def _write(offsets: npt.NDArray[Any], data: U8, quoted: U8, out: U8, pos: I64, end: int) -> None:
    """Write each row's cell of this column at `pos` (moved on past it), then `end` (a comma or a line end)."""
    for i in range(len(pos)):
        p = pos[i]
        a, e = offsets[i], offsets[i + 1]
        if quoted[i]:
            out[p] = _QUOTE
            p += 1
            for j in range(a, e):
                out[p] = data[j]
                p += 1
                if data[j] == _QUOTE:
                    out[p] = _QUOTE
                    p += 1
            out[p] = _QUOTE
            p += 1
        else:
            for j in range(a, e):
                out[p] = data[j]
                p += 1
        out[p] = end
        pos[i] = p + 1


def csv_bytes(table: pa.Table) -> U8 | None:
    """The rows of `table` as CSV text (no header), or None when a column is of a kind polars must write."""
    columns = []
    for column in table.columns:
        array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
        text = _text(array)
        if text is None:
            return None
        columns.append(_parts(text))
    size = np.zeros(table.num_rows, dtype=np.int64)
    marks = []
    for offsets, data, bits, bit in columns:
        length = np.diff(offsets).astype(np.int64)
        quoted = (length == 0).view(np.uint8)  # (an empty text is quoted; a null cell is not)
        if len(bits):
            valid = np.unpackbits(bits, bitorder="little", count=bit + len(length))[bit:].astype(np.bool_)
            quoted = (quoted.astype(np.bool_) & valid).view(np.uint8)
        size += length + 1 + 2 * quoted
        if len(data) and _SPECIAL[data[int(offsets[0]) : int(offsets[-1])]].any():
            quoted = quoted.copy()
            before = quoted.astype(np.int64)
            _scan(offsets, data, quoted, size)
            size += 2 * (quoted - before)
        marks.append(quoted)
    pos = np.cumsum(size) - size
    out = np.empty(int(size.sum()), dtype=np.uint8)
    for k, ((offsets, data, _, _), quoted) in enumerate(zip(columns, marks, strict=True)):
        _write(offsets, data, quoted, out, pos, _LF if k == len(columns) - 1 else _COMMA)
    return out


def csv_line(cells: list[str]) -> str:
    """One line of CSV text by the same rules (a header)."""
    return (
        ",".join(
            f'"{c.replace(chr(34), 2 * chr(34))}"' if c == "" or any(x in c for x in ',"\n\r') else c for c in cells
        )
        + "\n"
    )
