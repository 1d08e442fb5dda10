"""The batch pricing gives exactly what the case engine gives, contact by contact.

Random registers (synthetic: made-up patient ids, no real people) of many patients, ages, birth
dates, regions, services, dates from 2011 to 2027 and contact facts, with some cells that are not
allowed, are priced twice: by `batch.price_register` (rules over columns, one scan per patient)
and by `register.price_register` (every patient's contacts through `engine.price_contacts`). The
priced files, the rejects files and the summaries must be identical, for CSV and Parquet input,
and with the register split into buckets of patients.
"""

from __future__ import annotations

import csv
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from patientavgift import batch, register, synthetic
from patientavgift.engine import selection
from patientavgift.model import FACT_TYPES, Mode, Service
from patientavgift.register import CONTACT_COLUMNS, PATIENT_COLUMNS, PROGRAMME_COLUMNS
from patientavgift.rules import load_rules

HEADER = [*PATIENT_COLUMNS, *CONTACT_COLUMNS, *PROGRAMME_COLUMNS, "note"]
"""Every column of the register format (both age forms), and one the format does not know."""
FACTS = [*CONTACT_COLUMNS, *PROGRAMME_COLUMNS]
REGIONS = ["skane", "vgr", "vasterbotten", "jamtland-harjedalen", "stockholm"]  # (Stockholm: no rule data)
SERVICES = ["", *(s.value for s in Service)]
BOOLS = ["", "true", "false", "TRUE", " false "]
TEMPLATES = [(region, kind) for region, mix in synthetic.MIXES.items() for kind in mix]
"""Contacts the rules price (the synthetic mixes), so that fees, exemptions and the ceiling occur often."""


def _choice(values: list[str], bad: str) -> st.SearchStrategy[str]:
    """Mostly allowed values, now and then empty or a value that is not allowed."""
    return st.one_of(st.sampled_from(["", *values]), st.just(bad)) if bad else st.sampled_from(["", *values])


def _enum(kind: Any) -> list[str]:
    return [m.value for m in kind]


def _fact(draw: st.DrawFn, column: str) -> str:
    """A cell of a contact fact: any allowed value of its type, or empty."""
    kind = FACT_TYPES.get(column)
    if kind is bool:
        return draw(st.sampled_from(BOOLS))
    return draw(_choice(_enum(kind), "")) if kind is not None else ""


@st.composite
def _register(draw: st.DrawFn) -> list[list[str]]:
    patients = draw(st.integers(min_value=1, max_value=8))
    people: list[dict[str, Any]] = []
    for p in range(patients):
        born = draw(st.dates(min_value=date(1925, 1, 1), max_value=date(2011, 12, 31)))
        people.append(
            {
                "id": f"syn{p}",
                "birth": born.isoformat(),
                "by_age": draw(st.booleans()),
                "home": draw(st.sampled_from(["", "", "skane", "vgr", "uppsala"])),
            }
        )
    rows = []
    regions = draw(st.sets(st.sampled_from(list(synthetic.MIXES)), min_size=1))
    templates = [t for t in TEMPLATES if t[0] in regions]
    base = draw(
        st.one_of(
            st.dates(min_value=date(2023, 1, 1), max_value=date(2026, 6, 30)),
            st.dates(min_value=date(2011, 6, 1), max_value=date(2027, 3, 31)),
        )
    )
    for _ in range(draw(st.integers(min_value=1, max_value=80))):
        person = draw(st.sampled_from(people))
        day = base + timedelta(days=draw(st.integers(min_value=0, max_value=400)))
        template = draw(st.sampled_from(templates)) if draw(st.integers(0, 19)) else None
        age = str(max(0, day.year - int(person["birth"][:4])))
        rare = draw(st.integers(min_value=0, max_value=30))
        row: dict[str, str] = {
            "patient_id": person["id"] if rare else draw(st.sampled_from(["", "  ", f" {person['id']} "])),
            "region": draw(st.sampled_from(REGIONS)) if rare != 1 else "lappland",
            "service": draw(st.sampled_from(SERVICES)),
            "date": day.isoformat() if rare != 2 else draw(st.sampled_from(["2025-02-30", "", "1/2/2025"])),
            "age": age if person["by_age"] else ("" if rare != 3 else "+5"),
            "birth_date": ""
            if person["by_age"]
            else person["birth"]
            if rare not in (4, 9)
            else "2030-01-01"
            if rare == 4
            else (day + timedelta(days=1)).isoformat(),
            "home_region": person["home"] if rare != 5 else "vgr",
            **{c: _fact(draw, c) for c in FACTS},
            "mode": draw(_choice(_enum(Mode), "sms" if rare == 6 else "")),
            "booked": draw(st.sampled_from(BOOLS if rare != 7 else ["yes"])),
            "kva_codes": draw(st.sampled_from(["", "ZV051", "ZV051 AU124", "zv051" if rare == 8 else ""])),
            "note": "synthetic",
        }
        if template is not None and rare > 2:
            region, kind = template
            row.update({c: "" for c in FACTS})
            row.update(kind.facts)
            row["region"] = region.value
            row["service"] = kind.service.value if kind.service else ""
        rows.append([row[c] for c in HEADER])
    return rows


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)


