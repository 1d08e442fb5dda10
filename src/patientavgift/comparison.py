"""The same patient situations priced in every region the rule data covers (jämförelse).

Chapter 8 of the handbook shows this comparison, and the editors' chapter shows that it follows a
change in the rule data; both take the situations and the chart from here, so there is one place
to change them. Every situation gives complete facts, so that a cell is undetermined only where a
region's rules do not decide, never because the example left something out.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from .engine import Outcome
from .explain import kronor
from .handbook import Cell, Html, Prose, Table, cite_link, covered_regions, make_case, marked, price, reader_text
from .model import Region
from .rules import RuleBook

COMMON: dict[str, Any] = {
    "staff": "licensed",
    "fee_info_given": True,
    "resolved_by_booking_or_referral": False,
    "visit_form": "individual",
    "purpose": "care",
}
"""Facts every situation shares: licensed staff, fee information given, an individual care contact
that is not settled by a booking or a referral."""

TREATMENT: dict[str, bool] = {
    "ordered_by_licensed": True,
    "therapist_support": True,
    "approved_by_region": True,
    "login_1177": True,
}
"""A treatment programme that meets every basic requirement (grundkrav) Region Skåne names."""

AGE = 45
"""An adult below every age exemption."""


@dataclass(frozen=True)
class Situation:
    """One patient situation of the comparison."""

    name: str
    description: str
    facts: Mapping[str, Any]
    programme: bool = False


SITUATIONS: list[Situation] = [
    Situation(
        "Bokad telefonkontakt med bedömning",
        "Bokat telefonsamtal med fysioterapeut, med medicinsk bedömning, som ersätter ett besök.",
        {
            "mode": "phone",
            "booked": True,
            "initiated_by": "patient",
            "realtime": True,
            "medical_assessment": True,
            "profession": "physiotherapist",
            "kva_codes": ["ZV051"],
        },
    ),
    Situation(
        "Bokad videokontakt",
        "Bokat videosamtal (ljud och bild) med fysioterapeut, enskilt, med medicinsk bedömning.",
        {
            "mode": "video",
            "booked": True,
            "initiated_by": "patient",
            "realtime": True,
            "medical_assessment": True,
            "profession": "physiotherapist",
            "kva_codes": ["ZV051"],
        },
    ),
    Situation(
        "Skriftlig kontakt med bedömning",
        "Skriftlig digital kontakt (meddelande, inte i realtid) som patienten startat och som är bokad, med medicinsk bedömning.",
        {
            "mode": "written",
            "booked": True,
            "initiated_by": "patient",
            "realtime": False,
            "medical_assessment": True,
            "profession": "physiotherapist",
            "kva_codes": ["ZV051"],
        },
    ),
    Situation(
        "Skriftlig kontakt utan bedömning",
        "Skriftlig digital kontakt som patienten startat, obokad och utan medicinsk bedömning.",
        {
            "mode": "written",
            "booked": False,
            "initiated_by": "patient",
            "realtime": False,
            "medical_assessment": False,
            "profession": "physiotherapist",
        },
    ),
    Situation(
        "Fysiskt besök",
        "Bokat besök hos fysioterapeut på mottagningen.",
        {
            "mode": "physical",
            "booked": True,
            "initiated_by": "patient",
            "medical_assessment": True,
            "profession": "physiotherapist",
        },
    ),
    Situation(
        "Första besöket i internetbehandling",
        "Första bokade besöket (bedömning) i ett behandlingsprogram, fysiskt hos psykolog.",
        {
            "mode": "physical",
            "booked": True,
            "initiated_by": "provider",
            "medical_assessment": True,
            "profession": "psychologist",
            "programme_event": "first_visit",
            "programme": TREATMENT,
        },
        programme=True,
    ),
    Situation(
        "Genomförd modul",
        "Patienten genomför en modul i behandlingsprogrammet (eget arbete i plattformen).",
        {"mode": "platform", "programme_event": "module_completed", "programme": TREATMENT},
        programme=True,
    ),
    Situation(
        "Skriftlig veckoavstämning",
        "Bokad skriftlig avstämning med behandlaren i programmet, med medicinsk bedömning.",
        {
            "mode": "written",
            "booked": True,
            "initiated_by": "provider",
            "realtime": False,
            "medical_assessment": True,
            "profession": "psychologist",
            "programme_event": "weekly_checkin",
            "programme": TREATMENT,
            "kva_codes": ["ZV051"],
        },
        programme=True,
    ),
]
"""The situations, in the order the book shows them."""

Grid = dict[tuple[int, Region], Outcome]
"""(situation index, region) → the outcome."""


def comparison_date(book: RuleBook) -> date:
    """Early March of the latest year the data has a prisbasbelopp (and so a ceiling) for."""
    assert book.national is not None
    return date(max(p.year for p in book.national.ceiling.prisbasbelopp), 3, 2)


def service_for(region: Region, programme: bool) -> str:
    """VGR's rules cover Vårdval Rehab only; elsewhere primary care, or the internet treatment team."""
    if region is Region.vgr:
        return "vardval_rehab"
    return "internet_treatment_team" if programme else "primary_care"


