"""Building blocks for the handbook's chapters (handboken).

Every table, number and example in the book is computed here from the rule data and the case
corpus at build time, so that a change in a rule file shows up in the book without editing a
chapter. The objects returned display themselves in a notebook: `Table` as an HTML table (and as a
plain-text table, which the chapter tests record), `Prose` as MyST Markdown and `Html` as raw HTML.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, TypeAlias

from .cases import CaseResult, price_case, run_paths
from .conditions import All, Any_, Condition, Equals, Given, Not, Ref
from .confidence import ORDER, SV, SV_EXPLAINED, Confidence, of_item, weakest
from .coverage import Coverage, coverage
from .engine import Outcome, Totals
from .explain import kronor, outcome_summary, yes_no
from .model import FACT_TERMS, FACT_TYPES, OUTCOME_TERMS, Case, Region, Service, Term
from .rules import FeeRef, ParamRef, Row, RuleBook, load_rules, sv_number

Cell: TypeAlias = "str | int | Decimal | Html | None"

STATUS_SV = {"decided": "beslutad", "proposed": "förslag", "alternative": "alternativ"}
"""Swedish names of a rule value's status (a decided value is called *beslutad* only where its
confidence allows it: see `status_word`)."""

DECIDED_SV: dict[Confidence, str] = {
    "verified": "beslutad",
    "derived": "beslutad, belopp härlett",
    "inferred": "antagen tillämpning",
    "unverified": "ej belagd",
}
"""What the book calls a value with status `decided`, by the weakest confidence it rests on: only a
verified or derived value is called decided (beslutad)."""


# --------------------------------------------------------------------------- confidence marks


def mark(level: Confidence | None) -> str:
    """The mark the book puts beside a value that is not verified: ' (härledd)', ' (antagen)', ' (ej belagd)'."""
    return "" if level is None or level == "verified" else f" ({SV[level]})"


def marked(text: str, level: Confidence | None) -> str:
    """A value with its confidence mark."""
    return text + mark(level)


def legend(levels: Iterable[Confidence | None] | None = None) -> Prose:
    """The explanation of the confidence marks, once per page (only the levels given, or all)."""
    wanted = {lvl for lvl in levels if lvl} if levels is not None else set(ORDER)
    items = [
        f"- *({SV[lvl]})* – {SV_EXPLAINED[lvl].split(': ', 1)[1]}"
        for lvl in ORDER
        if lvl in wanted and lvl != "verified"
    ]
    if not items:
        return Prose("")
    body = "\n".join(items)
    return Prose(
        ":::{admonition} Säkerhetsmarkeringar\n:class: tip pa-legend\n"
        "Ett belopp utan markering är belagt: en källa anger det direkt. Markeringen inom parentes visar det "
        "svagaste underlag som beloppet vilar på:\n\n"
        f"{body}\n:::\n"
    )


# --------------------------------------------------------------------------- display objects


def _cell(value: Cell) -> str:
    if value is None:
        return "–"
    if isinstance(value, Html):
        return value.plain
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return sv_number(value)
    return str(value)


def _cell_html(value: Cell) -> str:
    return value.markup if isinstance(value, Html) else html.escape(_cell(value))


@dataclass
class Table:
    """A table for the book: Swedish column headings and rows of text."""

    columns: list[str]
    rows: list[list[Cell]]
    caption: str | None = None
    row_classes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[Cell]:
        """The values of one column."""
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = []
        for n, row in enumerate(self.rows):
            cls = self.row_classes[n] if n < len(self.row_classes) else ""
            attr = f' class="{cls}"' if cls else ""
            cells = "".join(f"<td>{_cell_html(v)}</td>" for v in row)
            body.append(f"<tr{attr}>{cells}</tr>")
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        # The box scrolls sideways on a narrow screen; it can take focus so it scrolls from the keyboard too.
        label = html.escape(self.caption or "Tabell: " + ", ".join(self.columns[:3]))
        return (
            f'<div class="pa-table-wrap" tabindex="0" role="region" aria-label="{label}">'
            f'<table class="dataframe pa-table">{caption}'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        )

    def __repr__(self) -> str:
        lines = [" | ".join(self.columns)]
        lines += [" | ".join(_cell(v).replace("\n", " ") for v in row) for row in self.rows]
        return "\n".join(lines)


@dataclass
class Prose:
    """Generated text in MyST Markdown (shown as formatted text in the book)."""

    text: str

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


@dataclass
class Html:
    """Generated HTML, with a plain-text version for the recorded chapter outputs."""

    markup: str
    plain: str

    def _repr_html_(self) -> str:
        return self.markup

    def __repr__(self) -> str:
        return self.plain


# --------------------------------------------------------------------------- project paths


def project_root() -> Path:
    """The handbook's top folder (holding `_toc.yml` and `cases/`), found from the working directory.

    Chapters run with their own folder as working directory, tests from the top; both find it.
    `$PATIENTAVGIFT_ROOT` overrides the search.
    """
    if env := os.environ.get("PATIENTAVGIFT_ROOT"):
        return Path(env)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists() and (folder / "cases").is_dir():
            return folder
    raise FileNotFoundError(f"no folder with _toc.yml and cases/ above {here}; set PATIENTAVGIFT_ROOT")


def rules() -> RuleBook:
    """The rule book the handbook shows (the same data the engine evaluates)."""
    return load_rules()


@cache
def _corpus(root: str) -> list[CaseResult]:
    return run_paths(load_rules(), [Path(root) / "cases"])


def corpus() -> list[CaseResult]:
    """Every case under `cases/`, run through the engine (pass or fail computed now)."""
    return _corpus(str(project_root()))


def case_by_id(case_id: str) -> CaseResult:
    """One case of the corpus by its id."""
    for result in corpus():
        if result.entry.id == case_id:
            return result
    raise KeyError(f"no case with id {case_id!r} under cases/")


def relative(path: Path) -> str:
    """A path relative to the project, for display."""
    try:
        return str(path.resolve().relative_to(project_root()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- sources


def validity_text(valid_from: date | None, valid_to: date | None) -> str:
    """A validity period in Swedish."""
    if valid_from and valid_to:
        return f"{valid_from} – {valid_to}"
    if valid_from:
        return f"fr.o.m. {valid_from}"
    if valid_to:
        return f"t.o.m. {valid_to}"
    return "ej angiven"


def source_header(book: RuleBook, doc_id: str) -> Prose:
    """The box at the top of a chapter naming its source, version, validity and status."""
    doc = book.documents[doc_id]
    parts = [
        f"**{doc.title}**",
        f"Utgivare: {doc.issuer}",
        f"Typ: {reader_text(doc.kind)}",
        f"Version: {doc.version or 'ej angiven'}",
        f"Giltighet: {validity_text(doc.valid_from, doc.valid_to)}",
        f"Status: {reader_text(doc.status)}",
        f"Antal påståenden i källregistret: {len(doc.statements)}",
    ]
    if doc.date:
        parts.insert(4, f"Datum: {doc.date}")
    body = "\n".join(f"- {p}" for p in parts)
    return Prose(f":::{{admonition}} Källa\n:class: note pa-source\n{body}\n:::\n")


def sources_table(book: RuleBook) -> Table:
    """The source register: one row per document."""
    rows: list[list[Cell]] = []
    for doc in book.documents.values():
        rows.append(
            [
                doc.issuer,
                doc.title,
                reader_text(doc.kind),
                doc.version or "–",
                str(doc.date) if doc.date else "–",
                validity_text(doc.valid_from, doc.valid_to),
                reader_text(doc.status),
                len(doc.statements),
            ]
        )
    cols = ["Utgivare", "Titel", "Typ", "Version", "Datum", "Giltighet", "Status", "Påståenden"]
    return Table(cols, rows)


def statements_table(book: RuleBook, doc_id: str, sections: Sequence[str] | None = None) -> Table:
    """A document's statements (paraphrased), optionally only some sections (by prefix).

    Where the document tags its statements (the reference material), each statement's tag is shown.
    """
    chosen = [
        st
        for st in book.documents[doc_id].statements
        if sections is None or any(st.section.startswith(s) for s in sections)
    ]
    if any(st.confidence for st in chosen):
        rows: list[list[Cell]] = [
            [st.section, st.text, statement_tag(book, st.id), cite_cell(book, [st.id])] for st in chosen
        ]
        return Table(["Avsnitt", "Innehåll (i egna ord)", "Säkerhet", "Id"], rows)
    return Table(
        ["Avsnitt", "Innehåll (i egna ord)", "Id"], [[st.section, st.text, cite_cell(book, [st.id])] for st in chosen]
    )


def statement_tag(book: RuleBook, statement_id: str) -> str:
    """A statement's confidence in Swedish (a source document's own statement counts as verified)."""
    return SV[book.statements[statement_id][1].confidence or "verified"]


def cite_with_tags(book: RuleBook, cite: str) -> str:
    """A rendered citation with the tag of every tagged statement: '[facts.x]' becomes '[facts.x, härledd]'."""

    def tag(match: re.Match[str]) -> str:
        sid = match.group(1)
        found = book.statements.get(sid)
        if found is None or found[1].confidence is None:
            return match.group(0)
        return f"[{sid}, {SV[found[1].confidence]}]"

    return re.sub(r"\[([\w.-]+)\]", tag, cite)


def statement_text(book: RuleBook, statement_id: str) -> str:
    """One statement's paraphrase."""
    return book.statements[statement_id][1].text


