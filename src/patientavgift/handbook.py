"""Building blocks for the handbook's chapters (handboken).

Every table, number and example in the book is computed here from the rule data and the case
corpus at build time, so that a change in a rule file shows up in the book without editing a
chapter. The objects returned display themselves in a notebook: `Table` as an HTML table (and as a
plain-text table, which the chapter tests record), `Prose` as MyST Markdown and `Html` as raw HTML.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from .cases import CaseResult, price_case, run_paths
from .coverage import coverage
from .engine import Outcome, Totals
from .explain import kronor, outcome_summary, yes_no
from .model import FACT_TERMS, FACT_TYPES, Case, Region, Term
from .rules import FeeRef, ParamRef, Row, RuleBook, load_rules, sv_number

Cell = str | int | Decimal | None

STATUS_SV = {"decided": "beslutad", "proposed": "förslag", "alternative": "alternativ"}
"""Swedish names of a rule value's status."""


# --------------------------------------------------------------------------- display objects


def _cell(value: Cell) -> str:
    if value is None:
        return "–"
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return sv_number(value)
    return str(value)


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
            cells = "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row)
            body.append(f"<tr{attr}>{cells}</tr>")
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (
            f'<div class="pa-table-wrap"><table class="dataframe pa-table">{caption}'
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
        f"Typ: {doc.kind}",
        f"Version: {doc.version or 'ej angiven'}",
        f"Giltighet: {validity_text(doc.valid_from, doc.valid_to)}",
        f"Status: {doc.status}",
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
                doc.kind,
                doc.version or "–",
                str(doc.date) if doc.date else "–",
                validity_text(doc.valid_from, doc.valid_to),
                doc.status,
                len(doc.statements),
            ]
        )
    cols = ["Utgivare", "Titel", "Typ", "Version", "Datum", "Giltighet", "Status", "Påståenden"]
    return Table(cols, rows)


def statements_table(book: RuleBook, doc_id: str, sections: Sequence[str] | None = None) -> Table:
    """A document's statements (paraphrased), optionally only some sections (by prefix)."""
    rows: list[list[Cell]] = []
    for st in book.documents[doc_id].statements:
        if sections is not None and not any(st.section.startswith(s) for s in sections):
            continue
        rows.append([st.section, st.text, st.id])
    return Table(["Avsnitt", "Innehåll (i egna ord)", "Id"], rows)


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


def _fee_cell(book: RuleBook, row: Row, on: date | None = None) -> str:
    if row.undetermined:
        return "ej avgjort"
    fee = row.fee
    if fee is None:
        return "–"
    if isinstance(fee, int | Decimal):
        return f"{sv_number(fee)} kr"
    if fee.param:
        return _param_cell(book, fee.param, " kr", on)
    assert fee.table is not None
    return f"enligt {book.tables[fee.table].title}"


def _status_cell(row: Row) -> str:
    status = STATUS_SV[row.status]
    return f"{status}: {row.proposal}" if row.proposal else status


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
                condition_text(book, table_id, row),
                _fee_cell(book, row, on),
                ", ".join(conclusion) or "–",
                validity_text(row.valid_from, row.valid_to),
                _status_cell(row),
                ", ".join(row.cite),
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
                cells.append(_fee_cell(book, row, on))
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
    rows: list[list[Cell]] = [
        [
            param.label,
            f"{sv_number(v.amount)} kr",
            validity_text(v.valid_from, param.last_day(v)),
            STATUS_SV[v.status] + (f": {v.proposal}" if v.proposal else ""),
            ", ".join(v.cite),
        ]
        for v in param.values
    ]
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
                ", ".join(e.cite),
            ]
        )
    for region in regions:
        for e in book.regions[region].exemptions:
            rows.append(
                [
                    region.label,
                    _age_text(e.free_under_age, e.free_from_age),
                    validity_text(e.valid_from, e.valid_to),
                    ", ".join(e.cite),
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
                f"{sv_number(pbb.amount)} kr",
                f"{sv_number(amount.amount)} kr" if amount else "–",
                ", ".join(pbb.cite),
            ]
        )
    return Table(["År", "Prisbasbelopp", "Högkostnadstak", "Källor"], rows)


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
            f"{sv_number(r.amount)} kr",
            validity_text(r.valid_from, r.valid_to),
            r.note or "–",
            ", ".join(r.cite),
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


