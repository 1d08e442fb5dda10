"""`patientavgift price`: a register priced row by row, rejected rows reported, counts reconciled.

The register below is synthetic (no real patients). Expected values come from the sources: VGR's
routine (written contact replacing a visit: BR + ZV051, 160 kr, 0.2 contact points), Region
Jämtland Härjedalen's unit fee of 400 kr (proposal 2025: the fee for 2025) and the 2025 ceiling of
1 450 kr (facts §2.2), so the fourth visit pays the remaining 250 kr and the fifth is free; a patient
of 86 pays nothing (the national 85+ exemption).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from patientavgift.cli import main

HEADER = "patient_id,region,service,date,age,mode,booked,initiated_by,medical_assessment,resolved_by_booking_or_referral,staff,kva_codes,notes\n"
ROWS = [
    "p1,vgr,vardval_rehab,2026-02-10,45,written,true,patient,true,false,licensed,ZV051,synthetic",
    "p2,jamtland-harjedalen,,2025-05-05,50,physical,true,patient,true,,,,",
    "p2,jamtland-harjedalen,,2025-01-13,50,physical,true,patient,true,,,,",
    "p2,jamtland-harjedalen,,2025-02-10,50,physical,true,patient,true,,,,",
    "p2,jamtland-harjedalen,,2025-03-10,50,physical,true,patient,true,,,,",
    "p2,jamtland-harjedalen,,2025-04-07,50,physical,true,patient,true,,,,",
    "p3,vgr,vardval_rehab,2026-02-10,45,written,yes,patient,true,false,licensed,ZV051,",
    "p4,lappland,,2026-02-10,45,phone,true,patient,true,,,,",
    ",vgr,vardval_rehab,2026-02-10,45,written,true,patient,true,false,licensed,ZV051,",
    "p5,jamtland-harjedalen,,2025-03-10,86,physical,true,patient,true,,,,",
]


def _run(tmp_path: Path, *extra: str) -> tuple[int, list[dict[str, str]], list[dict[str, str]]]:
    register = tmp_path / "register.csv"
    register.write_text(HEADER + "\n".join(ROWS) + "\n", encoding="utf-8")
    out = tmp_path / "priced.csv"
    code = main(["price", str(register), "--out", str(out), *extra])
    with out.open(encoding="utf-8") as f:
        priced = list(csv.DictReader(f))
    with (tmp_path / "priced.rejects.csv").open(encoding="utf-8") as f:
        rejected = list(csv.DictReader(f))
    return code, priced, rejected


def test_register_is_priced_like_the_sources_say(tmp_path: Path, capsys: object) -> None:
    code, priced, _ = _run(tmp_path)
    assert code == 0
    vgr = priced[0]
    assert (vgr["fee"], vgr["registration"], vgr["contact_points"], vgr["qualified"]) == (
        "160",
        "BR+ZV051",
        "0.20",
        "true",
    )
    assert vgr["notes"] == "synthetic"  # columns outside the format are kept
    # File order is kept in the output; the pricing follows the dates.
    rjh = {row["date"]: row for row in priced if row["patient_id"] == "p2"}
    assert [rjh[d]["fee"] for d in sorted(rjh)] == ["400", "400", "400", "250", "0"]
    assert [rjh[d]["frikort"] for d in sorted(rjh)] == ["false", "false", "false", "false", "true"]
    assert priced[-1]["fee"] == "0" and priced[-1]["list_fee"] == "400"
    assert [row["date"] for row in priced[1:-1]] == [
        "2025-05-05",
        "2025-01-13",
        "2025-02-10",
        "2025-03-10",
        "2025-04-07",
    ]


def test_rejected_rows_carry_line_and_reason_and_counts_reconcile(tmp_path: Path, capsys: object) -> None:
    _, priced, rejected = _run(tmp_path)
    reasons = {row["line"]: row["reason"] for row in rejected}
    assert set(reasons) == {"8", "9", "10"}
    assert "booked" in reasons["8"] and "true eller false" in reasons["8"]
    assert "lappland" in reasons["9"] and "är ingen region" in reasons["9"]
    assert "patient_id" in reasons["10"]
    assert len(priced) + len(rejected) == len(ROWS)
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "kontakter lästa: 10 " in out and "kontakter prissatta: 7 " in out and "rader avvisade: 3 " in out
    assert "intäkt (summa avgifter): 1610 kr" in out
    assert "kontakter fria genom åldersbefrielse: 1 " in out
    assert "kontakter fria eller sänkta genom högkostnadsskyddet: 2 " in out


def test_missing_required_column_is_an_error(tmp_path: Path, capsys: object) -> None:
    register = tmp_path / "register.csv"
    register.write_text("patient_id,date\np1,2026-01-01\n", encoding="utf-8")
    assert main(["price", str(register), "--out", str(tmp_path / "out.csv")]) == 2
    assert "rubrikraden saknar kolumnen/kolumnerna region" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_the_per_contact_path_refuses_parquet_output_in_swedish(tmp_path: Path, capsys: object) -> None:
    register = tmp_path / "register.csv"
    register.write_text(HEADER + "".join(row + "\n" for row in ROWS), encoding="utf-8")
    out = tmp_path / "priced.parquet"
    assert main(["price", str(register), "--out", str(out), "--per-contact"]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "skriver bara CSV; ge --out ett namn som slutar på .csv" in err and "Traceback" not in err
    assert not out.exists()


def test_parquet_register_is_priced_the_same(tmp_path: Path, capsys: object) -> None:
    """The same synthetic register as Parquet: the same fees, written as Parquet with typed outcome columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = HEADER.strip().split(",")
    cells = [row.split(",") for row in ROWS]
    pq.write_table(pa.table({n: [r[i] for r in cells] for i, n in enumerate(names)}), tmp_path / "register.parquet")
    out = tmp_path / "priced.parquet"
    assert main(["price", str(tmp_path / "register.parquet"), "--out", str(out)]) == 0
    priced = pq.read_table(out).to_pylist()
    rjh = sorted((row["date"], row["fee"]) for row in priced if row["patient_id"] == "p2")
    assert [fee for _, fee in rjh] == [400, 400, 400, 250, 0]
    assert priced[0]["registration"] == "BR+ZV051" and priced[0]["qualified"] is True
    assert len(priced) == 7
    with (tmp_path / "priced.rejects.csv").open(encoding="utf-8") as f:
        assert [row["line"] for row in csv.DictReader(f)] == ["8", "9", "10"]
    assert "patienter som når högkostnadstaket: 1 " in capsys.readouterr().out  # type: ignore[attr-defined]


