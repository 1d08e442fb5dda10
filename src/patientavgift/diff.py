"""The consequences of an edit before it is published: `patientavgift diff [REV]`.

The rule data in the working tree is compared with the same folder at a git revision (the last
commit by default). The report lists, in Swedish, every rule value that changed (parameters and
their dated values, rule rows, exemptions, ceilings, source statements), then what the change does:
every case whose outcome changes (and whether it still passes), every cell of the book's rule
tables and every cell of the comparison between regions that changes, on today's date and on each
date where a changed value begins or ends. It is printed as text and can be written as an HTML page.
"""

from __future__ import annotations

import html
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from . import comparison as cmp
from .cases import run_paths
from .explain import kronor
from .handbook import covered_regions, fee_cell, rule_table, source_columns_table
from .outputs import atomic
from .rules import RuleBook, check_rules, rules_dir


class DiffError(ValueError):
    """The revision or the rule data cannot be compared (said in Swedish, naming what to do)."""


@dataclass
class Report:
    """What an edit changes, section by section (each a list of Swedish lines)."""

    revision: str
    rules: list[str] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    comparison: list[str] = field(default_factory=list)
    dates: list[date] = field(default_factory=list)

    def sections(self) -> list[tuple[str, list[str]]]:
        return [
            ("Ändrade regelvärden", self.rules),
            ("Fall vars utfall ändras", self.cases),
            ("Celler i handbokens regeltabeller som ändras", self.tables),
            ("Celler i jämförelsen mellan regionerna som ändras", self.comparison),
        ]

    def text(self) -> str:
        days = ", ".join(str(d) for d in self.dates)
        out = [f"Regeldatan i arbetskopian jämfört med {self.revision} (prövat den {days})"]
        for title, lines in self.sections():
            out.append("")
            out.append(f"{title}: {len(lines) or 'inga'}")
            out += [f"  {line}" for line in lines]
        return "\n".join(out) + "\n"

    def html(self) -> str:
        parts = [
            "<!DOCTYPE html>",
            '<html lang="sv"><head><meta charset="utf-8"><title>Konsekvenser av ändringen</title>',
            "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
            "li{margin:.2rem 0}</style></head><body>",
            f"<h1>Konsekvenser av ändringen jämfört med {html.escape(self.revision)}</h1>",
            f"<p>Prövat den {', '.join(str(d) for d in self.dates)}.</p>",
        ]
        for title, lines in self.sections():
            parts.append(f"<h2>{html.escape(title)} ({len(lines)})</h2>")
            parts.append(
                "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"
                if lines
                else "<p>Inga.</p>"
            )
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- the old rule data


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True)
    except FileNotFoundError:
        raise DiffError("git finns inte på datorn; diff jämför med en version i git") from None
    except subprocess.CalledProcessError as exc:
        said = exc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DiffError(f"git kunde inte läsa versionen: {said[-1] if said else 'okänt fel'}") from None
    return done.stdout


def rules_at(revision: str, folder: Path, into: Path) -> Path:
    """The rule folder as it was at `revision`, extracted below `into`."""
    folder = folder.resolve()
    top = Path(_git(["rev-parse", "--show-toplevel"], folder).decode().strip())
    relative = folder.relative_to(top).as_posix()
    archive = _git(["archive", "--format=tar", revision, relative], top)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / relative


def _book(folder: Path, what: str) -> RuleBook:
    book, problems = check_rules(folder)
    if problems:
        first = "; ".join(str(p) for p in problems[:3])
        raise DiffError(f"regeldatan {what} har fel och kan inte jämföras ({len(problems)} fel, t.ex. {first})")
    return book


# --------------------------------------------------------------------------- rule values


def _items(book: RuleBook) -> dict[str, dict[str, Any]]:
    """Every rule value by a readable key, as plain data (for comparing two versions)."""
    out: dict[str, dict[str, Any]] = {}

    def plain(model: BaseModel) -> dict[str, Any]:
        return model.model_dump(mode="json", exclude_none=True)

    for table in book.tables.values():
        for param in table.parameters:
            for value in param.values:
                out[f"parameter {param.id}, värdet fr.o.m. {value.valid_from}"] = plain(value)
        for row in table.rows:
            out[f"regel {row.id} (fr.o.m. {row.valid_from})"] = plain(row)
        for reading in table.readings:
            out[f"läsning {reading.id}"] = plain(reading)
    for region in book.regions.values():
        for ex in region.exemptions:
            out[f"åldersbefrielse {ex.id} (fr.o.m. {ex.valid_from})"] = plain(ex)
    if book.national is not None:
        for ex in book.national.exemptions:
            out[f"åldersbefrielse {ex.id} (fr.o.m. {ex.valid_from})"] = plain(ex)
        ceiling = book.national.ceiling
        for pbb in ceiling.prisbasbelopp:
            out[f"prisbasbelopp {pbb.year}"] = plain(pbb)
        for own in ceiling.regional:
            out[f"regionalt tak {own.id}"] = plain(own)
        out["takregeln"] = plain(ceiling.rule)
    for sid, (_, st) in book.statements.items():
        out[f"påstående {sid}"] = plain(st)
    return out


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return str(value)