def statement_figures(book: RuleBook, statement_id: str) -> Mapping[str, int | str]:
    """Figures recorded with a statement (e.g. the statistics a proposal cites)."""
    return book.statements[statement_id][1].figures or {}


# --------------------------------------------------------------------------- rule tables


def _param_cell(book: RuleBook, param_id: str, unit: str, on: date | None = None) -> str:
    """A parameter's amount on a day, or every dated value when no day is given."""
    param = book.parameters[param_id]
    values = [v for v in param.decided() if on is None or param.holds(v, on)]
    if not values:
        return "inget belopp i regeldata"
    if len(values) == 1 and (on is not None or len(param.decided()) == 1):
        return f"{sv_number(values[0].amount)}{unit}"
    return "; ".join(f"{sv_number(v.amount)}{unit} {validity_text(v.valid_from, param.last_day(v))}" for v in values)


def amount_on(book: RuleBook, value: int | Decimal | FeeRef | ParamRef | None, on: date | None = None) -> Any:
    """A row's literal amount, or its parameter's amount on a day (the only value when no day is given).

    Chapters use this instead of reading `row.fee` or `row.contact_points`, which may name a
    parameter; None when the amount is not a single number (a lookup table, or several values)."""
    if value is None or isinstance(value, int | Decimal):
        return value
    name = value.param
    if name is None:
        return None
    param = book.parameters[name]
    values = [v for v in param.decided() if on is None or param.holds(v, on)]
    return values[0].amount if len(values) == 1 else None


def _points_cell(book: RuleBook, points: Decimal | ParamRef | None, on: date | None = None) -> str:
    if points is None:
        return "–"
    if isinstance(points, ParamRef):
        return _param_cell(book, points.param, "", on)
    return sv_number(points)


def _fee_cell(book: RuleBook, row: Row, table_id: str | None = None, on: date | None = None) -> str:
    if row.undetermined:
        return "ej avgjort"
    fee = row.fee
    if fee is None:
        return "–"
    if isinstance(fee, int | Decimal) or fee.param:
        text = (
            f"{sv_number(fee)} kr" if isinstance(fee, int | Decimal) else _param_cell(book, fee.param or "", " kr", on)
        )
        if table_id is None:
            return text
        level = row_level(book, table_id, row, on) if on else row_weakest(book, table_id, row)
        return marked(text, level)
    assert fee.table is not None
    return f"enligt {book.tables[fee.table].title}"


def status_word(status: str, proposal: str | None, level: Confidence) -> str:
    """What the book calls a rule value: a proposal or alternative by its name, a decided value by its confidence."""
    if status != "decided":
        return f"{STATUS_SV[status]}: {proposal}" if proposal else STATUS_SV[status]
    return DECIDED_SV[level]


def _fee_levels(book: RuleBook, row: Row, on: date) -> list[Confidence]:
    """The confidence of the amount a row's fee refers to on a day (a parameter value or a lookup table)."""
    if not isinstance(row.fee, FeeRef):
        return []
    if row.fee.param:
        param = book.parameters[row.fee.param]
        values = [v for v in param.decided() if param.holds(v, on)]
        return [of_item(book, v.confidence, v.cite) for v in values]
    assert row.fee.table is not None
    table = book.tables[row.fee.table]
    return [row_level(book, row.fee.table, sub, on) for sub in table.rows if sub.in_force(on) and not sub.undetermined]


def row_level(book: RuleBook, table_id: str, row: Row, on: date) -> Confidence:
    """The weakest confidence a row rests on, on a day: its own tag, the statements it cites, the table's
    readings in force that cover it, and the amount its fee refers to."""
    levels: list[Confidence | None] = [of_item(book, row.confidence, row.cite)]
    for reading in book.tables[table_id].readings:
        if reading.in_force(on) and (not reading.rows or row.id in reading.rows):
            levels.append(of_item(book, reading.confidence, reading.cite))
    levels += _fee_levels(book, row, on)
    return weakest(levels)


def row_periods(book: RuleBook, table_id: str, row: Row) -> list[tuple[date, date | None, Confidence]]:
    """A row's validity split where the confidence of what it rests on changes (readings, parameter values)."""
    edges = {row.valid_from}
    dated: list[Any] = list(book.tables[table_id].readings)
    if isinstance(row.fee, FeeRef) and row.fee.param:
        dated += book.parameters[row.fee.param].values
    if isinstance(row.fee, FeeRef) and row.fee.table:
        dated += book.tables[row.fee.table].readings
    for item in dated:
        edges.add(item.valid_from)
        if item.valid_to is not None:
            edges.add(date.fromordinal(item.valid_to.toordinal() + 1))
    starts = sorted(d for d in edges if row.in_force(d))
    out: list[tuple[date, date | None, Confidence]] = []
    for i, start in enumerate(starts):
        end = date.fromordinal(starts[i + 1].toordinal() - 1) if i + 1 < len(starts) else row.valid_to
        level = row_level(book, table_id, row, start)
        if out and out[-1][2] == level:
            out[-1] = (out[-1][0], end, level)
        else:
            out.append((start, end, level))
    return out


