"""Contact facts that contradict each other make a case invalid and a register row rejected, with the reason."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from patientavgift.cases import read_case_file
from patientavgift.cli import main
from patientavgift.rules import RuleBook

REALTIME = "realtime: ett fysiskt besök sker alltid i realtid; realtime: false motsäger mode: physical"
LETTER = (
    "programme_event: ett fysiskt brev (mode: letter) är ingen programhändelse; ta bort programme_event "
    "eller ange kontaktformen för programmet"
)
UNBOOKED = "changed_character: bara en bokad kontakt kan ändra karaktär; changed_character: true motsäger booked: false"
KVA_LETTER = "kva_codes: kontaktformen letter (fysiskt brev) registreras inte med KVÅ-koder; ta bort kva_codes"
KVA_PLATFORM = (
    "kva_codes: kontaktformen platform (patientens eget arbete i stöd- och behandlingsplattformen) "
    "registreras inte med KVÅ-koder; ta bort kva_codes"
)


@pytest.mark.parametrize(
    ("facts", "line", "message"),
    [
        ("mode: physical\n    realtime: false", 7, REALTIME),
        ("mode: letter\n    programme_event: first_visit", 7, LETTER),
        ("mode: phone\n    booked: false\n    changed_character: true", 8, UNBOOKED),
        ("mode: letter\n    kva_codes: [ZV051]", 7, KVA_LETTER),
        ("mode: platform\n    kva_codes: [ZV051]", 7, KVA_PLATFORM),
    ],
)
def test_a_contradiction_makes_the_case_invalid(
    book: RuleBook, write_case: Callable[..., Path], facts: str, line: int, message: str
) -> None:
    path = write_case(
        f"id: probe\nregion: skane\npatient: {{age: 45}}\ncontacts:\n  - date: 2026-02-10\n    {facts}\n"
        "  - date: 2026-02-11\n    mode: phone\n"
    )
    (entry,) = read_case_file(path, book)
    assert entry.error == f"{path}:{line}: contacts[0].{message}"


def test_facts_that_agree_are_kept(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(
        "id: probe\nregion: skane\npatient: {age: 45}\ncontacts:\n  - date: 2026-02-10\n    mode: physical\n"
        "    realtime: true\n  - date: 2026-02-11\n    mode: phone\n    booked: true\n    changed_character: true\n"
        "  - date: 2026-02-12\n    mode: platform\n    programme_event: module_completed\n"
    )
    (entry,) = read_case_file(path, book)
    assert entry.case is not None


HEADER = "patient_id,region,service,date,age,mode,booked,realtime,changed_character,kva_codes,programme_event\n"
ROWS = [
    "p1,skane,primary_care,2026-02-10,45,physical,true,false,,,",
    "p1,skane,internet_treatment_team,2026-02-11,45,letter,,,,,first_visit",
    "p2,vgr,vardval_rehab,2026-02-10,45,phone,false,,true,,",
    "p2,vgr,vardval_rehab,2026-02-11,45,letter,,,,ZV051,",
    "p3,skane,internet_treatment_team,2026-02-10,45,platform,,,,ZV051,",
    "p3,skane,primary_care,2026-02-12,45,physical,true,true,,,",  # agrees: priced
]


@pytest.mark.parametrize("how", [[], ["--per-contact"]])
def test_a_contradiction_rejects_the_register_row(tmp_path: Path, how: list[str]) -> None:
    register = tmp_path / "register.csv"
    register.write_text(HEADER + "\n".join(ROWS) + "\n", encoding="utf-8")
    out = tmp_path / "priced.csv"
    assert main(["price", str(register), "--out", str(out), *how]) == 0
    with (tmp_path / "priced.rejects.csv").open(encoding="utf-8") as f:
        reasons = [(r["line"], r["reason"]) for r in csv.DictReader(f)]
    assert reasons == [("2", REALTIME), ("3", LETTER), ("4", UNBOOKED), ("5", KVA_LETTER), ("6", KVA_PLATFORM)]
    with out.open(encoding="utf-8") as f:
        assert [(r["date"], r["mode"], r["qualified"]) for r in csv.DictReader(f)] == [
            ("2026-02-12", "physical", "true")
        ]
