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
from patientavgift.model import Region
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


# Region Jämtland Härjedalen, "Sänkt patientavgift för skriftlig distanskontakt": the unit fee,
# which a qualified written distance contact also costs, is 400 kr in 2025 ("Ärendebeskrivning");
# pending the decision, written check-ins are registered as free care (same section). The ceiling
# for 2025 is 1 450 kr (facts §2.2, derived from the prisbasbelopp 58 800 kr); 1 400 kr is 2024's.
UNIT_FEE_2025 = 400
CEILING_2025 = 1450
WRITTEN_AND_VISITS = (
    "patient_id,region,date,age,mode,booked,medical_assessment,purpose\n"
    "SYN-1,jamtland-harjedalen,2025-02-03,40,physical,true,,care\n"
    "SYN-1,jamtland-harjedalen,2025-02-10,40,written,true,true,care\n"
    "SYN-1,jamtland-harjedalen,2025-02-17,40,written,true,true,care\n"
    "SYN-1,jamtland-harjedalen,2025-03-03,40,physical,true,,care\n"
    "SYN-1,jamtland-harjedalen,2025-04-07,40,physical,true,,care\n"
    "SYN-1,jamtland-harjedalen,2025-05-05,40,physical,true,,care\n"
)


def _register(tmp_path: Path, text: str) -> Path:
    register = tmp_path / "register.csv"
    register.write_text(text, encoding="utf-8")
    return register


def test_practice_registers_written_contacts_free_and_the_visits_pay_up_to_the_ceiling(tmp_path: Path) -> None:
    register = _register(tmp_path, WRITTEN_AND_VISITS)
    rule, practice, practice_all = simulation.simulate(
        BOOK,
        register,
        {
            "Beslutade regler": "none",
            "Praxis": simulation.Scenario(practice=True),
            "Praxis, alla förslag": simulation.Scenario("all", practice=True),
        },
    )
    # By the rule every contact costs 400 kr: a visit and the two written contacts, then the second
    # visit pays the remaining 250 kr of the ceiling and the last two visits are free.
    assert rule.revenue_by_mode == {
        "physical": UNIT_FEE_2025 + (CEILING_2025 - 3 * UNIT_FEE_2025),
        "written": 2 * UNIT_FEE_2025,
    }
    assert rule.summary.revenue == CEILING_2025
    assert rule.summary.patients_reaching_ceiling == 1
    # In practice the two written contacts cost nothing, so the four visits are paid in full (1 600 kr
    # would pass the ceiling: the fourth pays the remaining 250 kr).
    for outcome in (practice, practice_all):
        assert outcome.revenue_by_mode == {"physical": CEILING_2025, "written": 0}
        assert outcome.summary.patients_reaching_ceiling == 1


def test_practice_is_an_alternative_citing_the_source_and_leaves_the_loaded_rules_alone() -> None:
    changed, chosen = simulation.prepare(BOOK, simulation.Scenario(practice=True))
    assert chosen == frozenset({simulation.PRACTICE})
    assert changed.proposals[simulation.PRACTICE] == "alternative"
    (row,) = [r for r in changed.rows("jamtland-harjedalen.contacts") if r.proposal == simulation.PRACTICE]
    assert row.status == "alternative" and row.fee == 0 and row.cite == ["rjh.practice"]
    ids = [r.id for r in changed.rows("jamtland-harjedalen.contacts")]
    assert ids.index(row.id) < ids.index("jamtland-harjedalen.written-100") < ids.index("jamtland-harjedalen.written")
    assert simulation.PRACTICE not in BOOK.proposals
    assert row.id not in [r.id for r in BOOK.rows("jamtland-harjedalen.contacts")]


def test_a_ceiling_amount_replaces_the_rule_everywhere_for_that_scenario_only(tmp_path: Path) -> None:
    register = _register(tmp_path, WRITTEN_AND_VISITS)
    derived, lower = simulation.simulate(
        BOOK, register, {"Taket enligt regeln": "none", "Tak 1 400 kr": simulation.Scenario(ceiling=1400)}
    )
    assert derived.summary.revenue == CEILING_2025
    assert lower.summary.revenue == 1400
    assert lower.scenario == simulation.Scenario(ceiling=1400)
    changed, _ = simulation.prepare(BOOK, simulation.Scenario(ceiling=1400))
    for region in Region:
        ceiling = changed.ceiling(region, date(2025, 3, 1))
        assert ceiling is not None and ceiling.amount == 1400
    ceiling = BOOK.ceiling(Region.jamtland_harjedalen, date(2025, 3, 1))
    assert ceiling is not None and ceiling.amount == CEILING_2025
