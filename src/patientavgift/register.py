"""Pricing a register: many patients, one row per contact (the contract's "Registers" section).

Each row is read and validated on its own; a row that cannot be read is written to the rejects
file with the reason and takes no part in the pricing, so that priced + rejected = read. The rows
of one patient are priced together in date order (ties keep file order) through the same engine
as the worked cases, so they share one high-cost period across regions.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from .confidence import uncertain
from .engine import Outcome, Selection, Visit, price_contacts
from .errors import describe
from .model import FACT_TYPES, Contact, Patient, Region, Service, nested
from .outputs import atomic
from .rules import RuleBook

PATIENT_COLUMNS = ("patient_id", "region", "service", "date", "age", "birth_date", "home_region")
CONTACT_COLUMNS = tuple(
    k for k in Contact.model_fields if k not in {"date", "programme", "expect", "region", "service", "note"}
)
PROGRAMME_COLUMNS = (
    "programme.kind",
    "programme.ordered_by_licensed",
    "programme.approved_by_region",
    "programme.therapist_support",
    "programme.login_1177",
)
KNOWN_COLUMNS = frozenset((*PATIENT_COLUMNS, *CONTACT_COLUMNS, *PROGRAMME_COLUMNS))
CHUNK_ROWS = 12_000_000
"""Registers with more rows than this are priced bucket by bucket, patients kept together (`batch`);
below it all rows are priced at once, with about 150 to 160 bytes per contact held at the peak from
Parquet or CSV (1.5 to 1.6 GB for 10 million contacts, `benchmarks/price_register.py`)."""
OUTCOME_COLUMNS = (
    "fee",
    "list_fee",
    "qualified",
    "registration",
    "contact_points",
    "category",
    "invoice_home_region",
    "frikort",
    "undetermined_reason",
    "confidence",
)
"""The columns `price` adds, in the contract's order, then `confidence`: how sure the fee is
(verified, derived, inferred or unverified – the weakest of the rules and amounts it rests on;
empty when the fee is undetermined)."""

CEILING_STEPS = frozenset({"ceiling.partial", "ceiling.frikort", "ceiling.frikort-issued"})
"""Engine steps that lower a fee because of the high-cost ceiling (any other reduction is an exemption)."""

_BOOLEAN = {"true": True, "false": False}
REGION_IDS = {r.value: r for r in Region}
"""Regions by their id in a register cell (both pricing paths accept exactly these)."""
SERVICE_IDS = {s.value: s for s in Service}
"""Services by their id in a register cell."""


class RegisterError(ValueError):
    """The register as a whole cannot be read (missing file, no header, a required column missing)."""


@dataclass
class Row:
    """One register row: where it was read, its raw values and, once valid, its contact."""

    line: int
    values: dict[str, str]
    patient_id: str = ""
    contact: Contact | None = None
    region: Region | None = None
    service: Service | None = None
    age: int | None = None
    patient: Patient | None = None
    outcome: Outcome | None = None
    problem: str | None = None


@dataclass
class Summary:
    """What a run did, with counts that reconcile: priced + rejected = read."""

    read: int = 0
    priced: int = 0
    rejected: int = 0
    patients: int = 0
    patients_reaching_ceiling: int = 0
    revenue: int = 0
    free_by_exemption: int = 0
    free_by_ceiling: int = 0
    undetermined: int = 0
    uncertain: int = 0
    """Contacts whose fee rests on an inferred or unverified rule or amount."""
    ignored_columns: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary as printed by the command line."""
        out = [
            f"kontakter lästa: {self.read} (contacts read)",
            f"kontakter prissatta: {self.priced} (contacts priced)",
            f"rader avvisade: {self.rejected} (rows rejected)",
            f"patienter: {self.patients} (patients)",
            f"patienter som når högkostnadstaket: {self.patients_reaching_ceiling} (patients reaching the ceiling)",
            f"intäkt (summa avgifter): {self.revenue} kr (revenue)",
            f"kontakter fria genom åldersbefrielse: {self.free_by_exemption} (free by age exemption)",
            f"kontakter fria eller sänkta genom högkostnadsskyddet: {self.free_by_ceiling} (free or reduced by the ceiling)",
            f"kontakter ej avgjorda: {self.undetermined} (undetermined)",
            f"kontakter prissatta på antagna eller ej belagda värden (kolumnen confidence): {self.uncertain} "
            "(priced on inferred or unverified values)",
        ]
        if self.ignored_columns:
            out.append(
                f"kolumner utanför registerformatet, kopierade oförändrade: {', '.join(self.ignored_columns)} "
                "(columns copied unchanged)"
            )
        return out


