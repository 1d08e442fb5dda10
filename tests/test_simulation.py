"""Scenarios priced on the same register: where a fee cannot be determined, no total is made up.

The register is synthetic (made-up patient ids). A Region Jämtland Härjedalen patient has two
visits in 2025 at the unit fee of the rule data; a Region Västerbotten patient has one contact in
2025 that the sources leave undetermined (Västerbotten's report covers only internet-based
support and treatment), so that patient's total and the average are not known.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from patientavgift import simulation
from patientavgift.engine import param_amount
from patientavgift.rules import load_rules

BOOK = load_rules()
REGISTER = (
    "patient_id,region,date,age,mode,booked,medical_assessment\n"
    "SYN-1,jamtland-harjedalen,2025-02-03,40,physical,true,true\n"
    "SYN-1,jamtland-harjedalen,2025-03-03,40,physical,true,true\n"
    "SYN-2,vasterbotten,2025-02-03,40,phone,true,true\n"
)


def test_an_undetermined_fee_makes_revenue_a_lower_bound_and_leaves_the_patient_total_open(tmp_path: Path) -> None:
    register = tmp_path / "register.csv"
    register.write_text(REGISTER, encoding="utf-8")
    unit_fee, _ = param_amount(BOOK, "jamtland-harjedalen.unit-fee", date(2025, 2, 3), frozenset())
    assert unit_fee is not None
    (outcome,) = simulation.simulate(BOOK, register, {"Beslutade regler": "none"})
    assert outcome.summary.undetermined == 1
    assert outcome.summary.revenue == 2 * unit_fee
    assert outcome.paid_per_patient["SYN-1"] == 2 * unit_fee
    assert math.isnan(outcome.paid_per_patient["SYN-2"])
    column = simulation.comparison_table([outcome])["Beslutade regler"]
    assert column["Intäkt (kr)"] == f"minst {2 * unit_fee}"
    assert column["Betalt per patient i snitt (kr)"] == "ej avgjort"


def test_an_unknown_proposal_id_is_refused(tmp_path: Path) -> None:
    register = tmp_path / "register.csv"
    register.write_text(REGISTER, encoding="utf-8")
    with pytest.raises(ValueError, match="unknown proposal id"):
        simulation.simulate(BOOK, register, {"Förslaget": "jamtland-harjedalen-writen-100"})