def row_weakest(book: RuleBook, table_id: str, row: Row) -> Confidence:
    """The weakest confidence a row rests on over its whole validity."""
    return weakest(level for _, _, level in row_periods(book, table_id, row))


def row_status(book: RuleBook, table_id: str, row: Row) -> str:
    """A row's status in words, per period where its confidence changes ('antagen tillämpning 2024-04-01 –
    2025-11-26; beslutad 2025-11-27 – 2027-11-27'); a proposal or alternative by its id."""
    if row.status != "decided" or row.undetermined:
        base = status_word(row.status, proposal_name(book, row.proposal) if row.proposal else None, "verified")
        return "regeln avgör inte avgiften" if row.undetermined and row.status == "decided" else base
    periods = row_periods(book, table_id, row)
    if len(periods) == 1:
        return status_word(row.status, row.proposal, periods[0][2])
    return "; ".join(f"{status_word(row.status, row.proposal, lvl)} {validity_text(a, b)}" for a, b, lvl in periods)


def status_summary(book: RuleBook, table_id: str, rows: Sequence[Row] | None = None) -> str:
    """One or two sentences on what a rule table's rows are: decided and verified, resting on derived,
    inferred or unverified values (by row number), proposals or alternatives – computed from the data."""
    table_rows = book.rows(table_id)
    chosen = list(rows) if rows is not None else table_rows
    number = {id(r): n for n, r in enumerate(table_rows, 1)}
    groups: dict[str, list[int]] = {}
    for row in chosen:
        n = number[id(row)]
        if row.status != "decided":
            groups.setdefault(row.status, []).append(n)
        elif row.undetermined:
            groups.setdefault("undetermined", []).append(n)
        else:
            groups.setdefault(row_weakest(book, table_id, row), []).append(n)
    total = len(chosen)
    plain = groups.get("verified", [])
    parts = []
    if plain:
        every = "alla" if len(plain) == total else f"{len(plain)} av de {total}"
        parts.append(f"{every} raderna är beslutade och belagda i källorna")
    words = {
        "derived": "vilar på härledda belopp",
        "inferred": "vilar helt eller delvis på antaganden (antagen tillämpning)",
        "unverified": "vilar på belopp som inte är belagda för hela perioden",
        "undetermined": "avgör inte avgiften utan redovisar kontakten som ej avgjord",
        "proposed": "är förslag som inte är beslutade",
        "alternative": "är alternativ som bara används när en beräkning ber om dem",
    }
    for key, text in words.items():
        if key in groups:
            ns = groups[key]
            parts.append(f"{_row_numbers(ns)} {text}")
    first, *rest = parts
    sentence = first[0].upper() + first[1:]
    if rest:
        sentence += "; " + "; ".join(rest)
    return sentence + ". Kolumnen Status visar vad som gäller för varje rad."


def _row_numbers(numbers: Sequence[int]) -> str:
    words = [str(n) for n in numbers]
    joined = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " och " + words[-1]
    return f"rad {joined}"


def rule_rows(book: RuleBook, table_id: str, on: date | None = None, *, proposals: bool = True) -> list[Row]:
    """A rule table's rows, optionally only those in force on a day, optionally without proposals."""
    rows = book.rows(table_id)
    if on is not None:
        rows = [r for r in rows if r.in_force(on)]
    if not proposals:
        rows = [r for r in rows if r.status == "decided"]
    return rows


def condition_text(book: RuleBook, table_id: str, row: Row) -> str:
    """A row's condition in Swedish."""
    if row.when is None:
        return "alltid"
    return book.when(table_id, row).swedish(book.definitions)


def rule_table(
    book: RuleBook,
    table_id: str,
    on: date | None = None,
    *,
    proposals: bool = True,
    ids: Iterable[str] | None = None,
) -> Table:
    """A rule table as the engine reads it: order, condition, conclusion, validity, status, citation."""
    wanted = set(ids) if ids is not None else None
    out: list[list[Cell]] = []
    for n, row in enumerate(book.rows(table_id), 1):
        if row not in rule_rows(book, table_id, on, proposals=proposals):
            continue
        if wanted is not None and row.id not in wanted:
            continue
        conclusion = []
        if row.qualified is not None:
            conclusion.append("kvalificerad" if row.qualified else "ej kvalificerad")
        if row.registration:
            conclusion.append(f"registreras {row.registration}")
        if row.category:
            conclusion.append(f"kategori: {row.category.label}")
        out.append(
            [
                n,
                row.label or row.id,
                condition_list(book, table_id, row),
                _fee_cell(book, row, table_id, on),
                ", ".join(conclusion) or "–",
                validity_text(row.valid_from, row.valid_to),
                row_status(book, table_id, row),
                cite_cell(book, row.cite),
            ]
        )
    cols = ["Ordning", "Regel", "Villkor", "Avgift", "Slutsats", "Giltighet", "Status", "Källor"]
    return Table(cols, out)


def source_columns_table(book: RuleBook, table_id: str, on: date | None = None) -> Table:
    """A rule table with the same columns as its source document (e.g. VGR's registration table).

    Rows without their own source columns (the routine's other comments) are left out; fee and
    contact points come from the rule data, not from the column text.
    """
    table = book.tables[table_id]
    names = list(table.columns)
    out: list[list[Cell]] = []
    for row in rule_rows(book, table_id, on, proposals=False):
        if not row.columns:
            continue
        cells: list[Cell] = []
        for name in names:
            if name == "fee":
                cells.append(_fee_cell(book, row, table_id, on))
            elif name == "contact_points":
                extra = "".join(
                    f" (+{_points_cell(book, p.points, on)} {p.text or ''})".rstrip() for p in row.points_extra
                )
                cells.append(_points_cell(book, row.contact_points, on) + extra)
            else:
                cells.append(row.columns.get(name, "–"))
        out.append(cells)
    return Table([table.columns[n] for n in names], out)


def parameter_table(book: RuleBook, param_id: str) -> Table:
    """A parameter's dated values (amount, validity, status, citation)."""
    param = book.parameters[param_id]
    rows: list[list[Cell]] = []
    for v in param.values:
        level = of_item(book, v.confidence, v.cite)
        rows.append(
            [
                param.label,
                marked(f"{sv_number(v.amount)} kr", level),
                validity_text(v.valid_from, param.last_day(v)),
                status_word(v.status, proposal_name(book, v.proposal) if v.proposal else None, level),
                cite_cell(book, v.cite),
            ]
        )
    if not rows:
        rows.append([param.label, "inget belopp i källan", "–", "–", param.note or "–"])
    return Table(["Avgift", "Belopp", "Giltighet", "Status", "Källor"], rows)