def test_per_contact_pricing_refuses_parquet_output(tmp_path: Path, capsys: object) -> None:
    register = tmp_path / "register.csv"
    register.write_text(HEADER + ROWS[0] + "\n", encoding="utf-8")
    code = main(["price", str(register), "--out", str(tmp_path / "priced.parquet"), "--per-contact"])
    assert code == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "priced.parquet" in err and "CSV only" in err
    assert not (tmp_path / "priced.parquet").exists()


def test_rows_with_too_few_or_too_many_fields_are_rejected(tmp_path: Path, capsys: object) -> None:
    """A short or long row is rejected with its line and the count of fields; the other rows are priced."""
    register = tmp_path / "register.csv"
    short = "p6,vgr,vardval_rehab,2026-02-10"
    long = ROWS[0].replace("p1,", "p7,", 1) + ",surplus"
    register.write_text(HEADER + "\n".join([ROWS[0], short, long]) + "\n", encoding="utf-8")
    for extra in ([], ["--per-contact"]):
        out = tmp_path / "priced.csv"
        assert main(["price", str(register), "--out", str(out), *extra]) == 0
        with (tmp_path / "priced.rejects.csv").open(encoding="utf-8") as f:
            reasons = {row["line"]: row["reason"] for row in csv.DictReader(f)}
        assert reasons == {
            "3": "raden har 4 fält men rubrikraden har 13",
            "4": "raden har 14 fält men rubrikraden har 13",
        }
        with out.open(encoding="utf-8") as f:
            assert [row["fee"] for row in csv.DictReader(f)] == ["160"]