def fee_cell(outcome: Outcome) -> str:
    """A fee for a table: the amount, or 'ej avgjort' with the missing facts."""
    if outcome.fee is None:
        missing = f" (saknas: {', '.join(FACT_TERMS.get(k, k) for k in outcome.missing)})" if outcome.missing else ""
        return "ej avgjort" + missing
    return kronor(outcome.fee)


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


def _expect_text(expect: Any) -> str:
    if expect is None:
        return "–"
    data = expect.model_dump(exclude_none=True)
    return "; ".join(f"{k}: {_value_text(v)}" for k, v in data.items()) or "–"


def outcome_text(outcome: Outcome) -> str:
    """The engine's outcome for one contact, on one line."""
    return "; ".join(f"{label}: {value}" for label, value in outcome_summary(outcome))


def case_contacts_table(result: CaseResult) -> Table:
    """A case's contacts: facts, what the case expects, and what the engine concluded."""
    case = result.entry.case
    assert case is not None
    rows: list[list[Cell]] = []
    for i, (contact, outcome) in enumerate(zip(case.contacts, result.outcomes, strict=True), 1):
        rows.append([i, str(contact.date), _facts_text(contact), _expect_text(contact.expect), outcome_text(outcome)])
    return Table(["Nr", "Datum", "Fakta", "Förväntat", "Motorns utfall"], rows)


def trace_html(outcome: Outcome) -> str:
    """The chain of rules behind one outcome as an ordered HTML list with citations."""
    items = []
    for step in outcome.trace:
        cite = f'<br><span class="pa-cite">Källa: {html.escape(step.cite)}</span>' if step.cite else ""
        items.append(f"<li><code>{html.escape(step.rule)}</code> {html.escape(step.text)}{cite}</li>")
    for reason in outcome.reasons if outcome.undetermined else []:
        items.append(f"<li><strong>Ej avgjort:</strong> {html.escape(reason)}</li>")
    for warning in outcome.warnings:
        items.append(f"<li><strong>Varning:</strong> {html.escape(warning)}</li>")
    return f'<ol class="pa-trace">{"".join(items)}</ol>'


def case_details(results: Sequence[CaseResult]) -> Html:
    """Every case in full (facts, expectations, outcome, rule trace), each in a fold-out box."""
    blocks, plain = [], []
    for r in results:
        entry = r.entry
        status = "godkänt" if r.passed else "UNDERKÄNT"
        head = f"{entry.id} – {status}"
        plain.append(head)
        plain += [f"  {i}: {outcome_text(o)}" for i, o in enumerate(r.outcomes, 1)]
        parts = [f'<p class="pa-file">Fil: <code>{html.escape(relative(entry.path))}</code></p>']
        case = entry.case
        if case is None:
            parts.append(f"<p>Ogiltig indata. Felmeddelande:</p><pre>{html.escape(entry.error or '')}</pre>")
        else:
            who = f"{case.patient.age} år" if case.patient.age is not None else f"född {case.patient.birth_date}"
            parts.append(
                f"<p><strong>{html.escape(case.title or case.id)}</strong><br>"
                f"Vårdregion: {html.escape(case.region.label)}; patient: {html.escape(who)}"
                + (f"; källa: {html.escape(case.source)}" if case.source else "")
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
                + "".join(f"<li>{html.escape(f)}</li>" for f in r.failures)
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


def coverage_table(book: RuleBook, results: Sequence[CaseResult]) -> Table:
    """Every statement with the rules and cases citing it; gaps are marked."""
    rows: list[list[Cell]] = []
    classes = []
    for c in coverage(book, [r.entry for r in results]):
        doc = book.documents[c.document]
        if c.not_modelled:
            state = "ej modellerat: " + c.not_modelled
        elif c.gap:
            state = "SAKNAR " + c.gap
        elif not c.must_cover:
            state = "bakgrund"
        else:
            state = "täckt"
        rows.append([doc.issuer, c.section, c.text, c.statement, ", ".join(c.rules) or "–", len(c.cases), state])
        classes.append("pa-gap" if c.gap else "")
    return Table(["Källa", "Avsnitt", "Påstående", "Id", "Regler", "Fall", "Täckning"], rows, row_classes=classes)


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