BLANK = " \t"
"""Characters trimmed from both ends of a cell; a cell of only these is empty (not given)."""

WHOLE = re.compile(r"[0-9]+")

PERSONNUMMER = r"^([0-9]{2})?[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01]|6[1-9]|[78][0-9]|9[01])[-+]?[0-9]{4}$"
"""A Swedish personal identity or coordination number: (YY)YYMMDD, an optional - or +, four digits
(a coordination number adds 60 to the day). Checked on the trimmed patient id."""
_PERSONNUMMER = re.compile(PERSONNUMMER)
PERSONNUMMER_REASON = (
    "patient_id: har formen av ett personnummer; ett register får bara ha pseudonyma id:n – byt ut id:t "
    "(looks like a personal identity number; only pseudonymous ids are allowed)"
)
HIDDEN = "(dolt)"
"""What the rejects file shows instead of a patient id shaped like a personal identity number."""

FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)
"""The contact dates the pricing can work with (the rules' validity segments and 12-month periods)."""


def date_reason(on: date) -> str:
    return (
        f"date: {on} ligger utanför de datum som kan prissättas, {FIRST_DAY}–{LAST_DAY} "
        "(outside the dates that can be priced)"
    )


def is_personnummer(patient_id: str) -> bool:
    return _PERSONNUMMER.fullmatch(patient_id.strip(BLANK)) is not None


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""A text cell of a written CSV that begins with one of these gets a leading ' (so that a spreadsheet
shows it as text instead of running it as a formula)."""


def neutral(text: str) -> str:
    """A text cell as written to a CSV file (see `FORMULA_START`)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_writer(handle: TextIO) -> Callable[[Sequence[Any]], Any]:
    """A function writing one CSV row to `handle` (lines end in \\n). Python's writer leaves a cell
    holding a bare carriage return unquoted; a row with one is written with every cell quoted."""
    plain = csv.writer(handle, lineterminator="\n")
    quoted = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def write(row: Sequence[Any]) -> Any:
        return (quoted if any("\r" in c for c in row if isinstance(c, str)) else plain).writerow(row)

    return write


def shown_cells(values: Mapping[str, str], header: Sequence[str], texts: frozenset[str]) -> list[str]:
    """A row's input cells as written to a CSV: text columns neutralised, a patient id shaped like a
    personal identity number hidden."""
    out = [neutral(values.get(c, "")) if c in texts else values.get(c, "") for c in header]
    if "patient_id" in header and is_personnummer(values.get("patient_id", "")):
        out[list(header).index("patient_id")] = HIDDEN
    return out


def typed_cell(column: str, text: str) -> Any:
    """A register cell (already trimmed) as the case model expects it.

    Booleans are `true`/`false` in any letter case, ages are plain digits, KVÅ codes are separated
    by spaces. Anything else is passed on unchanged so that the model rejects it with its reason.
    """
    if column == "kva_codes":
        return [code for code in text.split(" ") if code]
    if column == "age":
        return int(text) if WHOLE.fullmatch(text) else text
    if FACT_TYPES.get(column) is bool:
        return _BOOLEAN.get(text.lower(), text)
    return text


def cells(values: Mapping[str, str | None]) -> dict[str, str]:
    """The known, non-empty cells of a row, trimmed."""
    return {
        k: v.strip(BLANK) for k, v in values.items() if k in KNOWN_COLUMNS and v is not None and v.strip(BLANK) != ""
    }


def parse_row(row: Row) -> str | None:
    """Validate one row; fill in its contact and patient, or return every reason it is rejected.

    The register pricing also words its rejected rows with it, so both paths give the same reasons."""
    values = cells(row.values)
    row.patient_id = values.pop("patient_id", "")
    reasons = []
    if not row.patient_id:
        reasons.append("patient_id: är tom; varje rad behöver patientens pseudonyma id")
    elif is_personnummer(row.patient_id):
        reasons.append(PERSONNUMMER_REASON)
    flat: dict[str, Any] = {}
    patient: dict[str, Any] = {}
    for column, text in values.items():
        if column in ("age", "birth_date", "home_region"):
            patient[column] = typed_cell(column, text)
        elif column not in ("region", "service"):
            flat[column] = typed_cell(column, text)
    contact = nested(flat)
    row.region = REGION_IDS.get(values.get("region", ""))
    if row.region is None:
        reasons.append(
            f"region: '{values.get('region', '')}' är ingen region; tillåtna: {', '.join(r.value for r in Region)}"
        )
    if "service" in values:
        row.service = SERVICE_IDS.get(values["service"])
        if row.service is None:
            reasons.append(
                f"service: '{values['service']}' är inte tillåtet; tillåtna: {', '.join(s.value for s in Service)}"
            )
    try:
        row.contact = Contact.model_validate(contact)
    except ValidationError as exc:
        reasons.append(_reason(exc, contact))
    try:
        row.patient = Patient.model_validate(patient)
    except ValidationError as exc:
        reasons.append(_reason(exc, patient))
    if row.patient is not None and row.patient.age is None and row.patient.birth_date is None:
        reasons.append("age, birth_date: en av dem behövs för att pröva åldersbefrielserna")
    if row.contact is not None:
        if not FIRST_DAY <= row.contact.date <= LAST_DAY:
            reasons.append(date_reason(row.contact.date))
        birth = row.patient.birth_date if row.patient is not None else None
        if birth is not None and birth > row.contact.date:
            reasons.append(f"birth_date: {birth} är efter kontaktdatumet {row.contact.date}")
    row.age = row.patient.age if row.patient is not None else None
    return "; ".join(reasons) or None