def _parquet_rows(path: Path) -> list[dict[str, str]]:
    table = pq.read_table(path)
    return [{k: register.text_cell(v) for k, v in row.items()} for row in table.to_pylist()]


BOOK = load_rules()


@given(
    rows=_register(),
    chunk=st.sampled_from([0, 3, 1000]),
    parquet=st.booleans(),
    proposals=st.sampled_from(["none", "all"]),
)
def test_batch_equals_the_engine_contact_by_contact(
    tmp_path_factory: Any, rows: list[list[str]], chunk: int, parquet: bool, proposals: str
) -> None:
    folder = tmp_path_factory.mktemp("register")
    source = folder / "register.csv"
    _write_csv(source, rows)
    chosen = selection(proposals)
    expected = register.price_register(BOOK, source, folder / "loop.csv", chosen, progress=None)
    if parquet:
        table = pa.table({c: [r[i] for r in rows] for i, c in enumerate(HEADER)})
        pq.write_table(table, folder / "register.parquet")
        source = folder / "register.parquet"
    got, _ = batch.price_register(BOOK, source, folder / "fast.csv", chosen, progress=None, chunk_rows=chunk)
    assert _read(folder / "fast.csv") == _read(folder / "loop.csv")
    assert _read(folder / "fast.rejects.csv") == _read(folder / "loop.rejects.csv")
    assert got == expected
    if parquet:
        batch.price_register(BOOK, source, folder / "fast.parquet", chosen, progress=None, chunk_rows=chunk)
        assert _parquet_rows(folder / "fast.parquet") == _read(folder / "loop.csv")


def test_batch_equals_the_engine_on_synthetic_region_years(tmp_path: Path) -> None:
    """A synthetic year of each covered region (many patients reach the ceiling), priced both ways."""
    table = synthetic.concat([synthetic.region_year(r, 2025, 150, seed=3) for r in synthetic.MIXES])
    source = synthetic.write(table, tmp_path / "register.csv")
    for proposals in ("none", "all"):
        chosen = selection(proposals)
        expected = register.price_register(BOOK, source, tmp_path / "loop.csv", chosen, progress=None)
        got, _ = batch.price_register(BOOK, source, tmp_path / "fast.csv", chosen, progress=None, chunk_rows=1000)
        assert got == expected
        assert _read(tmp_path / "fast.csv") == _read(tmp_path / "loop.csv")
        assert expected.free_by_ceiling > 100 and expected.revenue > 0


def test_a_csv_register_longer_than_its_first_lines_suggest_is_priced_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The columns of pass 1 are as long as a CSV register is expected to be from its size and its
    first lines, and grow when it is longer: here the first lines carry long notes, so the register
    holds several times the rows expected, read in many small batches."""
    table = synthetic.region_year(next(iter(synthetic.MIXES)), 2025, 400, seed=6)
    notes = ["x" * 4000 if i < 260 else "" for i in range(table.num_rows)]
    source = synthetic.write(table.append_column("note", pa.array(notes)), tmp_path / "register.csv")
    assert batch.files._estimate_rows(source) * 3 < table.num_rows
    monkeypatch.setattr(batch.files, "CSV_BLOCK", 1 << 15)
    chosen = selection("none")
    expected = register.price_register(BOOK, source, tmp_path / "loop.csv", chosen, progress=None)
    got, _ = batch.price_register(BOOK, source, tmp_path / "fast.csv", chosen, progress=None)
    assert got == expected and got.read == table.num_rows
    assert _read(tmp_path / "fast.csv") == _read(tmp_path / "loop.csv")


def test_too_many_rows_at_once_are_refused_with_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows and patients are numbered with 32-bit integers: a register with more rows than that,
    priced all at once, is refused (naming --chunk-rows) instead of being priced wrongly. The
    limit is lowered here so that a small synthetic register reaches it."""
    table = synthetic.region_year(next(iter(synthetic.MIXES)), 2025, 20, seed=1)
    source = synthetic.write(table, tmp_path / "register.csv")
    monkeypatch.setattr(batch.core, "MAX_AT_ONCE", table.num_rows - 1)
    with pytest.raises(register.RegisterError, match="--chunk-rows"):
        batch.price_register(BOOK, source, tmp_path / "out.csv", selection("none"), progress=None, chunk_rows=0)
    monkeypatch.setattr(batch.core, "MAX_AT_ONCE", table.num_rows)
    summary, _ = batch.price_register(
        BOOK, source, tmp_path / "out.csv", selection("none"), progress=None, chunk_rows=0
    )
    assert summary.read == table.num_rows