def exemption_table(book: RuleBook, regions: Iterable[Region]) -> Table:
    """Age exemptions: the national 85+ rule and each region's own."""
    rows: list[list[Cell]] = []
    assert book.national is not None
    for e in book.national.exemptions:
        rows.append(
            [
                "Hela landet",
                _age_text(e.free_under_age, e.free_from_age),
                validity_text(e.valid_from, e.valid_to),
                cite_cell(book, e.cite),
            ]
        )
    for region in regions:
        for e in book.regions[region].exemptions:
            rows.append(
                [
                    region.label,
                    _age_text(e.free_under_age, e.free_from_age),
                    validity_text(e.valid_from, e.valid_to),
                    cite_cell(book, e.cite),
                ]
            )
    return Table(["Gäller", "Avgiftsfritt", "Giltighet", "Källor"], rows)


def _age_text(under: int | None, from_age: int | None) -> str:
    return f"under {under} år" if under is not None else f"från {from_age} år"


def covered_regions(book: RuleBook) -> list[Region]:
    """The regions whose own fee rules are in the data, in the order of the source register."""
    return list(book.contacts_table)


# --------------------------------------------------------------------------- the ceiling


def ceiling_table(book: RuleBook, years: Iterable[int] | None = None) -> Table:
    """The high-cost ceiling per year: prisbasbelopp, the computed ceiling and its source."""
    assert book.national is not None
    ceiling = book.national.ceiling
    rows: list[list[Cell]] = []
    for pbb in sorted(ceiling.prisbasbelopp, key=lambda p: p.year):
        if years is not None and pbb.year not in set(years):
            continue
        amount = book.ceiling(Region.stockholm, date(pbb.year, 12, 31))
        rows.append(
            [
                str(pbb.year),
                marked(f"{sv_number(pbb.amount)} kr", of_item(book, pbb.confidence, pbb.cite)),
                marked(f"{sv_number(amount.amount)} kr", amount.confidence) if amount else "–",
                cite_cell(book, amount.cite if amount else pbb.cite),
            ]
        )
    return Table(["År", "Prisbasbelopp", "Högkostnadstak", "Källor"], rows)


def ceiling_levels(book: RuleBook) -> dict[int, Confidence]:
    """The confidence of the national ceiling amount per year (documented by a source, or derived)."""
    assert book.national is not None
    out: dict[int, Confidence] = {}
    for pbb in book.national.ceiling.prisbasbelopp:
        amount = book.ceiling(Region.stockholm, date(pbb.year, 12, 31))
        if amount:
            out[pbb.year] = amount.confidence
    return out


def ceiling_series(book: RuleBook) -> list[tuple[int, int]]:
    """(year, ceiling) for every year the data has a prisbasbelopp for, on 31 December."""
    assert book.national is not None
    out = []
    for pbb in sorted(book.national.ceiling.prisbasbelopp, key=lambda p: p.year):
        amount = book.ceiling(Region.stockholm, date(pbb.year, 12, 31))
        if amount:
            out.append((pbb.year, amount.amount))
    return out


def regional_ceiling_table(book: RuleBook) -> Table:
    """Periods when a region's ceiling differed from the national one (a later change date)."""
    assert book.national is not None
    rows: list[list[Cell]] = [
        [
            r.region.label,
            marked(f"{sv_number(r.amount)} kr", of_item(book, r.confidence, r.cite)),
            validity_text(r.valid_from, r.valid_to),
            r.note or "–",
            cite_cell(book, r.cite),
        ]
        for r in book.national.ceiling.regional
    ]
    return Table(["Region", "Tak", "Giltighet", "Anmärkning", "Källor"], rows)


# --------------------------------------------------------------------------- pricing situations


def make_case(
    region: Region | str,
    contacts: Sequence[Mapping[str, Any]],
    *,
    age: int = 45,
    service: str | None = None,
    proposals: str | list[str] = "none",
    case_id: str = "exempel",
    **patient: Any,
) -> Case:
    """A case built in code (for examples and comparisons), validated like a case file."""
    data: dict[str, Any] = {
        "id": case_id,
        "region": str(region),
        "patient": {"age": age, **patient},
        "contacts": [dict(c) for c in contacts],
        "proposals": proposals,
    }
    if service:
        data["service"] = service
    return Case.model_validate(data)


def price(book: RuleBook, case: Case) -> tuple[list[Outcome], Totals]:
    """Price a case built with `make_case`."""
    return price_case(book, case)


def price_one(book: RuleBook, region: Region | str, contact: Mapping[str, Any], **case: Any) -> Outcome:
    """The outcome of one contact on its own (no earlier payments in the period); `case` takes the
    keywords of `make_case` (age, service, proposals …). The chapters' examples use this."""
    (outcome,), _ = price_case(book, make_case(region, [contact], **case))
    return outcome


def fee_cell(outcome: Outcome, *, list_fee: bool = False) -> str:
    """A fee for a table: the amount with its confidence mark, or 'ej avgjort' with the missing facts.

    With `list_fee`, the fee before exemptions and the ceiling (avgift enligt taxa)."""
    amount = outcome.list_fee if list_fee else outcome.fee
    if amount is None:
        missing = f" (saknas: {', '.join(FACT_TERMS.get(k, k) for k in outcome.missing)})" if outcome.missing else ""
        return "ej avgjort" + missing
    return marked(kronor(amount), outcome.confidence)


def total_cell(amount: int | None, outcomes: Iterable[Outcome]) -> str:
    """A sum of fees with the weakest mark of the outcomes it adds up."""
    if amount is None:
        return "ej avgjort"
    return marked(kronor(amount), weakest(o.confidence for o in outcomes if o.fee is not None))


# --------------------------------------------------------------------------- case corpus


def case_region(result: CaseResult) -> str:
    """The care region of a case (or 'ogiltigt' for an invalid-input case)."""
    case = result.entry.case
    return case.region.label if case else "ogiltigt fall"


def corpus_table(results: Sequence[CaseResult]) -> Table:
    """One row per case: id, title, region, file, contacts, pass or fail."""
    rows: list[list[Cell]] = []
    classes = []
    for r in results:
        case = r.entry.case
        title = case.title if case and case.title else ("ogiltig indata" if case is None else "–")
        n = len(case.contacts) if case else "–"
        rows.append(
            [r.entry.id, title, case_region(r), relative(r.entry.path), n, "godkänt" if r.passed else "UNDERKÄNT"]
        )
        classes.append("pa-pass" if r.passed else "pa-fail")
    return Table(["Fall", "Titel", "Region", "Fil", "Kontakter", "Resultat"], rows, row_classes=classes)


def _facts_text(contact: Any) -> str:
    parts = []
    for key in FACT_TYPES:
        if key == "date":
            continue
        value = getattr(contact, key, None)
        if value is None or (
            value is False and key in {"changed_character", "via_proxy", "referral", "neuro_team", "aid_prescription"}
        ):
            continue
        parts.append(f"{FACT_TERMS.get(key, key)}: {_value_text(value)}")
    if contact.programme is not None:
        prog = contact.programme.model_dump(exclude_none=True)
        parts += [f"{FACT_TERMS.get('programme.' + k, k)}: {_value_text(v)}" for k, v in prog.items()]
    return "; ".join(parts)


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, Term):
        return value.label
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