def _reason(exc: ValidationError, data: dict[str, Any]) -> str:
    """A validation error worded for the register (field names are the column names)."""
    problems = describe(exc, data, "")
    return "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)


def _conflict(row: Row, first: Row) -> str | None:
    """A patient's rows must agree on home region and birth date (age may change from row to row)."""
    assert row.patient is not None and first.patient is not None
    for column in ("home_region", "birth_date"):
        mine, theirs = getattr(row.patient, column), getattr(first.patient, column)
        if mine != theirs:
            return conflict_reason(column, cell_text(mine), cell_text(theirs), first.line)
    return None


def conflict_reason(column: str, mine: str, theirs: str, line: int) -> str:
    """Why a row is rejected whose home region or birth date differs from the patient's first row."""

    def shown(value: str) -> str:
        return f"'{value}'" if value else "(empty)"

    return (
        f"{column}: {shown(mine)} skiljer sig från {shown(theirs)} på rad {line} för samma patient; "
        "en patients rader måste stämma överens om den"
    )


def read_header(path: Path) -> list[str]:
    """The column names of a register, checked for the columns every row needs."""
    if not path.exists():
        raise RegisterError(f"{path}: no such file")
    if path.is_dir():
        raise RegisterError(f"{path}: är en mapp; ge registerfilen (.csv eller .parquet) (a folder, not a file)")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
            raise RegisterError(f"{path}: ingen läsbar Parquet-fil ({exc})") from None
        header = list(schema.names)
        check_flat(str(path), schema)
    else:
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                header = next(csv.reader(handle), [])
        except UnicodeDecodeError:
            raise encoding_error(path) from None
    check_header(str(path), header)
    return header


def check_header(where: str, header: list[str]) -> None:
    """Refuse a header without the columns every row needs, with outcome columns already present (a
    priced register) or with a column named twice. `where` names the register in the message."""
    missing = [c for c in ("patient_id", "region", "date") if c not in header]
    if missing:
        raise RegisterError(
            f"{where}: rad 1: rubrikraden saknar kolumnen/kolumnerna {', '.join(missing)}; "
            f"den har: {', '.join(header) or 'inget'}"
        )
    priced = [c for c in OUTCOME_COLUMNS if c in header]
    if priced:
        raise RegisterError(
            f"{where}: rad 1: kolumnen/kolumnerna {', '.join(priced)} läggs till av prissättningen; registret ser ut att "
            "redan vara prissatt. Prissätt originalregistret, eller ta först bort utfallskolumnerna"
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise RegisterError(
            f"{where}: rad 1: kolumnen/kolumnerna {', '.join(duplicated)} finns mer än en gång i rubrikraden"
        )


def check_flat(where: str, schema: Any) -> None:
    """Refuse an Arrow schema with list or record columns: every cell of a register is one value."""
    import pyarrow.types as pat

    nested = [f.name for f in schema if pat.is_nested(f.type)]
    if nested:
        raise RegisterError(
            f"{where}: kolumnen/kolumnerna {', '.join(nested)} innehåller listor eller poster; varje cell i ett "
            "register ska vara ett värde (text, tal, datum eller true/false), t.ex. KVÅ-koder som en text åtskild "
            "med mellanslag"
        )


def encoding_error(path: Path) -> RegisterError:
    """The error for a CSV register that is not UTF-8 text, naming the first bad line (as lines are
    counted in the file, cells holding line breaks included)."""
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return RegisterError(
                    f"{path}: rad {line}: ingen UTF-8-text ({exc.reason} vid byte {exc.start + 1} på raden); "
                    "spara registret som UTF-8-CSV"
                )
    return RegisterError(f"{path}: ingen UTF-8-text; spara registret som UTF-8-CSV")


def text_columns(path: Path, header: list[str]) -> frozenset[str]:
    """The columns that hold text (every column of a CSV; text and dictionary columns of Parquet)."""
    if path.suffix.lower() != ".parquet":
        return frozenset(header)
    import pyarrow as pa
    import pyarrow.parquet as pq

    def text(kind: Any) -> bool:
        kind = kind.value_type if pa.types.is_dictionary(kind) else kind
        return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))

    return frozenset(f.name for f in pq.read_schema(path) if text(f.type))


