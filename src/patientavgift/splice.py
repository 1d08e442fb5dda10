"""A copy of a Parquet file with columns added, where the copied columns are not decoded again.

A Parquet file stores each column of each row group as one byte range ("column chunk") and lists
them in a footer. Writing a priced register back means: every input column unchanged, plus the
outcome columns. Decoding and encoding the input columns again costs more than pricing them, so a
row group whose rows are all kept is copied byte for byte, and only the outcome columns are
encoded (by pyarrow, in a small Parquet file of their own whose chunks are then copied in). A row
group that loses rows (rejected ones) is encoded again in full. The new footer is the input's,
with the added columns and the new positions; it is read and written with fastparquet's Thrift
codec, the same one fastparquet uses to write its own files.

The copied chunks keep their encoding, compression and statistics; page indexes and Bloom filters
of the input are left out (they would point into the input file). The codec cannot write Thrift's
8-bit integers, which only the integer annotation (`IntType.bitWidth`) uses: an integer column of
another width than 32 or 64 bits, or an unsigned one, is therefore annotated by its converted type
alone (`INT_8` … `UINT_64`, which says the same and which every reader knows). Encoded chunks are written
without min/max statistics, which would cost about a quarter of their encoding time. `SpliceError` means the input
cannot be copied this way (nested or encrypted columns, or a re-encoded row group whose Parquet
types differ from the input's); the caller then writes the whole file the ordinary way.
"""

from __future__ import annotations

import base64
import io
import struct
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

with warnings.catch_warnings():
    # fastparquet asks pandas for an option that pandas 3 deprecates; nothing here depends on it.
    warnings.filterwarnings("ignore", message=".*future.infer_string.*", category=DeprecationWarning)
    from fastparquet import cencoding

MAGIC = b"PAR1"


class SpliceError(Exception):
    """The input cannot be copied chunk by chunk; write the output in full instead."""


def _footer(data: bytes, what: str) -> Any:
    """The Thrift `FileMetaData` at the end of a Parquet file's bytes (or of its tail)."""
    if data[-4:] != MAGIC:
        raise SpliceError(f"{what}: not a plain Parquet file (encrypted footers are not copied)")
    (size,) = struct.unpack("<i", data[-8:-4])
    return cencoding.from_buffer(data[-8 - size : -8], "FileMetaData")


def _fields(element: Any) -> dict[Any, Any]:
    """A Thrift object's fields, without the codec's bookkeeping of integer widths."""
    return {k: v for k, v in element.contents.items() if k not in ("i32", "i32list")}


CONVERTED_INTEGER = {(8, True): 15, (16, True): 16, (32, True): 17, (64, True): 18}
CONVERTED_INTEGER.update({(8, False): 11, (16, False): 12, (32, False): 13, (64, False): 14})
"""Parquet's converted types of integer columns, by bit width and whether signed (`INT_8` … `UINT_64`)."""


def _writable(element: Any) -> Any:
    """A schema element without an integer annotation, which the codec would write unreadably (its
    bit width as a 64-bit number, not an 8-bit one); the converted type says the same."""
    logical = element.logicalType
    if logical is None or logical.INTEGER is None:
        return element
    integer = logical.INTEGER
    plain = element.copy()
    plain.logicalType = None
    plain.converted_type = CONVERTED_INTEGER[(int(integer.bitWidth), bool(integer.isSigned))]
    return plain


def _chunk_start(meta: Any) -> int:
    """Where a column chunk's bytes begin: its dictionary page, if it has one, else its first data page."""
    starts = [o for o in (meta.dictionary_page_offset, meta.data_page_offset) if o is not None and o > 0]
    return int(min(starts))


Encoded = tuple[bytes, Any]
"""A table as a small Parquet file of one row group, and that file's footer."""