KRONOR_KEYS = {"fee", "list_fee", "paid", "ceiling"}


def _expected_value(key: str, value: Any) -> str:
    if key in KRONOR_KEYS and isinstance(value, int | Decimal | float):
        return kronor(int(value))
    if key == "confidence" and value in SV:
        return str(SV[value])
    if key == "contact_points" and isinstance(value, int | Decimal | float):
        return sv_number(Decimal(str(value)).normalize())
    if key == "undetermined" and isinstance(value, list):
        return "ja, saknas: " + ", ".join(FACT_TERMS.get(str(v), str(v)) for v in value)
    return reader_text(_value_text(value))


def expect_text(expect: Any) -> str:
    """What a case expects of a contact, in Swedish words: 'avgift 160 kr; registrering BR+ZV051'."""
    if expect is None:
        return "–"
    data = expect.model_dump(exclude_none=True)
    words = {**{k: v[0] for k, v in OUTCOME_TERMS.items()}, "warning": "varning", "confidence": "säkerhet"}
    return "; ".join(f"{words.get(k, k)} {_expected_value(k, v)}" for k, v in data.items()) or "–"


def outcome_text(outcome: Outcome) -> str:
    """The engine's outcome for one contact, on one line."""
    return "; ".join(f"{label}: {value}" for label, value in outcome_summary(outcome))


def case_contacts_table(result: CaseResult) -> Table:
    """A case's contacts: facts, what the case expects, and what the engine concluded."""
    case = result.entry.case
    assert case is not None
    rows: list[list[Cell]] = []
    for i, (contact, outcome) in enumerate(zip(case.contacts, result.outcomes, strict=True), 1):
        rows.append([i, str(contact.date), _facts_text(contact), expect_text(contact.expect), outcome_text(outcome)])
    return Table(["Nr", "Datum", "Fakta", "Förväntat", "Motorns utfall"], rows)


def trace_html(outcome: Outcome) -> str:
    """The chain of rules behind one outcome as an ordered HTML list with citations."""
    items = []
    book = rules()
    for step in outcome.trace:
        cite = f'<br><span class="pa-cite">Källa: {cite_html(book, step.cite)}</span>' if step.cite else ""
        sure = ""
        if step.confidence not in (None, "verified"):
            assert step.confidence is not None
            note = f": {step.note}" if step.note else ""
            sure = f'<br><span class="pa-note">Säkerhet: {html.escape(reader_text(SV[step.confidence] + note))}</span>'
        items.append(
            f'<li>{html.escape(reader_text(step.text))} <span class="pa-rule">(regel {_breakable(step.rule)})</span>'
            f"{sure}{cite}</li>"
        )
    for reason in outcome.reasons if outcome.undetermined else []:
        items.append(f"<li><strong>Ej avgjort:</strong> {_linked(book, reason)}</li>")
    for warning in outcome.warnings:
        items.append(f"<li><strong>Varning:</strong> {_linked(book, warning)}</li>")
    return f'<ol class="pa-trace">{"".join(items)}</ol>'


def _linked(book: RuleBook, text: str) -> str:
    """Engine text in Swedish, escaped, with statement ids in brackets or parentheses as links."""
    escaped = html.escape(reader_text(text))

    def link(match: re.Match[str]) -> str:
        sid = match.group(2)
        return f"{match.group(1)}{cite_link(book, sid)}{match.group(3)}" if sid in book.statements else match.group(0)

    return re.sub(r"([\[(])([\w.-]+)([\])])", link, escaped)


def case_title(result: CaseResult) -> str:
    """A case's heading: its title (its id when it has none, or when the input is invalid)."""
    case = result.entry.case
    return case.title if case is not None and case.title else result.entry.id


def case_details(results: Sequence[CaseResult]) -> Html:
    """Every case in full (facts, expectations, outcome, rule trace), each in a fold-out box."""
    blocks, plain = [], []
    for r in results:
        entry = r.entry
        status = "godkänt" if r.passed else "UNDERKÄNT"
        head = f"{case_title(r)} – {status}"
        plain.append(head)
        plain += [f"  {i}: {outcome_text(o)}" for i, o in enumerate(r.outcomes, 1)]
        parts = [
            f'<p class="pa-file">Fall <code>{html.escape(entry.id)}</code>, fil '
            f"<code>{html.escape(relative(entry.path))}</code></p>"
        ]
        case = entry.case
        if case is None:
            parts.append(f"<p>Ogiltig indata. Felmeddelande:</p><pre>{html.escape(entry.error or '')}</pre>")
        else:
            who = f"{case.patient.age} år" if case.patient.age is not None else f"född {case.patient.birth_date}"
            parts.append(
                f"<p><strong>{html.escape(case.title or case.id)}</strong><br>"
                f"Vårdregion: {html.escape(case.region.label)}; patient: {html.escape(who)}"
                + (f"; källa: {_linked(rules(), case.source)}" if case.source else "")
                + "</p>"
            )
            parts.append(case_contacts_table(r)._repr_html_())
            for i, outcome in enumerate(r.outcomes, 1):
                parts.append(f"<p>Regelkedja, kontakt {i}:</p>{trace_html(outcome)}")
            if r.totals is not None:
                t = r.totals
                parts.append(
                    f"<p>Summa betalt: {kronor(t.paid)}; högkostnadstak: {kronor(t.ceiling)}; "
                    f"frikort från: {t.frikort_from or '–'}</p>"
                )
        if r.failures:
            parts.append(
                "<p><strong>Avvikelser:</strong></p><ul>"
                + "".join(f"<li>{html.escape(reader_text(f))}</li>" for f in r.failures)
                + "</ul>"
            )
        cls = "pa-case pa-pass" if r.passed else "pa-case pa-fail"
        blocks.append(
            f'<details class="{cls}" id="fall-{html.escape(entry.id)}"><summary>{html.escape(head)}</summary>{"".join(parts)}</details>'
        )
    return Html("".join(blocks), "\n".join(plain))


def example_text(result: CaseResult) -> Html:
    """One worked example for a chapter: the case's contacts and each contact's rule chain."""
    return case_details([result])


def summary_counts(results: Sequence[CaseResult]) -> dict[str, int]:
    """Counts for the corpus: all, valid, invalid input, passed, failed."""
    return {
        "fall": len(results),
        "giltiga": sum(1 for r in results if r.entry.case is not None),
        "ogiltiga": sum(1 for r in results if r.entry.case is None),
        "godkända": sum(1 for r in results if r.passed),
        "underkända": sum(1 for r in results if not r.passed),
    }


# --------------------------------------------------------------------------- coverage and glossary


def coverage_state(c: Coverage) -> str:
    """A statement's coverage in words: täckt, bakgrund, ej modellerat (with the reason) or SAKNAR."""
    if c.not_modelled:
        return "ej modellerat: " + c.not_modelled
    if c.gap:
        return "SAKNAR " + c.gap
    return "bakgrund" if not c.must_cover else "täckt"


