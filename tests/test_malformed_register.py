"""Malformed registers never end in a traceback: each bad row is rejected with its line and a reason,
or the whole file is refused with one line that names it (property test over generated damage).

The register is synthetic: made-up patient ids and contacts.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patientavgift.cli import main

HEADER = "patient_id,region,service,date,age,mode,booked,initiated_by,medical_assessment,resolved_by_booking_or_referral,staff,kva_codes\n"
ROWS = [
    "SYN-1,vgr,vardval_rehab,2026-02-10,45,written,true,patient,true,false,licensed,ZV051",
    "SYN-1,vgr,vardval_rehab,2026-03-10,45,phone,true,patient,true,false,licensed,ZV051",
    "SYN-2,jamtland-harjedalen,primary_care,2025-05-05,50,physical,true,patient,true,,,",
    "SYN-3,skane,primary_care,2025-03-12,19,phone,true,patient,true,,,",
]
DAMAGE = st.sampled_from(
    ["", ",", '"', "\n", "\r\n", "\xff", "=1+1", "9999-12-31", "-5", "true,true", "\x00", "ä", "2026-02-30"]
)


def _damaged(data: st.DataObject) -> bytes:
    text = (HEADER + "\n".join(ROWS) + "\n").encode("utf-8")
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 6))
        insert = data.draw(DAMAGE).encode("utf-8", "surrogateescape") if data.draw(st.booleans()) else b"\xff"
        text = text[:at] + insert + text[at + cut :]
    return text


@pytest.mark.parametrize("per_contact", [False, True])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_damaged_register_is_rejected_row_by_row_or_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], per_contact: bool, data: st.DataObject
) -> None:
    register = tmp_path / "register.csv"
    register.write_bytes(_damaged(data))
    out = tmp_path / "priced.csv"
    rejects = tmp_path / "priced.rejects.csv"
    for stale in (out, rejects):
        stale.unlink(missing_ok=True)
    code = main(["price", str(register), "--out", str(out), *(["--per-contact"] if per_contact else [])])
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err
    assert code in (0, 2)
    if code == 2:
        # The whole file is refused: one line naming the register, and no output written.
        assert len(printed.err.strip().splitlines()) == 1 and str(register) in printed.err
        assert not out.exists()
        return
    read = int(next(line for line in printed.out.splitlines() if line.startswith("kontakter lästa: ")).split()[2])
    with rejects.open(encoding="utf-8") as f:
        rejected = list(csv.DictReader(f))
    with out.open(encoding="utf-8") as f:
        priced = list(csv.DictReader(io.StringIO(f.read())))
    assert len(priced) + len(rejected) == read
    for row in rejected:
        assert int(row["line"]) >= 2 and row["reason"].strip()