def check_csv_output(register: Path, out: Path) -> None:
    """A CSV output cannot hold binary cells: refuse a Parquet register with such columns."""
    if out.suffix.lower() == ".parquet" or register.suffix.lower() != ".parquet":
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    binary = [
        f.name for f in pq.read_schema(register) if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)
    ]
    binary += [f.name for f in pq.read_schema(register) if pa.types.is_fixed_size_binary(f.type)]
    if binary:
        raise RegisterError(
            f"{register}: kolumnen/kolumnerna {', '.join(binary)} har binära värden, som en CSV-fil inte kan hålla; "
            f"skriv Parquet (--out med .parquet) eller ta bort kolumnerna (binary columns cannot be written to CSV)"
        )


def text_cell(value: Any) -> str:
    """A Parquet value as the register's text form (true/false, YYYY-MM-DD, digits; empty for null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_count_problem(fields: list[str], header: list[str]) -> str | None:
    """Why a CSV record does not fit the header, if it does not. A blank line counts as a row of
    empty cells (it is then rejected for its empty patient id, as the fast reader sees it)."""
    if fields and len(fields) != len(header):
        return f"raden har {len(fields)} fält men rubrikraden har {len(header)}"
    return None


def read_rows(path: Path) -> tuple[list[str], Iterator[Row]]:
    """The header and the rows of a register, one at a time (CSV: UTF-8, comma-separated; or Parquet).

    Lines are numbered as in the file: the header is line 1, the first contact line 2 (a row after a
    cell holding a line break has a higher number; Parquet rows are numbered as if one a line). A CSV
    row with more or fewer fields than the header is kept with `problem` set, to be rejected.
    """
    header = read_header(path)
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        def parquet_rows() -> Iterator[Row]:
            line = 1
            for batch in pq.ParquetFile(path).iter_batches(batch_size=65536):
                for record in batch.to_pylist():
                    line += 1
                    yield Row(line, {k: text_cell(v) for k, v in record.items()})

        return header, parquet_rows()

    def csv_rows() -> Iterator[Row]:
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                reader = csv.reader(handle)
                next(reader, None)
                line = reader.line_num + 1  # (lines as in the file: a cell may hold line breaks)
                for fields in reader:
                    row = Row(line, dict(zip(header, fields, strict=False)))
                    row.problem = field_count_problem(fields, header)
                    line = reader.line_num + 1
                    yield row
        except UnicodeDecodeError:
            raise encoding_error(path) from None

    return header, csv_rows()


def cell_text(value: Any) -> str:
    """An outcome value as a CSV cell (true/false, amounts with two decimals, empty for none); the
    register pricing words its cells with it too, so that both paths write the same text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def reason_cell(reasons: Sequence[str], missing: Iterable[str]) -> str:
    """The `undetermined_reason` cell: the reasons, and the facts whose absence left the fee open."""
    text = "; ".join(reasons) or "undetermined"
    missing = list(missing)
    return text + (f" (missing: {', '.join(missing)})" if missing else "")


def outcome_cells(outcome: Outcome) -> list[str]:
    """The outcome columns of one priced row."""
    reason = reason_cell(outcome.reasons, outcome.missing) if outcome.undetermined else ""
    values = [
        outcome.fee,
        outcome.list_fee,
        outcome.qualified,
        outcome.registration,
        outcome.contact_points,
        outcome.category.value if outcome.category else None,
        outcome.invoice_home_region,
        outcome.frikort,
        reason,
        None if outcome.undetermined else outcome.confidence,
    ]
    return [cell_text(v) for v in values]


