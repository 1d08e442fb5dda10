"""Runs that fail, are stopped or meet another run: outputs appear whole or not at all.

Every register here is synthetic (made-up patient ids). A run is stopped at a chosen point by a
small wrapper that sends the signal from inside the run (so no test depends on timing): while
reading (the first batch's rules), while writing (after the first rejected rows, before the
priced ones), and just before the outputs are renamed into place. Afterwards no new
output may exist, an earlier one must be unchanged, and the next run must clean up after it.
"""

from __future__ import annotations

import csv
import decimal
import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import fastparquet
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from patientavgift import outputs, synthetic
from patientavgift.batch import files
from patientavgift.cli import main

EARLIER = "an earlier output\n"


def _table() -> Any:
    """A synthetic register (135 contacts of 30 patients)."""
    return synthetic.region_year(next(iter(synthetic.MIXES)), 2025, 30, seed=2)


def _register(tmp_path: Path, name: str = "register.csv") -> Path:
    return synthetic.write(_table(), tmp_path / name)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


HOOK = """\
import os, signal, sys
from patientavgift import outputs
from patientavgift.batch import decisions, outcomes
from patientavgift.cli import main

where, signame, args = sys.argv[1], sys.argv[2], sys.argv[3:]


def stop(original):
    def wrapped(*a, **k):
        if signame == "READY":
            print("ready", flush=True)
            sys.stdin.readline()
        else:
            os.kill(os.getpid(), getattr(signal, signame))
        return original(*a, **k)
    return wrapped


if where == "reading":
    decisions.Rules.apply = stop(decisions.Rules.apply)
elif where == "outcomes":
    outcomes.Outcomes.table = stop(outcomes.Outcomes.table)
elif where == "rename":
    outputs._sync = stop(outputs._sync)
sys.exit(main(["price", *args]))
"""


def _stopped(tmp_path: Path, where: str, signame: str, *args: str) -> subprocess.CompletedProcess[str]:
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK, encoding="utf-8")
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, str(hook), where, signame, *args], capture_output=True, text=True, check=False, env=env
    )


@pytest.mark.parametrize("where", ["reading", "outcomes", "rename"])
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_stopped_run_leaves_the_earlier_output_untouched(tmp_path: Path, where: str, signame: str) -> None:
    source = _register(tmp_path)
    out = tmp_path / "priced.csv"
    out.write_text(EARLIER, encoding="utf-8")
    done = _stopped(tmp_path, where, signame, str(source), "--out", str(out), "--chunk-rows", "100")
    assert out.read_text(encoding="utf-8") == EARLIER
    assert not (tmp_path / "priced.rejects.csv").exists()
    if signame == "SIGKILL":
        assert done.returncode == -9
    else:
        assert done.returncode == {"SIGINT": 130, "SIGTERM": 143}[signame]
        assert done.stderr.splitlines() == [
            f"avbrutet ({'Ctrl-C' if signame == 'SIGINT' else 'TERM'}): inga nya utfiler skrevs, tidigare är "
            f"orörda ({'interrupted' if signame == 'SIGINT' else 'terminated'})"
        ]
        assert _leftovers(tmp_path) == []
        assert list((tmp_path / "tmp").iterdir()) == []  # (the spill folder is gone)
    # The next run cleans up what a killed one left (temporary outputs, its lock, its spill folder).
    assert main(["price", str(source), "--out", str(out), "--chunk-rows", "100"]) == 0
    assert _leftovers(tmp_path) == []
    assert out.read_text(encoding="utf-8").startswith("patient_id,")


def test_a_killed_run_leaves_its_spill_folder_to_the_next_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _register(tmp_path)
    out = tmp_path / "priced.csv"
    done = _stopped(tmp_path, "reading", "SIGKILL", str(source), "--out", str(out), "--chunk-rows", "100")
    assert done.returncode == -9 and not out.exists()
    spill = tmp_path / "tmp"
    assert sorted(p.suffix for p in spill.iterdir()) == ["", ".lock"]  # (the folder and its lock)
    monkeypatch.setenv("TMPDIR", str(spill))
    monkeypatch.setattr("tempfile.tempdir", None)
    assert main(["price", str(source), "--out", str(out), "--chunk-rows", "100"]) == 0
    assert list(spill.iterdir()) == []


