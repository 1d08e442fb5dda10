"""Invalid case input is rejected with a message naming the file, line, field, value and what is allowed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from patientavgift.cases import read_case_file, run_entry
from patientavgift.rules import RuleBook

GOOD = """\
id: probe
region: vgr
service: vardval_rehab
patient: {age: 45}
contacts:
  - date: 2026-02-10
    mode: written
"""


def _error(book: RuleBook, path: Path) -> str:
    (entry,) = read_case_file(path, book)
    assert entry.case is None
    return entry.error or ""


def test_unknown_key_names_key_and_line(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(GOOD + "    bokad: true\n")
    assert _error(book, path) == f"{path}:8: contacts[0].bokad: okänd nyckel 'bokad'; menade du 'booked'?"


def test_wrong_type(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(GOOD + "    booked: ja\n")
    assert _error(book, path) == f"{path}:8: contacts[0].booked: måste vara true eller false, inte 'ja'"


def test_impossible_date(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(GOOD.replace("2026-02-10", "2026-02-30"))
    assert _error(book, path) == (
        f"{path}:6: contacts[0].date: '2026-02-30' är inget verkligt datum (dagen eller månaden finns inte)"
    )


def test_date_format(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(GOOD.replace("2026-02-10", "10/02/2026"))
    assert "contacts[0].date: '10/02/2026' är inget datum; skriv datum som ÅÅÅÅ-MM-DD, t.ex. 2026-02-10" in _error(
        book, path
    )


def test_negative_age(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(GOOD.replace("age: 45", "age: -3"))
    assert _error(book, path) == f"{path}:4: patient.age: -3 ligger utanför det tillåtna intervallet 0–130 år"


def test_unknown_region(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(GOOD.replace("region: vgr", "region: oslo"))
    message = _error(book, path)
    assert message.startswith(f"{path}:2: region: 'oslo' är inte tillåtet; tillåtna värden: stockholm, uppsala")
    assert "jamtland-harjedalen" in message


def test_both_age_and_birth_date(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(GOOD.replace("{age: 45}", "{age: 45, birth_date: 1980-01-01}"))
    assert _error(book, path) == f"{path}:4: patient: ange antingen age eller birth_date, inte båda"


def test_contacts_out_of_order(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(GOOD + "  - date: 2026-01-01\n    mode: phone\n")
    assert "kontakterna ska stå i datumordning: kontakt 2 (2026-01-01) ligger före kontakt 1 (2026-02-10)" in _error(
        book, path
    )


def test_unknown_proposal(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(GOOD + "proposals: [lower-fee]\n")
    assert "proposals[0]: okänt förslags-id 'lower-fee'; kända förslag: jamtland-harjedalen-written-100" in _error(
        book, path
    )


def test_bad_kva_code(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(GOOD + "    kva_codes: [zv51]\n")
    assert "contacts[0].kva_codes: 'zv51' är ingen KVÅ-kod" in _error(book, path)


def test_yaml_syntax_error_names_line(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(GOOD + "  - date: [2026\n")
    (entry,) = read_case_file(path, book)
    assert entry.error is not None and entry.error.startswith(f"{path}:")
    assert "filen är inte giltig YAML" in entry.error


def test_duplicate_key_is_an_error(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(GOOD + "    mode: phone\n")
    assert "nyckeln 'mode' anges två gånger i samma block (första gången på rad 7)" in _error(book, path)


def test_one_invalid_case_does_not_stop_the_others(book: RuleBook, write_case: Callable[..., Path]) -> None:
    text = (
        "- "
        + GOOD.replace("\n", "\n  ").rstrip()
        + "\n- "
        + GOOD.replace("probe", "probe-2").replace("mode: written", "mode: fax").replace("\n", "\n  ").rstrip()
        + "\n"
    )
    path = write_case(text)
    first, second = read_case_file(path, book)
    assert first.case is not None
    assert second.case is None and "'fax' är inte tillåtet" in (second.error or "")


def test_error_expectation_passes_only_on_matching_message(book: RuleBook, write_case: Callable[..., Path]) -> None:
    bad = GOOD.replace("mode: written", "mode: fax")
    matching = write_case(bad + "    expect: {error: mode}\n", "a.yaml")
    other = write_case(bad + "    expect: {error: birth_date}\n", "b.yaml")
    (ok,) = read_case_file(matching, book)
    (wrong,) = read_case_file(other, book)
    assert run_entry(book, ok).passed
    assert not run_entry(book, wrong).passed