def test_a_table_in_memory_is_priced_as_the_file(tmp_path: Path) -> None:
    """`batch.price_table` (a table in, the priced table out; no file) gives the rows and the summary
    that `price_register` writes to Parquet, with a rejected row left out of the table."""
    table = synthetic.region_year(next(iter(synthetic.MIXES)), 2025, 40, seed=4)
    table = table.set_column(0, "patient_id", pa.array(["", *table.column("patient_id").to_pylist()[1:]]))
    source = tmp_path / "register.parquet"
    pq.write_table(table, source)
    expected, _ = batch.price_register(BOOK, source, tmp_path / "fast.parquet", selection("all"), progress=None)
    priced, summary = batch.price_table(BOOK, batch.read_table(source), "all")
    assert summary == expected and summary.rejected == 1
    assert priced.equals(pq.read_table(tmp_path / "fast.parquet"))
    with pytest.raises(ValueError, match="unknown proposal id"):
        batch.price_table(BOOK, table, "no-such-proposal")


@pytest.mark.parametrize("ragged", [False, True])
def test_a_csv_register_kept_on_disk_between_the_passes_is_written_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ragged: bool
) -> None:
    """A CSV register is parsed once; its batches are kept for the output in memory, or in the spill
    folder when the register is long. Both give the same bytes, also with cells a spreadsheet would
    run, line breaks in cells, rejected rows, a row with too many fields and output written in
    several parts; the spill folder is removed afterwards."""
    table = synthetic.region_year(next(iter(synthetic.MIXES)), 2025, 60, seed=5)
    rows = [[str(v) if v is not None else "" for v in r.values()] + ["note"] for r in table.to_pylist()]
    header = [*table.column_names, "note"]
    for i, cell in enumerate(["=1+1", "-2", "@x", "a,\nb", 'q"x', "\tt", "line\r\nbreak", ""]):
        rows[7 * i + 1][-1] = cell
    rows[5][0] = "+" + rows[5][0]  # (a text column the rules read, as a dictionary)
    rows[3][0] = ""  # (no patient id: rejected)
    source = tmp_path / "register.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows[:20] + ([[*rows[20], "extra"]] if ragged else []) + rows[20:])
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    streams: list[str] = []
    new_stream = ipc.new_stream

    def stream(path: Path, schema: pa.Schema, **options: Any) -> ipc.RecordBatchStreamWriter:
        streams.append(path.name)
        return new_stream(path, schema, **options)

    monkeypatch.setattr(ipc, "new_stream", stream)
    written: dict[str, bytes] = {}
    for kept in (10**9, 0):  # (in memory, then on disk)
        monkeypatch.setattr(batch.files, "KEPT_ROWS", kept)
        monkeypatch.setattr(batch.files, "WRITE_ROWS", 50)
        for suffix in (".csv", ".parquet"):
            out = tmp_path / f"out-{kept}{suffix}"
            summary, _ = batch.price_register(BOOK, source, out, selection("none"), progress=None)
            assert summary.rejected == 1 + ragged
            got = out.read_bytes() + out.with_name(f"{out.stem}.rejects.csv").read_bytes()
            assert written.setdefault(suffix, got) == got
    assert b"'=1+1" in written[".csv"] and b'"a,\nb"' in written[".csv"] and b"'+" in written[".csv"]
    assert streams == ["register.arrows"] * 2  # (on disk, for each output)
    assert list((tmp_path / "tmp").iterdir()) == []  # (the spill folder is gone)