def coverage_table(book: RuleBook, results: Sequence[CaseResult], *, anchors: bool = False) -> Table:
    """Every statement with its tag, the rules and cases citing it; gaps are marked.

    With `anchors`, each statement's id is the target that citations elsewhere in the book link to."""
    rows: list[list[Cell]] = []
    classes = []
    for c in coverage(book, [r.entry for r in results]):
        doc = book.documents[c.document]
        rows.append(
            [
                doc.issuer,
                c.section,
                c.text,
                statement_tag(book, c.statement),
                Html(f'<span id="{statement_anchor(c.statement)}">{_breakable(c.statement)}</span>', c.statement)
                if anchors
                else c.statement,
                ", ".join(c.rules) or "–",
                len(c.cases),
                coverage_state(c),
            ]
        )
        classes.append("pa-gap" if c.gap else "")
    return Table(
        ["Källa", "Avsnitt", "Påstående", "Säkerhet", "Id", "Regler", "Fall", "Täckning"], rows, row_classes=classes
    )


def coverage_by_document(book: RuleBook, results: Sequence[CaseResult]) -> Table:
    """Per source document: statements, how many are encoded (a rule and a case), background, not modelled
    (each with its reason in the register) and missing."""
    counts: dict[str, dict[str, int]] = {
        d: dict.fromkeys(("all", "covered", "background", "not", "gap"), 0) for d in book.documents
    }
    for c in coverage(book, [r.entry for r in results]):
        n = counts[c.document]
        n["all"] += 1
        key = "not" if c.not_modelled else "gap" if c.gap else "background" if not c.must_cover else "covered"
        n[key] += 1
    rows: list[list[Cell]] = [
        [book.documents[d].issuer, book.documents[d].title, n["all"], n["covered"], n["background"], n["not"], n["gap"]]
        for d, n in counts.items()
    ]
    total = [sum(v for r in rows if isinstance(v := r[i], int)) for i in range(2, 7)]
    rows.append(["Totalt", "", *total])
    return Table(
        ["Källa", "Titel", "Påståenden", "Kodade (regel och fall)", "Bakgrund", "Ej modellerade", "Saknas"], rows
    )


def _meaning(key: str) -> str:
    kind = FACT_TYPES.get(key)
    if kind is bool:
        return "ja eller nej"
    if isinstance(kind, type) and issubclass(kind, Term):
        return "ett av: " + ", ".join(f"{m.value} ({m.label})" for m in kind)
    return {
        "date": "datum, ÅÅÅÅ-MM-DD",
        "kva_codes": "lista med KVÅ-koder, till exempel ZV051",
        "programme": "uppgifter om programmet (se programme.*)",
        "age": "ålder i hela år",
        "birth_date": "datum, ÅÅÅÅ-MM-DD; åldern räknas då per kontakt",
        "home_region": "en region (se region)",
        "frikort": "ja eller nej",
    }.get(key, "–")


def glossary() -> Table:
    """The vocabulary of the case contract: facts, outcomes and values, with Swedish term and meaning."""
    from . import model

    rows: list[list[Cell]] = []
    for key, term in FACT_TERMS.items():
        rows.append([term, key, "uppgift", _meaning(key)])
    for key, (term, meaning) in model.OUTCOME_TERMS.items():
        rows.append([term, key, "utfall", meaning])
    for name in dir(model):
        enum = getattr(model, name)
        if isinstance(enum, type) and issubclass(enum, Term) and enum is not Term:
            for member in enum:
                rows.append([member.label, member.value, "värde", f"ett värde för {_enum_sv(enum.__name__)}"])
    rows.sort(key=lambda r: (str(r[0]).casefold(), str(r[1])))
    return Table(["Svensk term", "Kodnamn", "Slag", "Betydelse"], rows)


def _enum_sv(name: str) -> str:
    return {
        "Region": "region",
        "Service": "vårdtjänst",
        "Mode": "kontaktform",
        "InitiatedBy": "påbörjad av",
        "Purpose": "syfte",
        "VisitForm": "besöksform",
        "Staff": "personal",
        "Profession": "yrkeskategori",
        "ProgrammeKind": "programkategori",
        "ProgrammeEvent": "programhändelse",
    }.get(name, name)


def review_table(book: RuleBook, today: date) -> Table:
    """Every rule file with its last review, reviewer and next review; due ones marked *att granska*."""
    rows: list[list[Cell]] = []
    for path, reviewed in sorted(book.reviews.items()):
        due = reviewed.review_due()
        name = path.relative_to(book.root).as_posix() if path.is_relative_to(book.root) else str(path)
        rows.append(
            [
                f"`{name}`",
                str(reviewed.last_reviewed),
                reviewed.reviewer,
                str(due),
                "att granska" if due <= today else "–",
            ]
        )
    return Table(["Fil", "Senast granskad", "Granskare", "Nästa granskning", f"Läge den {today}"], rows)


def change_dates(book: RuleBook, after: date) -> list[date]:
    """Every day after `after` on which a rule row, a parameter value or a reading begins, the day
    after one ends, and the next 1 January (the ceiling's year): the days a table of fees can change
    (decided values and proposals alike)."""
    days: set[date] = set()
    for table in book.tables.values():
        dated: list[Any] = [*table.rows, *table.readings]
        for param in table.parameters:
            dated += param.values
        for item in dated:
            days.add(item.valid_from)
            if item.valid_to is not None:
                days.add(date.fromordinal(item.valid_to.toordinal() + 1))
    days.add(date(after.year + 1, 1, 1))  # (a new year: a new ceiling, or none in the data yet)
    return sorted(d for d in days if d > after)


def changelog(book: RuleBook) -> Table:
    """What changed when: every dated value of the rule data in date order, with its status, its
    confidence and its citation (the handbook's change log, generated, never typed)."""
    events: list[tuple[date, str, str, str, Html]] = []

    def add(day: date, what: str, status: str, level: Confidence, cite: Iterable[str]) -> None:
        events.append((day, reader_text(what), status, SV[level], cite_cell(book, cite)))

    def add_item(day: date, what: str, item: Any, status: str | None = None) -> None:
        """A dated item of the rule data: its status (a proposal by name) and confidence."""
        if status is None:
            status = STATUS_SV[item.status] + (f": {proposal_name(book, item.proposal)}" if item.proposal else "")
        add(day, what, status, of_item(book, item.confidence, item.cite), item.cite)

    for table in book.tables.values():
        for param in table.parameters:
            unit = " kr" if param.unit == "kr" else " kontaktpoäng"
            for value in param.values:
                add_item(value.valid_from, f"{param.label}: {sv_number(value.amount)}{unit}", value)
        for row in table.rows:
            name = f"{row.label or row.id} ({table.title})"
            add_item(row.valid_from, f"Regeln börjar gälla: {name}", row)
            if row.valid_to is not None:
                add_item(row.valid_to + timedelta(days=1), f"Regeln upphör efter {row.valid_to}: {name}", row)
        for reading in table.readings:
            add_item(reading.valid_from, f"Läsning: {reading.text}", reading, "läsning")
    for region in book.regions.values():
        for ex in region.exemptions:
            add_item(ex.valid_from, f"{region.title}: {ex.text or ex.id}", ex)
    if book.national is not None:
        for ex in book.national.exemptions:
            add_item(ex.valid_from, f"Hela landet: {ex.text or ex.id}", ex)
        for own in book.national.ceiling.regional:
            add_item(own.valid_from, f"{own.region.label}: eget högkostnadstak {sv_number(own.amount)} kr", own)
        # The formula's amount: asked of a region that has no ceiling of its own in the data.
        with_own = {own.region for own in book.national.ceiling.regional}
        plain = next(r for r in Region if r not in with_own)
        for pbb in book.national.ceiling.prisbasbelopp:
            ceiling = book.ceiling(plain, date(pbb.year, 12, 31))
            if ceiling is not None:
                add(
                    date(pbb.year, 1, 1),
                    f"Högkostnadstaket {pbb.year} enligt lagens formel: {sv_number(ceiling.amount)} kr",
                    "beslutad",
                    ceiling.confidence,
                    ceiling.cite,
                )
    events.sort(key=lambda e: (e[0], e[1]))
    return Table(["Datum", "Ändring", "Status", "Säkerhet", "Källor"], [[str(e[0]), *e[1:]] for e in events])