def price_rows(
    book: RuleBook, rows: Iterable[Row], chosen: Selection, summary: Summary, progress: TextIO | None = None
) -> list[Row]:
    """Price valid rows patient by patient; returns them in file order with their outcomes."""
    by_patient: dict[str, list[Row]] = {}
    for row in rows:
        by_patient.setdefault(row.patient_id, []).append(row)
    summary.patients = len(by_patient)
    done = 0
    for n, own in enumerate(by_patient.values(), 1):
        own.sort(key=lambda r: r.contact.date if r.contact else 0)  # stable: ties keep file order
        first = own[0].patient
        assert first is not None
        patient = Patient(home_region=first.home_region, birth_date=first.birth_date)
        visits = [Visit(r.contact, r.region, r.service, r.age) for r in own if r.contact and r.region]
        outcomes, _ = price_contacts(book, patient, visits, chosen)
        for r, o in zip(own, outcomes, strict=True):
            r.outcome = o
        if any(step.rule == "ceiling.frikort-issued" for o in outcomes for step in o.trace):
            summary.patients_reaching_ceiling += 1
        done += len(own)
        if progress is not None and n % 10000 == 0:
            print(f"\rprissatt {done} kontakter för {n} patienter …", end="", file=progress, flush=True)
    if progress is not None and summary.patients >= 10000:
        print(file=progress)
    priced = sorted((r for own in by_patient.values() for r in own), key=lambda r: r.line)
    for r in priced:
        assert r.outcome is not None
        o = r.outcome
        summary.priced += 1
        if o.fee is None:
            summary.undetermined += 1
            continue
        summary.revenue += o.fee
        if uncertain(o.confidence):
            summary.uncertain += 1
        if o.list_fee and o.fee < o.list_fee:
            if any(step.rule in CEILING_STEPS for step in o.trace):
                summary.free_by_ceiling += 1
            else:
                summary.free_by_exemption += 1
    return priced


def rejects_path(out: Path) -> Path:
    """Where the rejected rows go by default: the output's name with `.rejects.csv`."""
    return out.with_suffix(".rejects.csv")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same path, or the same device and inode (a hard link)."""
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))


def output_paths(register: Path, out: Path, rejects: Path | None) -> Path:
    """The rejects file's path, after checking that each output can be written as a file in an
    existing folder and that no output would overwrite the register or the other output."""
    rejects = rejects or rejects_path(out)
    for what, path in (("--out", out), ("--rejects", rejects)):
        if same_file(path, register):
            raise RegisterError(
                f"{path}: {what} är samma fil som registret, som då skulle skrivas över; välj en annan fil "
                "(names the register itself)"
            )
        if path.is_dir():
            raise RegisterError(
                f"{path}: {what} är en mapp; ge ett filnamn, t.ex. {path / ('priced' + register.suffix)} "
                "(a folder, not a file)"
            )
        if not path.parent.is_dir():
            raise RegisterError(
                f"{path}: mappen {path.parent} finns inte; skapa den eller ge {what} en annan plats (no such folder)"
            )
    if same_file(out, rejects):
        raise RegisterError(f"{out}: --out och --rejects anger samma fil; välj två olika filer")
    return rejects


def price_register(
    book: RuleBook,
    register: Path,
    out: Path,
    chosen: Selection,
    rejects: Path | None = None,
    progress: TextIO | None = sys.stderr,
) -> Summary:
    """Read, validate and price a register contact by contact; write the priced rows (CSV) and the rejected ones."""
    if out.suffix.lower() == ".parquet":
        raise RegisterError(
            f"{out}: prissättning kontakt för kontakt skriver bara CSV; ge --out ett namn som slutar på .csv "
            "(the per-contact path writes CSV only)"
        )
    rejects = output_paths(register, out, rejects)
    header, rows = read_rows(register)
    check_csv_output(register, out)
    texts = text_columns(register, header)
    summary = Summary(ignored_columns=[c for c in header if c not in KNOWN_COLUMNS])
    valid: list[Row] = []
    with atomic([out, rejects]) as (good_part, bad_part):
        with bad_part.open("w", encoding="utf-8", newline="") as bad:
            write = csv_writer(bad)
            write(["line", *(neutral(c) for c in header), "reason"])
            firsts: dict[str, Row] = {}
            for row in rows:
                summary.read += 1
                reason = row.problem or parse_row(row)
                if reason is None:
                    reason = _conflict(row, firsts.setdefault(row.patient_id, row))
                if reason is None:
                    valid.append(row)
                else:
                    summary.rejected += 1
                    write([row.line, *shown_cells(row.values, header, texts), reason])
        priced = price_rows(book, valid, chosen, summary, progress)
        with good_part.open("w", encoding="utf-8", newline="") as good:
            write = csv_writer(good)
            write([*(neutral(c) for c in header), *OUTCOME_COLUMNS])
            for row in priced:
                assert row.outcome is not None
                write([*shown_cells(row.values, header, texts), *outcome_cells(row.outcome)])
    assert summary.priced + summary.rejected == summary.read
    return summary
