"""Worked cases: reading case files, running them, and comparing with their expectations.

A case file holds one case (a mapping) or a list of cases. Each case is validated on its own, so
an invalid case never stops the others; an invalid case passes only when it expects an error and
every expected error text occurs in the error message.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .engine import Outcome, Totals, Visit, price_contacts, selection
from .errors import Problem, describe, field_path, null_problems
from .model import Case, Expect, ExpectTotal
from .rules import RuleBook
from .yamlio import YamlProblem, line_of, load_file


@dataclass
class CaseEntry:
    """One case as read from a file: the validated case, or the reason it is invalid."""

    path: Path
    index: int | None
    raw: Any
    case: Case | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def id(self) -> str:
        if self.case:
            return self.case.id
        if isinstance(self.raw, dict) and isinstance(self.raw.get("id"), str):
            return str(self.raw["id"])
        return f"{self.path.stem}[{self.index}]" if self.index is not None else self.path.stem

    @property
    def line(self) -> int | None:
        return getattr(self.raw, "line", None)

    @property
    def error(self) -> str | None:
        """The error message of an invalid case (every problem, one per line)."""
        if not self.problems:
            return None
        return "\n".join(str(p) for p in self.problems)


@dataclass
class CaseResult:
    entry: CaseEntry
    failures: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    totals: Totals | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


def case_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every .yaml/.yml file under the given files and folders, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())
        else:
            yield path


def read_case_file(path: Path, book: RuleBook | None = None) -> list[CaseEntry]:
    """Read one case file into entries (one per case)."""
    if not path.exists():
        return [CaseEntry(path, None, None, problems=[Problem(str(path), None, "", "filen finns inte")])]
    try:
        data = load_file(path)
    except YamlProblem as exc:
        return [CaseEntry(path, None, None, problems=[Problem(exc.path, exc.line, "", exc.message)])]
    if data is None:
        message = "filen är tom; ett fall ska vara ett block av nycklar (id, region, contacts …)"
        return [CaseEntry(path, None, None, problems=[Problem(str(path), None, "", message)])]
    if isinstance(data, list):
        items: list[tuple[int | None, Any]] = list(enumerate(data))
    else:
        items = [(None, data)]
    entries = []
    for index, raw in items:
        entry = CaseEntry(path, index, raw)
        base: tuple[int | str, ...] = (index,) if index is not None else ()
        if not isinstance(raw, dict):
            entry.problems.append(
                Problem(
                    str(path),
                    line_of(data, base) or 1,
                    "",
                    "ett fall ska vara ett block av nycklar (id, region, contacts …)",
                )
            )
        else:
            entry.problems.extend(null_problems(data, str(path), base))
            nulls = {p.field for p in entry.problems}
            try:
                entry.case = Case.model_validate(raw)
            except ValidationError as exc:
                entry.problems.extend(
                    p for p in describe(exc, data, str(path), base, model=Case) if p.field not in nulls
                )
            if entry.case:
                entry.problems.extend(_semantic_problems(entry.case, book, data, path, base))
                if entry.problems:
                    entry.case = None
        entries.append(entry)
    return entries


def _semantic_problems(
    case: Case, book: RuleBook | None, data: Any, path: Path, base: tuple[int | str, ...]
) -> list[Problem]:
    problems = [
        Problem(str(path), line_of(data, (*base, *loc)), field_path(loc), message) for loc, message in case.problems()
    ]
    if book is None:
        return problems
    if isinstance(case.proposals, list):
        for i, pid in enumerate(case.proposals):
            if pid not in book.proposals:
                known = ", ".join(sorted(book.proposals)) or "inga"
                problems.append(
                    Problem(
                        str(path),
                        line_of(data, (*base, "proposals", i)),
                        f"proposals[{i}]",
                        f"okänt förslags-id '{pid}'; kända förslag: {known}",
                    )
                )
    return problems


def error_expectations(raw: Any) -> Iterator[tuple[str, Any]]:
    """(where, value) of every `error` expectation in a raw case, valid or not."""
    if not isinstance(raw, dict):
        return
    total = raw.get("expect_total")
    if isinstance(total, dict) and "error" in total:
        yield "expect_total", total["error"]
    if isinstance(raw.get("expect"), dict) and "error" in raw["expect"]:
        yield "expect", raw["expect"]["error"]
    contacts = raw.get("contacts")
    if isinstance(contacts, list):
        for i, c in enumerate(contacts):
            if isinstance(c, dict) and isinstance(c.get("expect"), dict) and "error" in c["expect"]:
                yield f"kontakt {i + 1}", c["expect"]["error"]


def _norm_registration(text: str) -> str:
    return "".join(text.split()).casefold()


def registration_matches(got: str | None, wanted: str) -> bool:
    """Does a registration meet an expectation? The contact type alone (`M`) matches a registration
    that adds the visit form (`M (besöksform E)`), as the contract's examples give only the type."""
    if got is None:
        return False
    return _norm_registration(wanted) in {_norm_registration(got), _norm_registration(got.split(" (")[0])}


