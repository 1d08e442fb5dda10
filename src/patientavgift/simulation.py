"""What would a proposal do? The same register priced under the decided rules and under alternatives.

A scenario is a choice of proposals (`none` = the decided rules, `all`, or proposal ids), exactly
as `patientavgift price --proposals` takes it, or a `Scenario` that also changes the rule data for
this simulation only: Region Jämtland Härjedalen's practice pending the decision on its proposal
(written check-ins registered as free care, statement `rjh.practice`), or one ceiling amount tried
in place of the rule's (a sensitivity test). Every scenario prices the same register through
the register pricing, so the comparison differs only in the rules: revenue (in all and per
contact mode), patients who reach the high-cost ceiling, average paid per patient, and the
distribution of what patients pay. The register is read once and priced in memory (`batch.price_table`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from matplotlib.figure import Figure

from . import batch
from .conditions import compile_condition
from .engine import Selection, checked_selection
from .model import Region
from .register import Summary
from .rules import RegionalCeiling, Row, RuleBook

PRACTICE = "jamtland-harjedalen-practice-checkins-free"
"""The alternative that only the practice scenario selects (not a proposal of any source)."""

PRACTICE_BEFORE = ("jamtland-harjedalen.written-100", "jamtland-harjedalen.written")
"""The charged written-contact rows of Jämtland Härjedalen; the practice row is put before the first."""


@dataclass(frozen=True)
class Scenario:
    """A choice of proposals, and what this simulation alone changes in the rule data.

    `practice`: Region Jämtland Härjedalen's practice described in its proposal (statement
    `rjh.practice`): pending the decision, written check-ins are registered as free care, so a
    qualified written contact costs nothing. It is not a rule; an alternative row that only this
    scenario selects is put before the region's charged written-contact rows.
    `ceiling`: one high-cost ceiling amount in every region on every day from the ceiling rule's
    start, in place of the rule's amounts (to see how much an answer depends on the ceiling).
    """

    proposals: str = "none"
    practice: bool = False
    ceiling: int | None = None


def with_practice(book: RuleBook) -> RuleBook:
    """A copy of `book` with Jämtland Härjedalen's practice pending the decision as the alternative `PRACTICE`."""
    table_id = book.contacts_table[Region.jamtland_harjedalen]
    rows = book.rows(table_id)
    at = next((i for i, r in enumerate(rows) if r.id in PRACTICE_BEFORE), None)
    if at is None:
        raise ValueError(
            f"simuleringen av praxis behöver en av raderna {', '.join(PRACTICE_BEFORE)} i tabellen {table_id}, "
            "men ingen av dem finns; ge raden tillbaka dess id eller ändra PRACTICE_BEFORE i simulation.py "
            "(no row to place the practice before)"
        )
    row = Row.model_validate(
        {
            "id": "jamtland-harjedalen.practice-checkins-free",
            "label": "Skriftlig avstämning registrerad som avgiftsfri i väntan på beslut (praxis, ingen regel)",
            "text": (
                "I väntan på beslut om förslaget registreras skriftliga veckoavstämningar som avgiftsfri vård; "
                "praxis enligt ärendet, inte en beslutad regel"
            ),
            "when": {"mode": "written"},
            "valid_from": min(r.valid_from for r in rows if r.id in PRACTICE_BEFORE),
            "status": "alternative",
            "proposal": PRACTICE,
            "fee": 0,
            "qualified": True,
            "cite": ["rjh.practice"],
        }
    )
    table = book.tables[table_id].model_copy(update={"rows": [*rows[:at], row, *rows[at:]]})
    conditions = dict(book.conditions)
    conditions[(table_id, row.id + "@" + str(row.valid_from))] = compile_condition(row.when)
    return dataclasses.replace(
        book,
        tables={**book.tables, table_id: table},
        conditions=conditions,
        proposals={**book.proposals, PRACTICE: "alternative"},
    )


def with_ceiling(book: RuleBook, amount: int) -> RuleBook:
    """A copy of `book` whose ceiling is `amount` in every region on every day from the ceiling rule's start."""
    if book.national is None:
        raise ValueError(
            "regeldata saknar national.yaml med högkostnadstaket, så inget tak finns att byta ut i simuleringen "
            "(no national ceiling to replace)"
        )
    ceiling = book.national.ceiling
    own = [
        RegionalCeiling.model_validate(
            {
                "id": f"simulation.ceiling-{region.value}",
                "region": region,
                "amount": amount,
                "valid_from": ceiling.rule.valid_from,
                "note": f"antaget tak på {amount} kr i en känslighetsprövning, inte ett beslut",
                "cite": ceiling.rule.cite,
            }
        )
        for region in Region
    ]
    national = book.national.model_copy(update={"ceiling": ceiling.model_copy(update={"regional": own})})
    return dataclasses.replace(book, national=national)