def test_a_second_run_to_the_same_output_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _register(tmp_path)
    out = tmp_path / "priced.csv"
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK, encoding="utf-8")
    first = subprocess.Popen(
        [sys.executable, str(hook), "outcomes", "READY", str(source), "--out", str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert first.stdout is not None and first.stdin is not None
    assert first.stdout.readline() == "ready\n"  # (the first run is writing and holds the lock)
    assert main(["price", str(source), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    lock = tmp_path / ".priced.csv.lock"
    assert err.splitlines() == [
        f"fel: {out}: filen skrivs redan av en annan körning (låsfil {lock}); vänta tills den är klar eller "
        "välj en annan utfil (the output is being written by another run)"
    ]
    assert not out.exists()
    first.stdin.write("\n")
    first.stdin.close()
    assert first.wait() == 0
    assert "kontakter lästa: 135 (contacts read)" in first.stdout.read()
    first.stdout.close()
    assert first.stderr is not None and first.stderr.read() == ""
    first.stderr.close()
    assert _leftovers(tmp_path) == []
    assert len(out.read_text(encoding="utf-8").splitlines()) == 136


@pytest.mark.parametrize("per_contact", [False, True])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_full_disk_leaves_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], per_contact: bool, suffix: str
) -> None:
    if per_contact and suffix == ".parquet":
        return  # (the per-contact path writes CSV only)
    source = _register(tmp_path)
    out = tmp_path / f"priced{suffix}"
    out.write_text(EARLIER, encoding="utf-8")

    def full(path: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs, "_sync", full)
    assert main(["price", str(source), "--out", str(out), *(["--per-contact"] if per_contact else [])]) == 2
    rejects = tmp_path / "priced.rejects.csv"
    assert capsys.readouterr().err.splitlines() == [
        f"fel: {out}, {rejects}: disken är full; ingen utfil skrevs och tidigare utfiler är orörda. Frigör "
        "utrymme eller välj en annan plats för --out och kör igen (no space left on device)"
    ]
    assert out.read_text(encoding="utf-8") == EARLIER
    assert not rejects.exists()
    assert _leftovers(tmp_path) == []


def test_a_full_disk_while_writing_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The disk fills up in the middle of the priced rows (the second of three row groups)."""
    source = tmp_path / "register.parquet"
    pq.write_table(_table(), source, row_group_size=50)
    out = tmp_path / "priced.csv"
    out.write_text(EARLIER, encoding="utf-8")
    written: list[int] = []
    original = files._neutralised

    def filling(table: Any, texts: Any) -> Any:
        written.append(table.num_rows)
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(table, texts)

    monkeypatch.setattr(files, "_neutralised", filling)
    assert main(["price", str(source), "--out", str(out)]) == 2
    assert "disken är full" in capsys.readouterr().err
    assert written == [50, 50]
    assert out.read_text(encoding="utf-8") == EARLIER
    assert _leftovers(tmp_path) == []


def test_ctrl_c_gives_one_line_and_status_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _register(tmp_path)
    out = tmp_path / "priced.parquet"

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(files, "_write_spliced", interrupted)
    assert main(["price", str(source.with_suffix(".csv")), "--out", str(out)]) == 0  # (CSV in: not spliced)
    earlier = out.read_bytes()
    pq.write_table(_table(), tmp_path / "register.parquet")
    assert main(["price", str(tmp_path / "register.parquet"), "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert err.endswith("avbrutet (Ctrl-C): inga nya utfiler skrevs, tidigare är orörda (interrupted)\n")
    assert out.read_bytes() == earlier
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("which", ["--out", "--rejects"])
def test_a_hard_link_to_the_register_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], which: str) -> None:
    source = _register(tmp_path)
    before = source.read_bytes()
    link = tmp_path / "link.csv"
    os.link(source, link)
    args = ["--out", str(link)] if which == "--out" else ["--out", str(tmp_path / "p.csv"), "--rejects", str(link)]
    for extra in ([], ["--per-contact"]):
        assert main(["price", str(source), *args, *extra]) == 2
        assert capsys.readouterr().err == (
            f"fel: {link}: {which} är samma fil som registret, som då skulle skrivas över; välj en annan fil "
            "(names the register itself)\n"
        )
    assert source.read_bytes() == before == link.read_bytes()


def test_outputs_that_cannot_be_files_give_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _register(tmp_path)
    missing = tmp_path / "no-such-folder" / "p.csv"
    assert main(["price", str(source), "--out", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"fel: {missing}: mappen {missing.parent} finns inte; skapa den eller ge --out en annan plats (no such folder)\n"
    )
    assert main(["price", str(source), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"fel: {tmp_path}: --out är en mapp; ge ett filnamn, t.ex. {tmp_path / 'priced.csv'} (a folder, not a file)\n"
    )
    assert main(["price", str(tmp_path), "--out", str(tmp_path / "p.csv")]) == 2
    assert capsys.readouterr().err == (
        f"fel: {tmp_path}: är en mapp; ge registerfilen (.csv eller .parquet) (a folder, not a file)\n"
    )

    def read_only(lock: Path) -> int:  # (what a folder without write permission gives)
        raise PermissionError(errno.EACCES, "Permission denied", str(lock))

    monkeypatch.setattr(outputs, "_locked_file", read_only)
    assert main(["price", str(source), "--out", str(tmp_path / "p.csv")]) == 2
    assert capsys.readouterr().err == (
        f"fel: {tmp_path / '.p.csv.lock'}: saknar behörighet; välj en plats du får skriva i (permission denied)\n"
    )


def test_a_binary_column_is_not_written_to_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = _table()
    table = table.append_column("blob", pa.array([b"\x00\x01"] * table.num_rows))
    pq.write_table(table, tmp_path / "register.parquet")
    for extra in ([], ["--per-contact"]):
        assert main(["price", str(tmp_path / "register.parquet"), "--out", str(tmp_path / "p.csv"), *extra]) == 2
        assert capsys.readouterr().err == (
            f"fel: {tmp_path / 'register.parquet'}: kolumnen/kolumnerna blob har binära värden, som en CSV-fil "
            "inte kan hålla; skriv Parquet (--out med .parquet) eller ta bort kolumnerna (binary columns cannot be "
            "written to CSV)\n"
        )
        assert not (tmp_path / "p.csv").exists()
    assert main(["price", str(tmp_path / "register.parquet"), "--out", str(tmp_path / "p.parquet")]) == 0
    assert pq.read_table(tmp_path / "p.parquet").column("blob").to_pylist() == [b"\x00\x01"] * table.num_rows


def test_no_traceback_reaches_the_user(tmp_path: Path) -> None:
    """The same as above through the installed program: one line on stderr, never a traceback."""
    source = _register(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "patientavgift", "price", str(source), "--out", str(tmp_path / "none" / "p.csv")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert textwrap.shorten(done.stderr, 30).startswith("fel:")


TYPES = {
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
}


def _typed_register(rejected: bool) -> pa.Table:
    """A synthetic register with `age` and extra columns of every kind a register may carry."""
    table = _table()
    n = table.num_rows
    born = table.column("birth_date").to_pylist()
    ages = [2025 - int(b[:4]) - 1 for b in born]
    table = table.drop_columns(["birth_date"]).append_column("age", pa.array(ages, pa.int64()))
    if rejected:  # (a row that loses its patient id: its row group is written again in full)
        table = table.set_column(0, "patient_id", pa.array([" ", *table.column("patient_id").to_pylist()[1:]]))
    extra = {
        "dictionary": pa.array(["a", "b", None] * (n // 3) + ["a"] * (n % 3)).dictionary_encode(),
        "large": pa.array(["x", None] * (n // 2) + ["x"] * (n % 2), pa.large_string()),
        "stamp": pa.array(list(range(n)), pa.timestamp("ms")),
        "zoned": pa.array(list(range(n)), pa.timestamp("us", tz="Europe/Stockholm")),
        "amount": pa.array([decimal.Decimal("-1.25"), None] * (n // 2) + [None] * (n % 2), pa.decimal128(9, 2)),
        "nullable": pa.array([1, None] * (n // 2) + [None] * (n % 2), pa.int16()),
        **{f"n_{name}": pa.array([k % 100 for k in range(n)], kind) for name, kind in TYPES.items()},
    }
    for name, column in extra.items():
        table = table.append_column(name, column)
    return table


@pytest.mark.parametrize("rejected", [False, True])
@pytest.mark.parametrize("age", list(TYPES))
def test_parquet_registers_of_every_integer_type_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, age: str, rejected: bool
) -> None:
    """Every column comes back with its type and values, from pyarrow, polars and fastparquet. Row
    groups are copied (see `splice`): the output is not written again in full after a failed check."""
    in_full: list[bool] = []
    ordinary = files._write_in_full

    def spy(*args: Any, **kwargs: Any) -> None:
        in_full.append(True)
        ordinary(*args, **kwargs)

    monkeypatch.setattr(files, "_write_in_full", spy)
    table = _typed_register(rejected)
    table = table.set_column(table.column_names.index("age"), "age", table.column("age").cast(TYPES[age]))
    source = tmp_path / "register.parquet"
    pq.write_table(table, source, row_group_size=50)
    out = tmp_path / "priced.parquet"
    assert main(["price", str(source), "--out", str(out)]) == 0
    assert pq.read_metadata(out).num_rows == table.num_rows - rejected
    assert in_full == []
    back = pq.read_table(out)
    kept = table.slice(1) if rejected else table
    for name in table.column_names:
        assert back.schema.field(name).type == table.schema.field(name).type
        assert back.column(name).to_pylist() == kept.column(name).to_pylist()
    assert pl.read_parquet(out).height == kept.num_rows  # (other readers, with their own decoders)
    assert len(fastparquet.ParquetFile(str(out)).to_pandas()) == kept.num_rows
    csv_out = tmp_path / "priced.csv"
    assert main(["price", str(source), "--out", str(csv_out)]) == 0
    with csv_out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["age"] for r in rows] == [str(a) for a in kept.column("age").to_pylist()]
    assert [r["fee"] for r in rows] == [str(f) if f is not None else "" for f in back.column("fee").to_pylist()]