def rule_changes(old: RuleBook, new: RuleBook) -> tuple[list[str], set[date]]:
    """Swedish lines for every added, removed or changed rule value, and the days changes begin."""
    before, after = _items(old), _items(new)
    lines: list[str] = []
    days: set[date] = set()
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        for item in (a, b):
            if item and "valid_from" in item:
                days.add(date.fromisoformat(item["valid_from"]))
        if a is None:
            lines.append(f"ny: {key}: {_shown(b)}")
        elif b is None:
            lines.append(f"borttagen: {key}")
        else:
            fields = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            what = "; ".join(f"{k}: {_shown(a.get(k, '–'))} → {_shown(b.get(k, '–'))}" for k in fields)
            lines.append(f"ändrad: {key}: {what}")
    return lines, days


# --------------------------------------------------------------------------- consequences

OUTCOME_KEYS = ("fee", "list_fee", "qualified", "registration", "contact_points", "frikort", "confidence")
SV_KEYS = {
    "fee": "avgift",
    "list_fee": "avgift enligt taxa",
    "qualified": "kvalificerad",
    "registration": "registrering",
    "contact_points": "kontaktpoäng",
    "frikort": "frikort",
    "confidence": "säkerhet",
}


def _value(outcome: Any, key: str) -> str:
    value = getattr(outcome, key)
    if key in ("fee", "list_fee"):
        return kronor(value)
    return "–" if value is None else str(value)


def case_changes(old: RuleBook, new: RuleBook, paths: Iterable[Path]) -> list[str]:
    """Every case whose outcome differs between the two rule books, with whether it still passes."""
    paths = list(paths)
    before = {r.entry.id: r for r in run_paths(old, paths)}
    lines: list[str] = []
    for result in run_paths(new, paths):
        earlier = before.get(result.entry.id)
        if earlier is None:
            continue
        for n, (a, b) in enumerate(zip(earlier.outcomes, result.outcomes, strict=False), 1):
            changed = [k for k in OUTCOME_KEYS if _value(a, k) != _value(b, k)]
            if changed:
                what = "; ".join(f"{SV_KEYS[k]} {_value(a, k)} → {_value(b, k)}" for k in changed)
                lines.append(f"{result.entry.id} ({result.entry.path}), kontakt {n} {b.date}: {what}")
        if earlier.passed and not result.passed:
            lines.append(
                f"{result.entry.id} ({result.entry.path}): godkänt före ändringen, underkänt efter: {result.failures[0]}"
            )
        elif result.passed and not earlier.passed:
            lines.append(f"{result.entry.id} ({result.entry.path}): underkänt före ändringen, godkänt efter")
    return lines


def _table_cells(book: RuleBook, on: date) -> Iterator[tuple[str, str]]:
    """(where, cell text) for every cell of the book's rule tables on a day."""
    for table_id, table in book.tables.items():
        shown = rule_table(book, table_id, on)
        for row in shown.rows:
            for column, cell in zip(shown.columns, row, strict=False):
                yield f"{table.title}, {row[1]}, {column}", str(cell)
        if table.columns:
            source = source_columns_table(book, table_id, on)
            for row in source.rows:
                for column, cell in zip(source.columns, row, strict=False):
                    yield f"{table.title} (källans kolumner), {row[0]}, {column}", str(cell)


def table_changes(old: RuleBook, new: RuleBook, days: Iterable[date]) -> list[str]:
    lines: list[str] = []
    for on in days:
        before, after = dict(_table_cells(old, on)), dict(_table_cells(new, on))
        for where in sorted(before.keys() | after.keys()):
            a, b = before.get(where, "(finns inte)"), after.get(where, "(finns inte)")
            if a != b:
                lines.append(f"{on}: {where}: {a} → {b}")
    return lines


def comparison_changes(old: RuleBook, new: RuleBook, days: Iterable[date]) -> list[str]:
    lines: list[str] = []
    regions = covered_regions(new)
    for on in days:
        before = cmp.price_all(old, on, "none", regions)
        after = cmp.price_all(new, on, "none", regions)
        for key, outcome in after.items():
            a, b = fee_cell(before[key]), fee_cell(outcome)
            if a != b:
                index, region = key
                lines.append(f"{on}: {cmp.SITUATIONS[index].name}, {region.label}: {a} → {b}")
    return lines


def diff(
    revision: str = "HEAD", folder: Path | None = None, cases: Path = Path("cases"), today: date | None = None
) -> Report:
    """Compare the rule data in `folder` (the one in use by default) with the same folder at `revision`."""
    folder = folder or rules_dir()
    new = _book(folder, "i arbetskopian")
    with tempfile.TemporaryDirectory(prefix="patientavgift-diff-") as tmp:
        old = _book(rules_at(revision, folder, Path(tmp)), f"i {revision}")
    report = Report(revision)
    report.rules, changed_days = rule_changes(old, new)
    report.dates = sorted({today or date.today(), *changed_days})
    if not report.rules:
        return report
    report.cases = case_changes(old, new, [cases]) if cases.exists() else []
    report.tables = table_changes(old, new, report.dates)
    report.comparison = comparison_changes(old, new, report.dates)
    return report


def write_html(report: Report, path: Path) -> None:
    """The report as a page the officer can open (written atomically)."""
    with atomic([path]) as (part,):
        part.write_text(report.html(), encoding="utf-8")