def prepare(book: RuleBook, scenario: str | Scenario) -> tuple[RuleBook, Selection]:
    """The rule book and the selection a scenario prices with (the book is copied only when it changes)."""
    if isinstance(scenario, str):
        scenario = Scenario(scenario)
    chosen = checked_selection(book, scenario.proposals)
    if scenario.practice:
        book = with_practice(book)
        ids = {p for p, status in book.proposals.items() if status == "proposed"} if chosen == "all" else set(chosen)
        chosen = frozenset({*ids, PRACTICE})
    if scenario.ceiling is not None:
        book = with_ceiling(book, scenario.ceiling)
    return book, chosen


@dataclass
class Outcome:
    """One scenario's result: the run summary, what each patient paid in all, and revenue per contact mode."""

    name: str
    proposals: str
    summary: Summary
    paid_per_patient: pd.Series
    revenue_by_mode: dict[str, int | None] = field(default_factory=dict)
    """Fees per `mode` cell (None where some fee of that mode is undetermined)."""
    scenario: Scenario = field(default_factory=Scenario)


def _known_sum(column: str) -> pl.Expr:
    # (a group with an undetermined fee has no known total: null, not a sum that skips it)
    return pl.when(pl.col(column).is_null().any()).then(None).otherwise(pl.col(column).sum())


def simulate(book: RuleBook, register: Path, scenarios: Mapping[str, str | Scenario]) -> list[Outcome]:
    """Price `register` once per scenario (name → proposals: none, all or ids separated by commas; or a `Scenario`)."""
    table = batch.read_table(register)
    results = []
    for name, given in scenarios.items():
        scenario = given if isinstance(given, Scenario) else Scenario(given)
        rules, chosen = prepare(book, scenario)
        priced_table, summary = batch.price_table(rules, table, chosen)
        kept = ["patient_id", "fee", *(["mode"] if "mode" in priced_table.column_names else [])]
        priced = pl.from_arrow(priced_table.select(kept))
        assert isinstance(priced, pl.DataFrame)
        paid = (
            priced.group_by("patient_id")
            .agg(_known_sum("fee").alias("paid"))
            .sort("patient_id")
            .to_pandas()
            .set_index("patient_id")["paid"]
        )
        modes = pl.col("mode").cast(pl.String).fill_null("") if "mode" in priced.columns else pl.lit("")
        by_mode = priced.group_by(modes.alias("mode")).agg(_known_sum("fee").alias("revenue"))
        revenue_by_mode = {
            str(m): None if r is None else int(r) for m, r in zip(by_mode["mode"], by_mode["revenue"], strict=True)
        }
        results.append(
            Outcome(name, scenario.proposals, summary, paid, dict(sorted(revenue_by_mode.items())), scenario)
        )
    return results


def comparison_table(outcomes: list[Outcome]) -> pd.DataFrame:
    """One column per scenario: contacts, revenue, patients reaching the ceiling, average paid (Swedish).

    Where some fees cannot be determined, the revenue is a lower bound ("minst") and the average
    is not given."""
    rows: dict[str, dict[str, object]] = {}
    for o in outcomes:
        s = o.summary
        rows[o.name] = {
            "Kontakter": s.priced,
            "Patienter": s.patients,
            "Intäkt (kr)": s.revenue if not s.undetermined else f"minst {s.revenue}",
            "Patienter som når högkostnadstaket": s.patients_reaching_ceiling,
            "Kontakter fria eller sänkta genom taket": s.free_by_ceiling,
            "Kontakter fria genom åldersbefrielse": s.free_by_exemption,
            "Kontakter där avgiften inte kan avgöras": s.undetermined,
            "Betalt per patient i snitt (kr)": (
                "ej avgjort" if s.undetermined else round(s.revenue / s.patients) if s.patients else 0
            ),
        }
    return pd.DataFrame(rows)


def distribution_chart(outcomes: list[Outcome], title: str) -> Figure:
    """What patients paid in all, per scenario, as overlaid step histograms (kronor on the x axis)."""
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    known = {o.name: o.paid_per_patient.dropna() for o in outcomes}  # (patients with an undetermined fee are left out)
    top = max((float(paid.max()) for paid in known.values() if len(paid)), default=0.0)
    bins = [float(b) for b in np.linspace(0, max(top, 1.0), 30)]
    for o in outcomes:
        left_out = len(o.paid_per_patient) - len(known[o.name])
        label = o.name + (f" ({left_out} patienter med ej avgjord avgift utelämnade)" if left_out else "")
        ax.hist(known[o.name].to_numpy(), bins=bins, histtype="step", linewidth=2, label=label)
    ax.set_xlabel("Betalt per patient under perioden (kr)")
    ax.set_ylabel("Antal patienter")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