# --------------------------------------------------------------------------- Swedish for the reader

SOURCES_PAGE = "../book/10-kalltackning.html"
"""The sources chapter, relative to any page of the book (chapters in book/, analyses in notebooks/)."""

_FACT_WITH_TERM = re.compile(r"\b([a-z_]+(?:\.[a-z_]+)?) \(([^()]+)\)")
_LEVEL_WORD = re.compile(r"\b(" + "|".join(ORDER) + r")\b")


def reader_text(text: str) -> str:
    """Text from the rule data or the engine as the book shows it: Swedish words only.

    Fact keys written with their term (`booked (bokad …)`) become the term, coded values of a care
    service become its name, the reference material is named in Swedish instead of by its id, and the
    confidence levels are given their Swedish words."""

    def term(match: re.Match[str]) -> str:
        key, words = match.group(1), match.group(2)
        return words if FACT_TERMS.get(key) == words else match.group(0)

    text = _FACT_WITH_TERM.sub(term, text)
    for service in Service:
        text = re.sub(rf"(?<![\w.-]){re.escape(service.value)}(?![\w-])", service.label, text)
    for key, words in FACT_TERMS.items():
        text = re.sub(rf"\bange {re.escape(key)}\b", f"ange {words}", text)
    text = re.sub(r"\s*\([^()]*\.md\)", "", text)
    text = re.sub(r"\bfacts §", "referensunderlaget §", text)
    return _LEVEL_WORD.sub(lambda m: SV[m.group(1)], text)  # type: ignore[index]


def statement_anchor(statement_id: str) -> str:
    """The anchor of a statement in the sources chapter."""
    return "kalla-" + statement_id


def _breakable(text: str) -> str:
    """Escaped text that may wrap after each dot and hyphen (long statement ids in narrow columns)."""
    return html.escape(text).replace(".", ".<wbr>").replace("-", "-<wbr>")


def cite_link(book: RuleBook, statement_id: str, label: str | None = None) -> str:
    """A link to a statement in the sources chapter, titled with its document and section."""
    found = book.statements.get(statement_id)
    title = f"{found[0].label()}, {found[1].section}" if found else statement_id
    return (
        f'<a class="pa-cite-link" href="{SOURCES_PAGE}#{statement_anchor(statement_id)}" '
        f'title="{html.escape(reader_text(title))}">{_breakable(label or statement_id)}</a>'
    )


def cite_cell(book: RuleBook, ids: Iterable[str]) -> Html:
    """A table cell with citations: every statement id a link to the sources chapter."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return Html("–", "–")
    return Html(", ".join(cite_link(book, sid) for sid in ids), ", ".join(ids))


def cite_html(book: RuleBook, cite: str) -> str:
    """A rendered citation (document: section [id]) as HTML with every [id] a link to the sources chapter."""
    escaped = html.escape(reader_text(cite_with_tags(book, cite)))

    def link(match: re.Match[str]) -> str:
        sid, rest = match.group(1), match.group(2) or ""
        return f"[{cite_link(book, sid)}{rest}]" if sid in book.statements else match.group(0)

    return re.sub(r"\[([\w.-]+)((?:, [^\]]+)?)\]", link, escaped)


def proposal_name(book: RuleBook, proposal: str) -> str:
    """A proposal's or alternative's name in Swedish: the label of the first rule row or amount that carries it."""
    for table in book.tables.values():
        for row in table.rows:
            if row.proposal == proposal and row.label:
                return row.label
        for param in table.parameters:
            if any(v.proposal == proposal for v in param.values):
                return param.label
    return proposal


# --------------------------------------------------------------------------- conditions as lists


def _leaf_text(cond: Condition, defs: Mapping[str, Condition]) -> str | None:
    """A condition that reads as one line, or None when it needs a list."""
    if isinstance(cond, Equals | Given):
        return cond.swedish(defs)
    if isinstance(cond, Not):
        inner = cond.part
        while isinstance(inner, Ref):
            inner = defs[inner.name]
        if isinstance(inner, Equals):
            shown = " eller ".join(v.split(": ", 1)[1] for v in [inner.swedish(defs)])
            return f"{FACT_TERMS.get(inner.key, inner.key)}: inte {shown}"
        if isinstance(inner, Given):
            return f"{FACT_TERMS.get(inner.key, inner.key)} är inte angiven"
    return None


def _parts(cond: Condition, defs: Mapping[str, Condition], kind: type[All] | type[Any_]) -> list[Condition]:
    """The parts of an `all` (or `any`) condition, with references resolved and nested groups of the same kind merged."""
    while isinstance(cond, Ref):
        cond = defs[cond.name]
    if isinstance(cond, kind):
        return [p for part in cond.parts for p in _parts(part, defs, kind)]
    return [cond]


def _node(cond: Condition, defs: Mapping[str, Condition]) -> tuple[str, list[Any]]:
    """('text', []) for a line, ('alla av:' | 'någon av:' | 'inte detta:', children) for a list."""
    while isinstance(cond, Ref):
        cond = defs[cond.name]
    leaf = _leaf_text(cond, defs)
    if leaf is not None:
        return leaf, []
    if isinstance(cond, All):
        parts = _parts(cond, defs, All)
        if not parts:
            return "alltid", []
        if len(parts) == 1:
            return _node(parts[0], defs)
        return "alla av:", [_node(p, defs) for p in parts]
    if isinstance(cond, Any_):
        return "någon av:", [_node(p, defs) for p in _parts(cond, defs, Any_)]
    if isinstance(cond, Not):
        return "inte detta:", [_node(cond.part, defs)]
    return cond.swedish(defs), []


def _node_html(node: tuple[str, list[Any]]) -> str:
    text, children = node
    if not children:
        return html.escape(text)
    items = "".join(f"<li>{_node_html(child)}</li>" for child in children)
    return f'{html.escape(text)}<ul class="pa-cond">{items}</ul>'


def _node_plain(node: tuple[str, list[Any]], top: bool = True) -> str:
    text, children = node
    if not children:
        return text
    inner = "; ".join(_node_plain(child, False) for child in children)
    return f"{text} {inner}" if top else f"{text} {inner.replace('; ', ', ')}"


def condition_words(cond: Condition, defs: Mapping[str, Condition]) -> str:
    """A condition on one line, as a list in words: 'alla av: kontaktform: telefon; bokad: ja'."""
    return _node_plain(_node(cond, defs))


def condition_list(book: RuleBook, table_id: str, row: Row) -> Html:
    """A row's condition as a Swedish list (alla av / någon av), with a one-line version for text."""
    if row.when is None:
        return Html("alltid", "alltid")
    node = _node(book.when(table_id, row), book.definitions)
    return Html(_node_html(node), _node_plain(node))


