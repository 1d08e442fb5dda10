"""The loader refuses what the engine cannot use: missing or empty files, YAML 1.1 number forms,
values outside their range, nulls and stray files; one Swedish message per problem, at its line."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from patientavgift.cases import read_case_file
from patientavgift.cli import main
from patientavgift.rules import PACKAGE_RULES, RuleBook, check_rules

from .conftest import CASES

CASE = """\
id: probe
region: vgr
service: vardval_rehab
patient: {age: 45}
contacts:
  - date: 2026-02-10
    mode: phone
    booked: true
    medical_assessment: true
    resolved_by_booking_or_referral: false
    staff: licensed
"""


def _copy(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(PACKAGE_RULES, rules)
    return rules


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line(path: Path, text: str) -> int:
    return next(i + 1 for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()) if text in line)


def _problems(rules: Path) -> list[str]:
    return [str(p) for p in check_rules(rules)[1]]


# ---------------------------------------------------------------- required files (item 5, 11)


@pytest.mark.parametrize(
    ("file", "holds"),
    [
        ("national.yaml", "högkostnadsskyddet (ceiling) och de nationella åldersbefrielserna (exemptions)"),
        ("sources.yaml", "källregistret: dokumenten (documents) och deras påståenden (statements)"),
        ("vgr/region.yaml", "regionens id (region), titel (title) och de tjänster reglerna gäller (services)"),
    ],
)
def test_an_empty_rule_file_is_named_with_what_it_must_hold(tmp_path: Path, file: str, holds: str) -> None:
    rules = _copy(tmp_path)
    (rules / file).write_text("# tom\n", encoding="utf-8")
    assert _problems(rules) == [f"{rules / file}: filen är tom; den ska innehålla {holds}"]


def test_a_missing_categories_table_is_reported(tmp_path: Path) -> None:
    rules = _copy(tmp_path)
    (rules / "common" / "categories.yaml").unlink()
    assert _problems(rules) == [
        f"{rules / 'common' / 'categories.yaml'}: filen saknas; den ska innehålla tabellen som delar in program "
        "i självhjälp, stöd och behandling (kind: categories)"
    ]


def test_a_missing_national_file_is_reported(tmp_path: Path) -> None:
    rules = _copy(tmp_path)
    (rules / "national.yaml").unlink()
    assert _problems(rules) == [
        f"{rules / 'national.yaml'}: filen saknas; den ska innehålla högkostnadsskyddet (ceiling) "
        "och de nationella åldersbefrielserna (exemptions)"
    ]


def test_a_rule_file_that_is_a_list_is_reported(tmp_path: Path) -> None:
    rules = _copy(tmp_path)
    (rules / "national.yaml").write_text("- 1\n- 2\n", encoding="utf-8")
    assert _problems(rules) == [
        f"{rules / 'national.yaml'}:1: filen ska vara ett block av nycklar och värden med högkostnadsskyddet "
        "(ceiling) och de nationella åldersbefrielserna (exemptions)"
    ]


@pytest.mark.parametrize("command", ["cases", "explain"])
def test_cases_and_explain_stop_on_an_empty_national_file(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = _copy(tmp_path)
    (rules / "national.yaml").write_text("", encoding="utf-8")
    assert main(["--rules", str(rules), command, str(CASES / "vgr" / "phone-replaces-visit.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "Regeldata har fel; inget har räknats ut:",
        f"  {rules / 'national.yaml'}: filen är tom; den ska innehålla högkostnadsskyddet (ceiling) "
        "och de nationella åldersbefrielserna (exemptions)",
    ]


def test_an_empty_source_register_is_one_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = _copy(tmp_path)
    (rules / "sources.yaml").write_text("", encoding="utf-8")
    assert main(["--rules", str(rules), "check", str(CASES / "vgr")]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{rules / 'sources.yaml'}: filen är tom; den ska innehålla källregistret: dokumenten (documents) "
        "och deras påståenden (statements)",
        "1 fel hittades",
    ]


# ---------------------------------------------------------------- YAML 1.2 numbers (item 6)


@pytest.mark.parametrize("written", ["020", "0x2D", "4_5", "0o24"])
def test_yaml_1_1_number_forms_are_refused_in_a_case(
    book: RuleBook, write_case: Callable[..., Path], written: str
) -> None:
    path = write_case(CASE.replace("age: 45", f"age: {written}"))
    (entry,) = read_case_file(path, book)
    assert entry.case is None
    assert entry.error == (
        f"{path}:4: patient.age: måste vara ett heltal, inte '{written}'; skriv talet med vanliga siffror "
        "utan inledande nolla, understreck eller 0x (t.ex. 20, inte 020)"
    )


def test_plain_numbers_and_dates_are_still_read(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(CASE.replace("age: 45", "age: 20") + "    expect: {fee: 160, contact_points: 0.2}\n")
    (entry,) = read_case_file(path, book)
    assert entry.case is not None
    assert entry.case.patient.age == 20
    assert str(entry.case.contacts[0].date) == "2026-02-10"


def test_a_fee_with_a_leading_zero_is_refused_in_the_rules(tmp_path: Path) -> None:
    rules = _copy(tmp_path)
    table = rules / "vgr" / "contacts.yaml"
    _replace(table, "amount: 160, cite: [vgr.row-br-zv051", "amount: 0240, cite: [vgr.row-br-zv051")
    assert _problems(rules) == [
        f"{table}:{_line(table, 'amount: 0240')}: parameters[0].values[0].amount: måste vara ett heltal, inte '0240'; skriv talet med "
        "vanliga siffror utan inledande nolla, understreck eller 0x (t.ex. 20, inte 020)"
    ]


# ---------------------------------------------------------------- ranges, nulls, stray files (item 7)


@pytest.mark.parametrize(
    ("file", "old", "new", "field", "message"),
    [
        (
            "national.yaml",
            "factor: 0.025",
            "factor: 25",
            "ceiling.rule.factor",
            "25 är inte tillåtet: faktorn ska vara större än 0 och mindre än 1",
        ),
        (
            "vgr/region.yaml",
            "free_under_age: 20",
            "free_under_age: 2000",
            "exemptions[0].free_under_age",
            "2000 ligger utanför det tillåtna intervallet 0–130 år",
        ),
        (
            "vgr/contacts.yaml",
            "amount: 160,",
            "amount: 2147483648,",
            "parameters[0].values[0].amount",
            "2147483648 ligger utanför det tillåtna intervallet 0–100 000 kr",
        ),
        (
            "vgr/contacts.yaml",
            "fee: 0",
            "fee: 2147483648",
            "rows[0].fee",
            "2147483648 ligger utanför det tillåtna intervallet 0–100 000 kr",
        ),
        (
            "vgr/contacts.yaml",
            "amount: 160,",
            "amount: null,",
            "parameters[0].values[0].amount",
            "har inget värde (null eller inget efter kolonet); ange ett värde eller ta bort nyckeln",
        ),
    ],
)
def test_values_outside_their_range_are_refused(
    tmp_path: Path, file: str, old: str, new: str, field: str, message: str
) -> None:
    rules = _copy(tmp_path)
    _replace(rules / file, old, new)
    assert _problems(rules) == [f"{rules / file}:{_line(rules / file, new)}: {field}: {message}"]


def test_a_yml_file_beside_the_rules_is_refused(tmp_path: Path) -> None:
    rules = _copy(tmp_path)
    shutil.copy(rules / "vgr" / "region.yaml", rules / "vgr" / "extra.yml")
    assert _problems(rules) == [
        f"{rules / 'vgr' / 'extra.yml'}: regelfiler ska sluta på .yaml; byt namn till extra.yaml"
    ]


def test_a_fee_of_2_31_in_a_case_is_refused(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(CASE + "    expect: {fee: 2147483648}\n")
    (entry,) = read_case_file(path, book)
    assert entry.error == (
        f"{path}:12: contacts[0].expect.fee: 2147483648 ligger utanför det tillåtna intervallet 0–100 000 kr"
    )


def test_a_null_in_a_case_is_refused_once(book: RuleBook, write_case: Callable[..., Path]) -> None:
    path = write_case(CASE.replace("booked: true", "booked:"))
    (entry,) = read_case_file(path, book)
    assert entry.error == (
        f"{path}:8: contacts[0].booked: har inget värde (null eller inget efter kolonet); "
        "ange ett värde eller ta bort nyckeln"
    )


# ---------------------------------------------------------------- one message per problem (item 11)


def test_file_level_defaults_are_refused_with_the_reason(tmp_path: Path) -> None:
    # Every row and value states its own validity and citation, so that a change shows on its own
    # line; a `defaults:` block that rows would silently inherit is refused where it is written.
    rules = _copy(tmp_path)
    table = rules / "vgr" / "contacts.yaml"
    _replace(table, "\nrows:\n", "\ndefaults:\n  valid_from: 2024-04-31\nrows:\n")
    assert _problems(rules) == [
        f"{table}:{_line(table, 'defaults:')}: defaults: defaults används inte: varje rad och varje värde anger "
        "själv sin giltighet (valid_from, valid_to) och sina källor (cite), så att en ändring syns på sin egen rad"
    ]


def test_a_bad_date_is_reported_once_where_it_is_written(tmp_path: Path) -> None:
    rules = _copy(tmp_path)
    table = rules / "vgr" / "contacts.yaml"
    _replace(
        table,
        "    valid_from: 2024-04-01\n    valid_to: 2027-11-27\n",
        "    valid_from: 2024-04-31\n    valid_to: 2027-11-27\n",
    )
    problems = _problems(rules)
    assert len(problems) == 1 and "'2024-04-31' är inget verkligt datum" in problems[0]


def test_a_fee_of_the_wrong_type_names_no_model_path(tmp_path: Path) -> None:
    rules = _copy(tmp_path)
    table = rules / "vgr" / "contacts.yaml"
    _replace(table, "fee: {param: vgr.fee.written-replaces-visit}", "fee: {param: x, tabel: y}")
    assert _problems(rules) == [
        f"{table}:{_line(table, 'tabel: y')}: rows[3].fee.tabel: okänd nyckel 'tabel'; menade du 'table'?"
    ]


# ---------------------------------------------------------------- Swedish parser wording (item 14)


def test_a_yaml_syntax_error_is_told_in_swedish_with_line_and_column(
    book: RuleBook, write_case: Callable[..., Path]
) -> None:
    path = write_case(CASE + "    mode: phone: video\n")
    (entry,) = read_case_file(path, book)
    assert entry.error == (
        f"{path}:12: filen är inte giltig YAML, kolumn 16: ett kolon (:) står där ingen ny nyckel kan börja; "
        "kontrollera indraget, eller sätt texten inom citattecken om den innehåller ': '"
    )


def test_cases_prints_each_problem_of_an_invalid_case_on_its_own_line(
    write_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case(CASE.replace("mode: phone", "mode: fax").replace("booked: true", "booked: ja"))
    assert main(["cases", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"UNDERKÄNT (FAIL) probe ({path}:1)",
        "  fallet är ogiltigt:",
        f"    {path}:7: contacts[0].mode: 'fax' är inte tillåtet; tillåtna värden: physical, phone, video, written, "
        "letter, inbox, platform",
        f"    {path}:8: contacts[0].booked: måste vara true eller false, inte 'ja'",
        "0 passed, 1 failed",
    ]


def test_a_missed_error_expectation_shows_the_real_error_once(
    write_case: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case(CASE.replace("mode: phone", "mode: fax") + "    expect: {error: telefon}\n")
    assert main(["cases", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"UNDERKÄNT (FAIL) probe ({path}:1)",
        "  kontakt 1: förväntat ett fel som innehåller 'telefon', men felet är:",
        f"    {path}:7: contacts[0].mode: 'fax' är inte tillåtet; tillåtna värden: physical, phone, video, written, "
        "letter, inbox, platform",
        "0 passed, 1 failed",
    ]