def test_a_register_with_only_a_header_gives_empty_outputs(tmp_path: Path, capsys: object) -> None:
    register = tmp_path / "register.csv"
    register.write_text(HEADER, encoding="utf-8")
    out = tmp_path / "priced.csv"
    assert main(["price", str(register), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").splitlines() == [
        HEADER.strip() + ",fee,list_fee,qualified,registration,"
        "contact_points,category,invoice_home_region,frikort,undetermined_reason,confidence"
    ]
    assert "kontakter lästa: 0 " in capsys.readouterr().out  # type: ignore[attr-defined]


def test_a_blank_line_is_a_rejected_row_on_both_paths(tmp_path: Path, capsys: object) -> None:
    """A blank line keeps its line number and is rejected for its empty patient id; later lines keep theirs."""
    register = tmp_path / "register.csv"
    register.write_text(HEADER + ROWS[0] + "\n\n" + ROWS[1] + "\n", encoding="utf-8")
    for extra in ([], ["--per-contact"]):
        assert main(["price", str(register), "--out", str(tmp_path / "priced.csv"), *extra]) == 0
        with (tmp_path / "priced.rejects.csv").open(encoding="utf-8") as f:
            assert [(r["line"], r["reason"].split(":")[0]) for r in csv.DictReader(f)] == [("3", "patient_id")]
        assert "kontakter lästa: 3 " in capsys.readouterr().out  # type: ignore[attr-defined]


def test_typed_parquet_cells_are_read_alike_on_both_paths(tmp_path: Path, capsys: object) -> None:
    """An age stored as a decimal number (45.0) is not plain digits, on either path; an integer age is."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = HEADER.strip().split(",")
    cells = [ROWS[0].split(","), ROWS[0].replace("p1,", "p8,", 1).split(",")]
    columns = {n: [r[i] for r in cells] for i, n in enumerate(names)}
    for kind in (pa.float64(), pa.int64()):
        columns["age"] = pa.array([45, 45], type=kind)
        pq.write_table(pa.table(columns), tmp_path / "register.parquet")
        read = []
        for extra in ([], ["--per-contact"]):
            assert main(["price", str(tmp_path / "register.parquet"), "--out", str(tmp_path / "p.csv"), *extra]) == 0
            with (tmp_path / "p.rejects.csv").open(encoding="utf-8") as f:
                read.append([(r["age"], r["reason"].split(":")[0]) for r in csv.DictReader(f)])
        assert read[0] == read[1] == ([("45.0", "age")] * 2 if kind == pa.float64() else [])


def test_outputs_that_would_overwrite_the_register_are_refused(tmp_path: Path, capsys: object) -> None:
    register = tmp_path / "register.csv"
    register.write_text(HEADER + ROWS[0] + "\n", encoding="utf-8")
    for extra in ([], ["--per-contact"]):
        assert main(["price", str(register), "--out", str(register), *extra]) == 2
        assert "names the register itself" in capsys.readouterr().err  # type: ignore[attr-defined]
        assert main(["price", str(register), "--out", str(tmp_path / "p.csv"), "--rejects", str(register), *extra]) == 2
        assert "names the register itself" in capsys.readouterr().err  # type: ignore[attr-defined]
    assert register.read_text(encoding="utf-8") == HEADER + ROWS[0] + "\n"


def test_a_priced_register_and_nested_parquet_columns_are_refused(tmp_path: Path, capsys: object) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    register = tmp_path / "register.csv"
    register.write_text(HEADER + ROWS[0] + "\n", encoding="utf-8")
    assert main(["price", str(register), "--out", str(tmp_path / "p.csv")]) == 0
    assert main(["price", str(tmp_path / "p.csv"), "--out", str(tmp_path / "again.csv")]) == 2
    assert "läggs till av prissättningen" in capsys.readouterr().err  # type: ignore[attr-defined]
    table = pa.table({"patient_id": ["p1"], "region": ["vgr"], "date": ["2026-02-10"], "kva_codes": [["ZV051"]]})
    pq.write_table(table, tmp_path / "nested.parquet")
    assert main(["price", str(tmp_path / "nested.parquet"), "--out", str(tmp_path / "n.parquet")]) == 2
    assert "kva_codes innehåller listor eller poster" in capsys.readouterr().err  # type: ignore[attr-defined]


def test_an_unknown_proposal_id_is_refused(tmp_path: Path, capsys: object) -> None:
    register = tmp_path / "register.csv"
    register.write_text(HEADER + ROWS[0] + "\n", encoding="utf-8")
    assert main(["price", str(register), "--out", str(tmp_path / "p.csv"), "--proposals", "no-such-proposal"]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "unknown proposal id(s) no-such-proposal" in err and "known proposals:" in err
    assert not (tmp_path / "p.csv").exists()


CONFIDENCE_HEADER = (
    "patient_id,region,service,date,age,mode,visit_form,profession,booked,medical_assessment,"
    "resolved_by_booking_or_referral,staff,kva_codes,notes\n"
)
CONFIDENCE_ROWS = [
    # VGR 2026: the routine's phone row (version 6.0 in force): verified.
    "c1,vgr,vardval_rehab,2026-02-10,45,phone,,,true,true,false,licensed,ZV051,synthetic",
    # Skåne: the visit fee comes from an undated snapshot applied to 2025: inferred.
    "c2,skane,primary_care,2025-03-12,45,physical,individual,doctor,,,,,,synthetic",
    # Jämtland Härjedalen 2026: the unit fee is documented for 2025 only: unverified.
    "c3,jamtland-harjedalen,primary_care,2026-03-12,45,physical,,,true,,,,,synthetic",
    # Jämtland Härjedalen 2025, 17 years: free under 18 (facts §1.2, verified).
    "c4,jamtland-harjedalen,primary_care,2025-03-12,17,physical,,,true,,,,,synthetic",
    # Skåne, 19 years: the under-20 exemption is read from the undated snapshot back to 2019: inferred.
    "c5,skane,primary_care,2025-03-12,19,physical,individual,doctor,,,,,,synthetic",
    # Skåne: the visit fee cannot be told without the visit form: no confidence.
    "c6,skane,primary_care,2025-03-12,45,physical,,doctor,,,,,,synthetic",
]


def test_every_priced_row_carries_its_confidence(tmp_path: Path, capsys: Any) -> None:
    register = tmp_path / "register.csv"
    register.write_text(CONFIDENCE_HEADER + "\n".join(CONFIDENCE_ROWS) + "\n", encoding="utf-8")
    for extra in ([], ["--per-contact"]):
        out = tmp_path / f"priced{len(extra)}.csv"
        assert main(["price", str(register), "--out", str(out), *extra]) == 0
        with out.open(encoding="utf-8") as f:
            priced = {row["patient_id"]: row for row in csv.DictReader(f)}
        assert {k: (v["fee"], v["confidence"]) for k, v in priced.items()} == {
            "c1": ("160", "verified"),
            "c2": ("200", "inferred"),
            "c3": ("400", "unverified"),
            "c4": ("0", "verified"),
            "c5": ("0", "inferred"),
            "c6": ("", ""),
        }
        printed = capsys.readouterr().out
        assert "kontakter prissatta på antagna eller ej belagda värden (kolumnen confidence): 3 " in printed


def _both(tmp_path: Path, text: str) -> list[tuple[list[dict[str, str]], list[dict[str, str]]]]:
    """The register priced by the fast path and contact by contact: (priced rows, rejected rows) of each."""
    register = tmp_path / "register.csv"
    register.write_text(text, encoding="utf-8", newline="")
    results = []
    for extra in ([], ["--per-contact"]):
        assert main(["price", str(register), "--out", str(tmp_path / "priced.csv"), *extra]) == 0
        with (tmp_path / "priced.csv").open(encoding="utf-8", newline="") as f:
            priced = list(csv.DictReader(f))
        with (tmp_path / "priced.rejects.csv").open(encoding="utf-8", newline="") as f:
            results.append((priced, list(csv.DictReader(f))))
    assert results[0] == results[1]
    return results


def test_dates_outside_what_can_be_priced_are_rejected_on_both_paths(tmp_path: Path, capsys: object) -> None:
    rows = [ROWS[1], ROWS[1].replace("2025-05-05", "9999-12-31"), ROWS[1].replace("2025-05-05", "1899-12-31")]
    (priced, rejected), _ = _both(tmp_path, HEADER + "\n".join(rows) + "\n")
    assert [r["fee"] for r in priced] == ["400"]
    assert [(r["line"], r["reason"]) for r in rejected] == [
        (line, f"date: {day} ligger utanför de datum som kan prissättas, 1900-01-01–2199-12-31 "
         "(outside the dates that can be priced)")
        for line, day in (("3", "9999-12-31"), ("4", "1899-12-31"))
    ]  # fmt: skip


PERSONNUMMER_IDS = ["19000101-0000", "190001010000", "000101-0000", "0001010000", "000101+0000", "19000161-0000"]


def test_patient_ids_shaped_like_personal_identity_numbers_are_rejected_and_hidden(
    tmp_path: Path, capsys: object
) -> None:
    """Synthetic ids of the shape (1900-01-01, serial 0000): rejected with the reason, not repeated."""
    others = ["0013010000", "19000101-00000", "SYN-0001010000"]  # (no month 13; 13 digits; letters)
    rows = [ROWS[1].replace("p2,", f"{pid},", 1) for pid in [*PERSONNUMMER_IDS, *others]]
    (priced, rejected), _ = _both(tmp_path, HEADER + "\n".join(rows) + "\n")
    assert [r["patient_id"] for r in priced] == others
    assert [r["patient_id"] for r in rejected] == ["(dolt)"] * len(PERSONNUMMER_IDS)
    assert {r["reason"] for r in rejected} == {
        "patient_id: har formen av ett personnummer; ett register får bara ha pseudonyma id:n – byt ut id:t "
        "(looks like a personal identity number; only pseudonymous ids are allowed)"
    }
    text = (tmp_path / "priced.rejects.csv").read_text(encoding="utf-8")
    assert not any(pid in text for pid in PERSONNUMMER_IDS)


def test_a_rejected_row_lists_every_reason(tmp_path: Path, capsys: object) -> None:
    row = ",lappland,nowhere,2026-02-10,,written,yes,patient,true,false,licensed,ZV051,"
    (_, rejected), _ = _both(tmp_path, HEADER + row + "\n")
    reason = rejected[0]["reason"]
    starts = ["patient_id: är tom", "region: 'lappland'", "service: 'nowhere'", "booked: ", "age, birth_date: "]
    assert [reason.find(s) for s in starts] == sorted(reason.find(s) for s in starts)
    assert min(reason.find(s) for s in starts) == 0


def test_rejected_rows_carry_the_line_where_they_begin_in_the_file(tmp_path: Path, capsys: object) -> None:
    """A cell holding line breaks moves the rows after it down; so does a blank line. Both the fast
    reader and the row-by-row one (used after a row with the wrong number of fields) count so."""
    spread = ROWS[0].replace(",synthetic", ',"two\nlines\r\nand more"')
    bad = ROWS[6]
    short = "p6,vgr"
    for rows, lines in (([spread, bad], ["5"]), ([spread, "", bad, short], ["5", "6", "7"])):
        (priced, rejected), _ = _both(tmp_path, HEADER + "\n".join(rows) + "\n")
        assert [r["line"] for r in rejected] == lines
        assert priced[0]["notes"] == "two\nlines\r\nand more"


def test_cells_a_spreadsheet_would_run_are_neutralised_in_csv_only(tmp_path: Path, capsys: object) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    risky = ["=1+1", "+46", "-5", "@sum(A1)", "\tx", "\rx", "a=b"]
    rows = [ROWS[0].replace(",synthetic", f',"{cell}"') for cell in risky] + [ROWS[6] + "=HYPERLINK()"]
    (priced, rejected), _ = _both(tmp_path, HEADER + "\n".join(rows) + "\n")
    assert [r["notes"] for r in priced] == ["'=1+1", "'+46", "'-5", "'@sum(A1)", "'\tx", "'\rx", "a=b"]
    assert [r["notes"] for r in rejected] == ["'=HYPERLINK()"]
    names = HEADER.strip().split(",")
    cells = [next(csv.reader([r])) for r in rows[:-1]]
    pq.write_table(pa.table({n: [c[i] for c in cells] for i, n in enumerate(names)}), tmp_path / "r.parquet")
    assert main(["price", str(tmp_path / "r.parquet"), "--out", str(tmp_path / "p.parquet")]) == 0
    assert pq.read_table(tmp_path / "p.parquet").column("notes").to_pylist() == risky
    # A Parquet text column of any width (here 64-bit offsets) is neutralised alike in CSV output.
    table = pq.read_table(tmp_path / "r.parquet")
    table = table.set_column(names.index("notes"), "notes", table.column("notes").cast(pa.large_string()))
    pq.write_table(table, tmp_path / "large.parquet")
    assert main(["price", str(tmp_path / "large.parquet"), "--out", str(tmp_path / "large.csv")]) == 0
    with (tmp_path / "large.csv").open(encoding="utf-8", newline="") as handle:
        assert [r["notes"] for r in csv.DictReader(handle)] == [r["notes"] for r in priced]