def encode(table: pa.Table) -> Encoded:
    """`table` as a small Parquet file of one row group (pyarrow releases the GIL while it encodes)."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=max(table.num_rows, 1), write_statistics=False)
    data = buffer.getvalue()
    return data, _footer(data, "encoded row group")


class Splicer:
    """Writes `target` as `source` with the columns of `added` appended, row group by row group."""

    def __init__(self, source: Path, target: BinaryIO, added: pa.Schema) -> None:
        self.path = source
        self.file = source.open("rb")
        try:
            self._read_footer(source, target, added)
        except BaseException:
            self.file.close()
            raise

    def __enter__(self) -> Splicer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def _read_footer(self, source: Path, target: BinaryIO, added: pa.Schema) -> None:
        size = self.file.seek(0, io.SEEK_END)
        tail = min(size, 1 << 16)
        self.file.seek(size - tail)
        data = self.file.read(tail)
        (footer_size,) = struct.unpack("<i", data[-8:-4])
        if footer_size + 8 > tail:
            self.file.seek(size - footer_size - 8)
            data = self.file.read(footer_size + 8)
        self.meta = _footer(data, str(source))
        if self.meta.encryption_algorithm is not None:
            raise SpliceError(f"{source}: encrypted")
        schema = self.meta.schema
        if any(e.num_children for e in schema[1:]) or schema[0].num_children != len(schema) - 1:
            raise SpliceError(f"{source}: nested columns")
        unwritable = [e.name for e in schema[1:] if e.logicalType is not None and max(_fields(e.logicalType)) > 13]
        if unwritable:  # (the codec writes fields 1 to 13 only: UUID, FLOAT16 and later annotations are lost)
            raise SpliceError(f"{source}: columns {unwritable} have annotations the codec cannot write")
        self.arrow = pq.read_schema(source)
        metadata = {k: v for k, v in (self.arrow.metadata or {}).items() if k != b"ARROW:schema"}
        self.combined = pa.schema([*self.arrow, *added], metadata=metadata or None)
        self.added = added
        self.added_schema: list[Any] | None = None
        self.added_orders: list[Any] | None = None
        self.target = target
        self.target.write(MAGIC)
        self.position = len(MAGIC)
        self.groups: list[Any] = []

    def rows(self, group: int) -> int:
        """The number of rows of one of the input's row groups."""
        return int(self.meta.row_groups[group].num_rows)

    @property
    def num_groups(self) -> int:
        return len(self.meta.row_groups or [])

    def copy(self, group: int, added: Encoded | list[Encoded]) -> None:
        """Row group `group` of the input unchanged, with the added columns (same rows, same order).

        `added` holds the added columns of these rows, see `encode` (it may run in another thread),
        or is a list of such parts that together hold every added column once, in any order.
        """
        source = self.meta.row_groups[group]
        parts = added if isinstance(added, list) else [added]
        found: dict[str, tuple[bytes, Any, Any, Any]] = {}
        for encoded, footer in parts:
            if footer.num_rows != source.num_rows:
                raise ValueError(f"row group {group} has {source.num_rows} rows, the added columns {footer.num_rows}")
            orders = footer.column_orders or [None] * len(footer.schema[1:])
            for column, element, order in zip(footer.row_groups[0].columns, footer.schema[1:], orders, strict=True):
                name = element.name.decode() if isinstance(element.name, bytes) else element.name
                if name in found:
                    raise ValueError(f"row group {group}: the added column {name!r} is in more than one part")
                found[name] = (encoded, column, element, order)
        if sorted(found) != sorted(self.added.names):
            raise ValueError(f"row group {group}: the added columns are {sorted(found)}, not {self.added.names}")
        chunks = []
        first = self.position
        for column in source.columns:
            if column.file_path is not None or column.crypto_metadata is not None:
                raise SpliceError(f"{self.path}: column chunks in other files or encrypted")
            start = _chunk_start(column.meta_data)
            self.file.seek(start)
            data = self.file.read(column.meta_data.total_compressed_size)
            chunks.append(self._place(column, data, start))
        ordered = [found[name] for name in self.added.names]
        self._check_added([e for _, _, e, _ in ordered], [o for _, _, _, o in ordered])
        for encoded, column, _, _ in ordered:
            start = _chunk_start(column.meta_data)
            chunks.append(self._place(column, encoded[start : start + column.meta_data.total_compressed_size], start))
        self._group(chunks, source.num_rows, first)

    def write(self, table: pa.Table) -> None:
        """A new row group with every column (the input's and the added ones), encoded in full."""
        if table.num_rows == 0:
            return
        encoded, meta = encode(table.select(self.combined.names))
        width = len(self.arrow)
        for mine, theirs in zip(meta.schema[1 : width + 1], self.meta.schema[1:], strict=True):
            if _fields(mine) != _fields(theirs):
                raise SpliceError(f"{self.path}: column {theirs.name!r} would not be written with its own Parquet type")
        self._check_added(
            list(meta.schema[1 + width :]), list(meta.column_orders[width:]) if meta.column_orders else None
        )
        chunks = []
        first = self.position
        for column in meta.row_groups[0].columns:
            start = _chunk_start(column.meta_data)
            chunks.append(self._place(column, encoded[start : start + column.meta_data.total_compressed_size], start))
        self._group(chunks, table.num_rows, first)

    def finish(self) -> None:
        """Write the footer (the input's, with the added columns and the new row groups)."""
        meta = self.meta.copy()
        root = self.meta.schema[0].copy()
        root.num_children = len(self.combined)
        added_schema = self.added_schema or encode(self.added.empty_table())[1].schema[1:]
        meta.schema = [root, *(_writable(e) for e in [*self.meta.schema[1:], *added_schema])]
        meta.row_groups = self.groups
        meta.num_rows = sum(int(g.num_rows) for g in self.groups)
        if self.meta.column_orders:
            added_orders = self.added_orders or encode(self.added.empty_table())[1].column_orders
            meta.column_orders = [*self.meta.column_orders, *added_orders]
        kept = [kv for kv in self.meta.key_value_metadata or [] if kv.key != b"ARROW:schema"]
        schema = cencoding.ThriftObject.from_fields(
            "KeyValue", key=b"ARROW:schema", value=base64.b64encode(self.combined.serialize().to_pybytes())
        )
        meta.key_value_metadata = [*kept, schema]
        footer = meta.to_bytes()
        self.target.write(footer)
        self.target.write(struct.pack("<i", len(footer)))
        self.target.write(MAGIC)

    def _check_added(self, elements: list[Any], orders: list[Any] | None) -> None:
        """The added columns must have the same Parquet types in every row group."""
        if self.added_schema is None:
            self.added_schema = elements
            self.added_orders = orders if orders and all(o is not None for o in orders) else None
        elif [_fields(e) for e in elements] != [_fields(e) for e in self.added_schema]:
            raise AssertionError("the added columns changed their Parquet types between row groups")

    def _place(self, column: Any, data: bytes, start: int) -> Any:
        """Write a chunk's bytes at the current position; its metadata, moved there."""
        shift = self.position - start
        self.target.write(data)
        self.position += len(data)
        placed = column.copy()
        meta = column.meta_data.copy()
        meta.data_page_offset = meta.data_page_offset + shift
        if meta.dictionary_page_offset is not None and meta.dictionary_page_offset > 0:
            meta.dictionary_page_offset = meta.dictionary_page_offset + shift
        # Page indexes and Bloom filters point into the input file; they are not copied. (The
        # codec has no field for a Bloom filter's length and never writes one.)
        meta.index_page_offset = None
        meta.bloom_filter_offset = None
        placed.meta_data = meta.contents  # (the codec takes a nested object as its dict of fields)
        placed.file_offset = 0
        for gone in ("offset_index_offset", "offset_index_length", "column_index_offset", "column_index_length"):
            setattr(placed, gone, None)
        return placed

    def _group(self, chunks: list[Any], rows: int, first: int) -> None:
        group = self.meta.row_groups[0].copy()
        group.columns = chunks
        group.num_rows = rows
        group.total_byte_size = sum(int(c.meta_data.total_uncompressed_size) for c in chunks)
        group.total_compressed_size = sum(int(c.meta_data.total_compressed_size) for c in chunks)
        group.file_offset = first
        group.sorting_columns = None
        group.ordinal = None
        self.groups.append(group)