def definition_list(book: RuleBook, name: str) -> Html:
    """A named definition of the rule data (e.g. vgr.qualifies) as a Swedish list."""
    node = _node(book.definitions[name], book.definitions)
    return Html(_node_html(node), _node_plain(node))


def compact_rule_table(table: Table) -> Table:
    """A rule table narrow enough for the page: the fee (with the conclusion) right after the rule's name,
    the status only when the rows differ."""
    cols = list(table.columns)
    status = {_cell(v) for v in table.column("Status")}
    out: list[list[Cell]] = []
    for row in table.rows:
        cells = dict(zip(cols, row, strict=True))
        fee = cells["Avgift"] if cells["Slutsats"] == "–" else f"{_cell(cells['Avgift'])}; {_cell(cells['Slutsats'])}"
        new = [cells["Ordning"], cells["Regel"], fee, cells["Villkor"], cells["Giltighet"], cells["Källor"]]
        if len(status) > 1:
            new.insert(5, cells["Status"])
        out.append(new)
    head = ["Nr", "Regel", "Avgift och slutsats", "Villkor", "Giltighet", "Källor"]
    if len(status) > 1:
        head.insert(5, "Status")
    return Table(head, out, caption=table.caption)


# --------------------------------------------------------------------------- fees at a glance


def _glance_amount(
    book: RuleBook, fee: Any, on: date | None
) -> list[tuple[int | Decimal, date, date | None, list[str], Any]]:
    """(amount, from, to, cite, value) for a fee: a literal, or every value of its parameter (on a day, or all)."""
    if isinstance(fee, int | Decimal):
        return [(fee, date.min, None, [], None)]
    param = book.parameters[fee.param]
    return [
        (v.amount, v.valid_from, param.last_day(v), list(v.cite), v)
        for v in param.decided()
        if on is None or param.holds(v, on)
    ]


def fees_at_a_glance(book: RuleBook, region: Region, on: date | None = None) -> Table:
    """The region's fees at a glance: care type or contact form, fee, since when, and the decision behind it.

    Computed from the decided rule rows of the region (on a day, or over every period when `on` is None);
    a fee looked up in a table (Skåne's visit fees) gives one line per row of that table. Free kinds of
    contact with the same period are listed together, and so are the contacts the rules leave
    undetermined. A fee that rests on anything weaker than a source stating it carries its confidence mark."""
    table_id = book.contacts_table[region]
    lines: list[tuple[date, str, Cell, date, date | None, list[str]]] = []
    free: dict[tuple[date, date | None], tuple[list[str], list[str]]] = {}
    open_: dict[tuple[date, date | None], tuple[list[str], list[str]]] = {}
    by_table: dict[tuple[str, str, date, date | None], tuple[list[str], list[str]]] = {}

    def period(start: date, end: date | None, row: Row) -> tuple[date, date | None]:
        first = max(start, row.valid_from)
        ends = [d for d in (end, row.valid_to) if d is not None]
        return first, min(ends) if ends else None

    for row in rule_rows(book, table_id, on, proposals=False):
        if row.undetermined:
            item = open_.setdefault((row.valid_from, row.valid_to), ([], []))
            item[0].append(row.label or row.id)
            item[1].extend(row.cite)
            continue
        fee = row.fee
        if fee is None:
            continue
        if isinstance(fee, FeeRef) and fee.table is not None:
            for sub in rule_rows(book, fee.table, on, proposals=False):
                if sub.undetermined or sub.fee is None or (isinstance(sub.fee, FeeRef) and sub.fee.table):
                    continue
                for amount, start, end, cite, _ in _glance_amount(book, sub.fee, on):
                    first, last = period(start, end, row)
                    first, last = period(first, last, sub)
                    level = row_level(book, fee.table, sub, on or first)
                    text = marked(
                        f"{sv_number(amount)} kr", weakest([level, row_level(book, table_id, row, on or first)])
                    )
                    looked_up = by_table.setdefault((sub.label or sub.id, text, first, last), ([], []))
                    looked_up[0].append(row.label or row.id)
                    looked_up[1].extend([*row.cite, *sub.cite, *cite])
            continue
        for amount, start, end, cite, _ in _glance_amount(book, fee, on):
            first, last = period(start, end, row)
            if last is not None and last < first:
                continue
            if amount == 0:
                item = free.setdefault((first, last), ([], []))
                item[0].append(row.label or row.id)
                item[1].extend([*row.cite, *cite])
                continue
            text = marked(f"{sv_number(amount)} kr", row_level(book, table_id, row, on or first))
            lines.append((first, row.label or row.id, text, first, last, [*row.cite, *cite]))
    for (sub_label, text, first, last), (labels, cite) in by_table.items():
        kinds = " eller ".join(label[:1].lower() + label[1:] for label in labels)
        lines.append((first, f"{sub_label} ({kinds})", text, first, last, cite))
    for (first, last), (labels, cite) in free.items():
        lines.append((first, "Avgiftsfritt: " + "; ".join(labels), "0 kr", first, last, cite))
    for (first, last), (labels, cite) in open_.items():
        lines.append((first, "Avgörs inte av reglerna: " + "; ".join(labels), "ej avgjort", first, last, cite))
    lines.sort(key=lambda line: (line[2] == "ej avgjort", line[1].startswith("Avgiftsfritt: "), line[0]))
    rows: list[list[Cell]] = [
        [label, fee, validity_text(first, last), cite_cell(book, cite)] for _, label, fee, first, last, cite in lines
    ]
    when = f" den {on}" if on else ""
    return Table(
        ["Vårdform och kontaktform", "Avgift", "Gäller", "Beslut och källa"],
        rows,
        caption=f"{region.label}: avgifterna i korthet{when}",
    )


def glance_levels(table: Table) -> list[Confidence]:
    """The confidence levels marked in a fees-at-a-glance table (for its legend)."""
    found: list[Confidence] = []
    for cell in table.column("Avgift"):
        for level in ORDER:
            if level != "verified" and str(cell).endswith(f"({SV[level]})"):
                found.append(level)
    return found


def document_statements(book: RuleBook, document_id: str, ids: Iterable[str]) -> Table:
    """Some statements of one source document, in the document's order, each linked to the sources chapter."""
    wanted = set(ids)
    doc = book.documents[document_id]
    return Table(
        ["Avsnitt", "Innehåll (i egna ord)", "Id"],
        [[s.section, s.text, cite_cell(book, [s.id])] for s in doc.statements if s.id in wanted],
    )
