"""Swedish text for outcomes and rule traces (used by the command line and the handbook)."""

from __future__ import annotations

from .cases import CaseResult
from .confidence import SV, SV_EXPLAINED
from .engine import Outcome, Totals
from .model import FACT_TERMS, Case
from .rules import sv_number


def yes_no(value: bool | None) -> str:
    """ja / nej / okänt."""
    return "okänt" if value is None else ("ja" if value else "nej")


def kronor(value: int | None) -> str:
    """An amount in kronor, or 'ej avgjort'."""
    return "ej avgjort" if value is None else f"{sv_number(value)} kr"


def outcome_summary(outcome: Outcome) -> list[tuple[str, str]]:
    """The outcome of one contact as (Swedish label, value) pairs; the CLI and the handbook show these."""
    sure = "" if outcome.undetermined else f" – {SV[outcome.confidence]}"
    pairs = [
        ("Avgift", f"{kronor(outcome.fee)} (enligt taxa: {kronor(outcome.list_fee)}){sure}"),
        ("Kvalificerad vårdkontakt", yes_no(outcome.qualified)),
    ]
    if outcome.registration:
        pairs.append(("Registrering", outcome.registration))
    if outcome.contact_points is not None:
        pairs.append(("Kontaktpoäng", sv_number(outcome.contact_points)))
    if outcome.category:
        pairs.append(("Programkategori", outcome.category.label))
    pairs.append(("Frikort vid kontakten", yes_no(outcome.frikort)))
    if outcome.invoice_home_region:
        pairs.append(("Faktureras patientens hemregion", "ja"))
    return pairs


def outcome_lines(outcome: Outcome) -> list[str]:
    """The outcome of one contact and the chain of rules behind it, in Swedish."""
    lines = [f"  {label}: {value}" for label, value in outcome_summary(outcome)]
    if outcome.undetermined:
        lines.append("  EJ AVGJORT:")
        lines += [f"    - {reason}" for reason in outcome.reasons] or ["    - (ingen orsak angiven)"]
        if outcome.missing:
            named = ", ".join(f"{key} ({FACT_TERMS.get(key, key)})" for key in outcome.missing)
            lines.append(f"    Saknade uppgifter: {named}")
    if not outcome.undetermined and outcome.confidence != "verified":
        lines.append(f"  Osäkert ({SV_EXPLAINED[outcome.confidence]}):")
        notes = outcome.confidence_notes or ["(ingen anteckning i regeldata)"]
        lines += [f"    - {note}" for note in notes]
    for warning in outcome.warnings:
        lines.append(f"  Varning: {warning}")
    lines.append("  Regelkedja:")
    for n, step in enumerate(outcome.trace, 1):
        lines.append(f"    {n}. [{step.rule}] {step.text}")
        if step.cite:
            lines.append(f"       Källa: {step.cite}")
    return lines


def explain_case(case: Case, outcomes: list[Outcome], totals: Totals) -> str:
    """A full Swedish explanation of a case: every contact, its outcome and its rules."""
    patient = case.patient
    who = (
        f"{patient.age} år"
        if patient.age is not None
        else (f"född {patient.birth_date}" if patient.birth_date else "ålder ej angiven")
    )
    home = patient.home_region.label if patient.home_region else case.region.label
    lines = [
        f"Fall {case.id}: {case.title or ''}".rstrip(),
        f"Vårdregion: {case.region.label}" + (f", vårdtjänst: {case.service.label}" if case.service else ""),
        f"Patient: {who}, hemregion {home}",
    ]
    if case.source:
        lines.append(f"Källa för fallet: {case.source}")
    if case.proposals != "none":
        chosen = "alla förslag" if case.proposals == "all" else ", ".join(case.proposals)
        lines.append(f"Förslag som tillämpas: {chosen}")
    for i, (contact, outcome) in enumerate(zip(case.contacts, outcomes, strict=True), 1):
        mode = contact.mode.label if contact.mode else "kontaktform ej angiven"
        lines.append("")
        lines.append(f"Kontakt {i}, {contact.date} – {mode}")
        lines += outcome_lines(outcome)
    lines.append("")
    lines.append(
        f"Summa betalt: {kronor(totals.paid)}; högkostnadstak: {kronor(totals.ceiling)}; "
        f"frikort från: {totals.frikort_from or '–'}"
    )
    return "\n".join(lines)


def failure_text(result: CaseResult) -> str:
    """One failing case: what failed, and the rule trace of the contacts involved."""
    entry = result.entry
    where = f"{entry.path}:{entry.line}" if entry.line else str(entry.path)
    lines = [f"UNDERKÄNT (FAIL) {entry.id} ({where})"]
    lines += [f"  {f}" for f in result.failures]
    for i, outcome in enumerate(result.outcomes, 1):
        if any(f.startswith(f"kontakt {i} ") for f in result.failures):
            lines.append(f"  Regelkedja för kontakt {i}:")
            lines += [f"    [{s.rule}] {s.text}" for s in outcome.trace]
            lines += [f"    Ej avgjort: {r}" for r in outcome.reasons]
    return "\n".join(lines)