NO_SOURCE: dict[Region, str] = {Region.vgr: "facts.vgr-ikbt"}
"""Regions whose rule data has no source for the programme situations, with the statement that says so.

VGR's routine covers Vårdval Rehab, while the reference material places internet treatment in Vårdval
Vårdcentral and found no fee for it; pricing a programme contact with Vårdval Rehab's fees would
give an amount no source states, so those cells are left undetermined with that reason."""


def no_source_reason(book: RuleBook, region: Region) -> str:
    """Why a region's programme situations are not priced, from the source register."""
    statement = book.statements[NO_SOURCE[region]][1]
    return f"{statement.text} {statement.not_modelled or ''} ({NO_SOURCE[region]})".replace("  ", " ")


def _unpriced(on: date, region: Region, reason: str) -> Outcome:
    return Outcome(
        date=on,
        region=region,
        fee=None,
        list_fee=None,
        qualified=None,
        registration=None,
        contact_points=None,
        category=None,
        invoice_home_region=None,
        frikort=None,
        missing=[],
        reasons=[reason],
        warnings=[],
        trace=[],
    )


def price_all(book: RuleBook, on: date, proposals: str = "none", regions: Sequence[Region] | None = None) -> Grid:
    """Every situation in every region, each priced alone for a patient without earlier fees."""
    out: Grid = {}
    for i, situation in enumerate(SITUATIONS):
        for region in regions or covered_regions(book):
            if situation.programme and region in NO_SOURCE:
                out[(i, region)] = _unpriced(on, region, no_source_reason(book, region))
                continue
            contact = {"date": str(on), **COMMON, **situation.facts}
            case = make_case(
                region, [contact], service=service_for(region, situation.programme), age=AGE, proposals=proposals
            )
            (outcome,), _ = price(book, case)
            out[(i, region)] = outcome
    return out


def deciding_statements(book: RuleBook, outcome: Outcome) -> list[str]:
    """The statements cited by the rule rows that decided an outcome's fee (in the order of its rule chain)."""
    rows = {row.id: row for table in book.tables.values() for row in table.rows}
    found: list[str] = []
    for step in outcome.trace:
        row = rows.get(step.rule)
        if row is not None:
            found += [sid for sid in row.cite if sid not in found]
    return found


def _with_sources(book: RuleBook | None, text: str, outcome: Outcome) -> Cell:
    """A comparison cell: the fee, and (with the rule data at hand) links to the statements behind it."""
    if book is None:
        return text
    ids = deciding_statements(book, outcome)
    if not ids:
        return text
    links = ", ".join(cite_link(book, sid) for sid in ids)
    return Html(f'{html.escape(text)}<br><span class="pa-cite">Källa: {links}</span>', text)