def compare(expect: Expect, outcome: Outcome) -> list[str]:
    """Every expectation of one contact that the outcome does not meet, as sentences."""
    failures: list[str] = []
    why = "; ".join(outcome.reasons) or "ej avgjort"
    for key in expect.model_fields_set:
        wanted = getattr(expect, key)
        if key in {"fee", "list_fee"}:
            got = getattr(outcome, key)
            if got != wanted:
                shown = "ej avgjort (" + why + ")" if got is None else f"{got} kr"
                term = "avgift" if key == "fee" else "avgift enligt taxa"
                failures.append(f"{term} ({key}): förväntat {wanted} kr, fick {shown}")
        elif key == "contact_points":
            got_points = outcome.contact_points
            if got_points is None or round(got_points, 2) != round(Decimal(str(wanted)), 2):
                failures.append(
                    f"contact_points: förväntat {wanted}, fick {got_points if got_points is not None else 'inga'}"
                )
        elif key == "registration":
            if not registration_matches(outcome.registration, wanted):
                failures.append(f"registration: förväntat {wanted!r}, fick {outcome.registration!r}")
        elif key == "undetermined":
            if isinstance(wanted, list):
                if not outcome.undetermined:
                    failures.append(
                        f"undetermined: förväntat saknade uppgifter {wanted}, men avgiften avgjordes ({outcome.fee} kr)"
                    )
                elif not set(wanted) <= set(outcome.missing):
                    failures.append(
                        f"undetermined: förväntat saknade uppgifter {sorted(wanted)}, fick {outcome.missing} ({why})"
                    )
            elif outcome.undetermined != wanted:
                failures.append(
                    f"undetermined: förväntat {wanted}, fick {outcome.undetermined}"
                    + (f" ({why})" if outcome.undetermined else "")
                )
        elif key == "warning":
            if not any(wanted.casefold() in w.casefold() for w in outcome.warnings):
                failures.append(f"warning: förväntat en varning som innehåller {wanted!r}, fick {outcome.warnings}")
        elif key == "error":
            failures.append(f"error: förväntat ett fel som innehåller {wanted!r}, men fallet är giltigt")
        else:
            got = getattr(outcome, key)
            if got != wanted:
                failures.append(f"{key}: förväntat {wanted}, fick {got}")
    return failures


def compare_total(expect: ExpectTotal, totals: Totals) -> list[str]:
    failures = []
    for key in expect.model_fields_set:
        wanted = getattr(expect, key)
        if key == "error":
            failures.append(f"expect_total.error: förväntat ett fel som innehåller {wanted!r}, men fallet är giltigt")
            continue
        got = getattr(totals, key)
        if got != wanted:
            failures.append(f"expect_total.{key}: förväntat {wanted}, fick {got if got is not None else 'ej avgjort'}")
    return failures


def price_case(book: RuleBook, case: Case) -> tuple[list[Outcome], Totals]:
    """Run the engine over a valid case (raise ValueError if its fields contradict each other)."""
    if problems := case.problems():
        raise ValueError("; ".join(f"{field_path(loc)}: {message}" for loc, message in problems))
    visits = [Visit(c, case.contact_region(c), case.contact_service(c)) for c in case.contacts]
    return price_contacts(book, case.patient, visits, selection(case.proposals))


def run_entry(book: RuleBook, entry: CaseEntry) -> CaseResult:
    """Run one case and compare every expectation it gives."""
    if entry.case is None:
        problems = [f"  {p}" for p in entry.problems]
        wanted = list(error_expectations(entry.raw))
        if not wanted:
            return CaseResult(entry, ["fallet är ogiltigt:", *problems])
        error = entry.error or ""
        missed = [
            f"{where}: förväntat ett fel som innehåller {text!r}, men felet är:"
            for where, text in wanted
            if str(text).casefold() not in error.casefold()
        ]
        return CaseResult(entry, [*missed, *problems] if missed else [])
    outcomes, totals = price_case(book, entry.case)
    failures = []
    for i, (contact, outcome) in enumerate(zip(entry.case.contacts, outcomes, strict=True)):
        if contact.expect:
            failures += [f"kontakt {i + 1} ({contact.date}): {f}" for f in compare(contact.expect, outcome)]
    if entry.case.expect_total:
        failures += compare_total(entry.case.expect_total, totals)
    return CaseResult(entry, failures, outcomes, totals)


def run_paths(book: RuleBook, paths: Iterable[Path]) -> list[CaseResult]:
    """Run every case under the paths; duplicate ids fail."""
    results: list[CaseResult] = []
    seen: dict[str, Path] = {}
    for path in case_files(paths):
        for entry in read_case_file(path, book):
            result = run_entry(book, entry)
            if entry.case is not None:
                if entry.id in seen:
                    result.failures.append(
                        f"id '{entry.id}' används också i {seen[entry.id]}; varje id får bara användas en gång"
                    )
                seen.setdefault(entry.id, path)
            results.append(result)
    return results
