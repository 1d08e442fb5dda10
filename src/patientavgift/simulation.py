"""What would a proposal do? The same register priced under the decided rules and under alternatives.

A scenario is a choice of proposals (`none` = the decided rules, `all`, or proposal ids), exactly
as `patientavgift price --proposals` takes it. Every scenario prices the same register through
`batch.price_register`, so the comparison differs only in the rules: revenue, patients who reach
the high-cost ceiling, average paid per patient, and the distribution of what patients pay.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from matplotlib.figure import Figure

from . import batch
from .engine import checked_selection
from .register import Summary
from .rules import RuleBook


@dataclass
class Outcome:
    """One scenario's result: the run summary and what each patient paid in all."""

    name: str
    proposals: str
    summary: Summary
    paid_per_patient: pd.Series


def simulate(book: RuleBook, register: Path, scenarios: dict[str, str]) -> list[Outcome]:
    """Price `register` once per scenario (name → proposals: none, all or ids separated by commas)."""
    results = []
    with tempfile.TemporaryDirectory(prefix="patientavgift-sim-") as tmp:
        for n, (name, proposals) in enumerate(scenarios.items()):
            out = Path(tmp) / f"scenario-{n}.parquet"
            summary, _ = batch.price_register(book, register, out, checked_selection(book, proposals), progress=None)
            priced = pl.read_parquet(out, columns=["patient_id", "fee"])
            paid = (
                priced.group_by("patient_id")
                # (a patient with an undetermined fee has no known total: null, not a sum that skips it)
                .agg(pl.when(pl.col("fee").is_null().any()).then(None).otherwise(pl.col("fee").sum()).alias("paid"))
                .sort("patient_id")
                .to_pandas()
                .set_index("patient_id")["paid"]
            )
            results.append(Outcome(name, proposals, summary, paid))
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