def grid_table(outcomes: Grid, regions: Sequence[Region], book: RuleBook | None = None) -> tuple[Table, Prose]:
    """Situations × regions; an undetermined cell points to a numbered reason below the table, an amount
    carries its confidence mark, and a cell whose outcome has a cited warning points to it by letter.

    Given the rule book, every cell links to the statements its fee rests on, and the reasons below the
    table link their statement ids to the sources chapter."""
    reasons: list[str] = []
    warnings: list[str] = []
    rows: list[list[Cell]] = []
    for i, situation in enumerate(SITUATIONS):
        row: list[Cell] = [situation.name]
        for region in regions:
            o = outcomes[(i, region)]
            if o.fee is None:
                why = " ".join(o.reasons) or "Reglerna avgör inte avgiften."
                if why not in reasons:
                    reasons.append(why)
                row.append(_with_sources(book, f"ej avgjort [{reasons.index(why) + 1}]", o))
                continue
            cell = marked(kronor(o.fee), o.confidence)
            # Only warnings the rule data ties to a source statement (such as a practice that differs from
            # the rule); reminders about registration codes do not bear on the fee.
            for warning in (w for w in o.warnings if "[" in w):
                if warning not in warnings:
                    warnings.append(warning)
                cell += f" [{_letter(warnings.index(warning))}]"
            row.append(_with_sources(book, cell, o))
        rows.append(row)
    parts = []

    def shown(text: str) -> str:
        text = reader_text(text)
        if book is None:
            return text
        return re.sub(
            r"([\[(])([\w.-]+)([\])])",
            lambda m: (
                f"{m.group(1)}{cite_link(book, m.group(2))}{m.group(3)}"
                if m.group(2) in book.statements
                else m.group(0)
            ),
            text,
        )

    if reasons:
        parts.append(
            "**Skäl till *ej avgjort*:**\n\n" + "\n".join(f"{n}. {shown(why)}" for n, why in enumerate(reasons, 1))
        )
    else:
        parts.append("Reglerna avgör avgiften i alla celler.")
    if warnings:
        parts.append(
            "**Anmärkningar från regelkedjan:**\n\n"
            + "\n".join(f"- [{_letter(n)}] {shown(text)}" for n, text in enumerate(warnings))
        )
    return Table(["Situation", *[r.label for r in regions]], rows), Prose("\n\n".join(parts))


def _letter(n: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[n]


COLOURS = ["#1f5f8b", "#d9822b", "#2a8a4a", "#8e44ad", "#7f7f7f"]


def bar_chart(outcomes: Grid, regions: Sequence[Region], title: str) -> Any:
    """Grouped horizontal bars, one group per situation; an undetermined cell is a label, never a bar."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n_sit, n_reg = len(SITUATIONS), len(regions)
    height = 0.84 / n_reg
    known = [o.fee for o in outcomes.values() if o.fee is not None]
    top = (max(known, default=0) or 100) * 1.3
    fig, ax = plt.subplots(figsize=(8, 9.5))
    for j, region in enumerate(regions):
        colour = COLOURS[j % len(COLOURS)]
        for i in range(n_sit):
            y = i + (j - (n_reg - 1) / 2) * height
            o = outcomes[(i, region)]
            if o.fee is None:
                # No bar: the rules give no amount, so only a label in the region's colour says so.
                ax.plot([0], [y], marker="x", color=colour, markersize=6)
                ax.text(top * 0.02, y, "ej avgjort", va="center", fontsize=9, style="italic", color=colour)
            else:
                ax.barh(y, o.fee, height=height * 0.9, color=colour)
                ax.text(o.fee + top * 0.01, y, marked(kronor(o.fee), o.confidence), va="center", fontsize=9)
    ax.set_yticks(range(n_sit))
    ax.set_yticklabels([textwrap.fill(s.name, 18) for s in SITUATIONS], fontsize=10)
    for k in range(n_sit - 1):
        ax.axhline(k + 0.5, color="#cccccc", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlim(0, top)
    ax.set_xlabel("Avgift för kontakten (kronor)", fontsize=10)
    ax.set_title(title, fontsize=11)
    handles: list[Any] = [Patch(color=COLOURS[j % len(COLOURS)], label=r.label) for j, r in enumerate(regions)]
    handles.append(
        Line2D(
            [],
            [],
            marker="x",
            linestyle="none",
            color="#555555",
            label="ej avgjort (text i regionens färg, ingen stapel)",
        )
    )
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.4, -0.06), ncol=2, fontsize=9, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
