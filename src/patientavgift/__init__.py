"""patientavgift – Swedish patient fees for distance contacts and internet-based treatment.

The rules live as dated, cited data in ``rules/``; `load_rules` reads them, `price_contacts`
prices a patient's contacts, and `run_case` checks a worked case against its expectations.
"""

from .engine import Decision, Outcome, Step, Visit, decide, price_contacts, selection
from .model import Case, Contact, Patient, Region
from .rules import RuleBook, load_rules

__all__ = [
    "Case",
    "Contact",
    "Decision",
    "Outcome",
    "Patient",
    "Region",
    "RuleBook",
    "Step",
    "Visit",
    "decide",
    "load_rules",
    "price_contacts",
    "selection",
]
