"""Synthetic registers: made-up patients and contacts in the register format, for simulation and tests.

Nothing here describes real people. Patient ids start with `SYN-`, the Parquet files carry the
metadata key `synthetic: true`, and every draw comes from a seeded generator, so the same seed
gives the same register. The mixes of contact types below are assumptions made for this handbook
(no source gives them); they only have to be plausible, not exact. The one preset that copies
figures from a source, `rjh_written_2025`, takes those figures from the rule data's source
register (statement `rjh.statistics`), not from this file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .model import Region, Service
from .register import CONTACT_COLUMNS, PROGRAMME_COLUMNS
from .rules import RuleBook

EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Template:
    """One kind of contact in a mix: its weight, the service and its facts as register cells."""

    label: str
    weight: float
    service: Service | None
    facts: dict[str, str]


def _t(label: str, weight: float, service: Service | None, **facts: str) -> Template:
    return Template(label, weight, service, {k.replace("__", "."): v for k, v in facts.items()})


VGR: dict[str, Any] = {
    "service": Service.vardval_rehab,
    "initiated_by": "patient",
    "resolved_by_booking_or_referral": "false",
    "staff": "licensed",
}
"""What the VGR contacts of the mix share: Vårdval Rehab, started by the patient, licensed staff."""


PROGRAMME = {
    "programme__kind": "treatment",
    "programme__ordered_by_licensed": "true",
    "programme__approved_by_region": "true",
    "programme__therapist_support": "true",
    "programme__login_1177": "true",
}

MIXES: dict[Region, list[Template]] = {
    Region.jamtland_harjedalen: [
        _t("fysiskt besök", 45, Service.primary_care, mode="physical", booked="true", purpose="care"),
        _t(
            "bokat telefonsamtal (vård)",
            15,
            Service.primary_care,
            mode="phone",
            booked="true",
            medical_assessment="true",
            purpose="care",
        ),
        _t("videobesök", 5, Service.primary_care, mode="video", booked="true", purpose="care"),
        _t(
            "skriftlig distanskontakt (bokad, medicinsk bedömning)",
            15,
            Service.primary_care,
            mode="written",
            booked="true",
            medical_assessment="true",
            purpose="care",
        ),
        _t("skriftligt administrativt ärende", 5, Service.primary_care, mode="written", purpose="administrative"),
        _t(
            "skriftlig kontakt utan medicinsk bedömning",
            10,
            Service.primary_care,
            mode="written",
            booked="false",
            medical_assessment="false",
        ),
        _t("eget arbete i plattformen", 5, Service.primary_care, mode="platform", programme__kind="treatment"),
    ],
    Region.vgr: [
        _t("bokat telefonsamtal som ersätter besök", 35, **VGR, mode="phone", booked="true", medical_assessment="true"),
        _t(
            "skriftlig kontakt med bedömning (ZV051)",
            20,
            **VGR,
            mode="written",
            booked="true",
            medical_assessment="true",
            kva_codes="ZV051",
        ),
        _t(
            "videobesök",
            20,
            **VGR,
            mode="video",
            booked="true",
            medical_assessment="true",
            kva_codes="ZV051",
            visit_form="individual",
        ),
        _t("telefonsamtal utan bedömning", 15, **VGR, mode="phone", booked="false", medical_assessment="false"),
        _t(
            "skriftlig fråga som leder till bokning",
            10,
            **{**VGR, "resolved_by_booking_or_referral": "true"},
            mode="written",
            booked="false",
            medical_assessment="true",
        ),
    ],
    Region.skane: [
        _t(
            "fysiskt läkarbesök",
            40,
            Service.primary_care,
            mode="physical",
            visit_form="individual",
            profession="doctor",
        ),
        _t(
            "bokat videobesök hos läkare",
            15,
            Service.primary_care,
            mode="video",
            visit_form="individual",
            booked="true",
            fee_info_given="true",
            medical_assessment="true",
            profession="doctor",
        ),
        _t(
            "bokat telefonsamtal med fysioterapeut",
            15,
            Service.primary_care,
            mode="phone",
            booked="true",
            fee_info_given="true",
            medical_assessment="true",
            profession="physiotherapist",
        ),
        _t(
            "chatt i realtid med läkare",
            10,
            Service.primary_care,
            mode="written",
            booked="true",
            fee_info_given="true",
            medical_assessment="true",
            profession="doctor",
            realtime="true",
        ),
        _t(
            "bokat telefonsamtal med sjuksköterska",
            10,
            Service.primary_care,
            mode="phone",
            booked="true",
            fee_info_given="true",
            medical_assessment="true",
            profession="nurse",
        ),
        _t(
            "meddelande i 1177-inkorgen",
            10,
            Service.primary_care,
            mode="inbox",
            medical_assessment="true",
            profession="doctor",
        ),
    ],
    Region.vasterbotten: [
        _t(
            "genomförd modul i behandlingsprogram",
            50,
            Service.internet_treatment_team,
            mode="platform",
            programme_event="module_completed",
            **PROGRAMME,
        ),
        _t(
            "skriftlig veckoavstämning",
            35,
            Service.internet_treatment_team,
            mode="written",
            programme_event="weekly_checkin",
            **PROGRAMME,
        ),
        _t(
            "första bokade besöket",
            8,
            Service.internet_treatment_team,
            mode="video",
            booked="true",
            programme_event="first_visit",
            **PROGRAMME,
        ),
        _t(
            "sista bokade besöket",
            7,
            Service.internet_treatment_team,
            mode="video",
            booked="true",
            programme_event="last_visit",
            **PROGRAMME,
        ),
    ],
}
"""Assumed mixes of contact types per region (weights are relative; no source gives them)."""


def _fact_columns(mix: Sequence[Template]) -> list[str]:
    """The fact columns a mix uses, in the register's order."""
    return [c for c in (*CONTACT_COLUMNS, *PROGRAMME_COLUMNS) if any(c in t.facts for t in mix)]


@dataclass
class Spec:
    """What to generate: a region, a period, how many patients and how many contacts each."""

    region: Region
    start: date
    end: date
    patients: int
    contacts_per_patient: float = 5.0
    mix: list[Template] = field(default_factory=list)
    ages: tuple[int, int] = (0, 95)
    other_home_share: float = 0.03
    """Share of patients registered in another region (their care is invoiced to the home region)."""
    at_least_one: bool = True
    """Every patient has at least one contact (False: the count is Poisson with the given mean, may be 0)."""
    counts: list[int] | None = None
    """Exactly this many contacts per patient (instead of drawing them)."""
    age_at_start: list[int] | None = None
    """Exactly this age per patient at the start of the period (instead of drawing it from `ages`)."""
    kinds: list[int] | None = None
    """Exactly this template of the mix (its index) per contact, in the register's row order (instead of drawing it)."""


def _years_before(day: date, years: int) -> date:
    """The same day and month `years` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, 2, 28)


def _dictionary(values: Sequence[str | None], index: np.ndarray) -> pa.DictionaryArray:
    """A column as codes into a small list of texts (compact in memory and in Parquet)."""
    empty = [i for i, v in enumerate(values) if v is None]  # (an empty cell is a null index, not a null text)
    codes = pa.array(index.astype(np.int32), mask=np.isin(index, empty) if empty else None)
    texts = pa.array(["" if v is None else v for v in values], type=pa.string())
    return pa.DictionaryArray.from_arrays(codes, texts)


def generate(spec: Spec, seed: int) -> pa.Table:
    """A synthetic register for one region and period, as an Arrow table in the register format."""
    people = np.random.default_rng([seed, 0])  # patients first, from their own stream, so that
    rng = np.random.default_rng([seed, 1])  # the same seed gives the same patients whatever the contacts
    low, high = spec.ages
    first, last = (spec.start - EPOCH).days, (spec.end - EPOCH).days
    age_at_start = people.integers(low, high + 1, size=spec.patients)
    offset = people.integers(0, 365, size=spec.patients)
    born = np.minimum(first - age_at_start * 365 - offset, first)
    if spec.age_at_start is not None:  # (the ages are drawn all the same, so that the later draws do not move)
        if len(spec.age_at_start) != spec.patients:
            raise ValueError(f"age_at_start has {len(spec.age_at_start)} ages for {spec.patients} patients")
        # Exactly that age in calendar years on the first day: born in the year up to that birthday.
        latest = np.array([(_years_before(spec.start, a) - EPOCH).days for a in spec.age_at_start], dtype=np.int64)
        earliest = np.array([(_years_before(spec.start, a + 1) - EPOCH).days + 1 for a in spec.age_at_start])
        born = latest - offset % (latest - earliest + 1)
    regions = [r for r in Region if r != spec.region]
    home = np.where(
        people.random(spec.patients) < spec.other_home_share,
        people.integers(0, len(regions), size=spec.patients) + 1,
        0,
    )
    home_texts = [spec.region.value, *(r.value for r in regions)]
    mix = spec.mix or MIXES[spec.region]
    if spec.counts is not None:
        counts = np.array(spec.counts, dtype=np.int64)
    elif spec.at_least_one:
        counts = 1 + rng.poisson(max(spec.contacts_per_patient - 1, 0), size=spec.patients)
    else:
        counts = rng.poisson(max(spec.contacts_per_patient, 0), size=spec.patients)
    n = int(counts.sum())
    patient = np.repeat(np.arange(spec.patients), counts)
    day = rng.integers(first, last + 1, size=n)
    weights = np.array([t.weight for t in mix], dtype=float)
    kind = rng.choice(len(mix), size=n, p=weights / weights.sum())
    if spec.kinds is not None:
        if len(spec.kinds) != n or not all(0 <= k < len(mix) for k in spec.kinds):
            raise ValueError(f"kinds must give one template index below {len(mix)} for each of the {n} contacts")
        kind = np.array(spec.kinds, dtype=np.int64)
    prefix = f"SYN-{spec.region.value}-{seed}-"
    ids = pa.array([f"{prefix}{i:07d}" for i in range(spec.patients)], type=pa.string())
    columns: dict[str, pa.Array] = {
        "patient_id": ids.take(pa.array(patient)),
        "region": _dictionary([spec.region.value], np.zeros(n, dtype=np.int32)),
        "service": _dictionary([t.service.value if t.service else None for t in mix], kind),
        "date": _days(day),
        "birth_date": _days(born).take(pa.array(patient)),
        "home_region": _dictionary(home_texts, home[patient]),
    }
    for column in _fact_columns(mix):
        columns[column] = _dictionary([t.facts.get(column) for t in mix], kind)
    table = pa.table(columns)
    return table.replace_schema_metadata(
        {"synthetic": "true", "generator": "patientavgift.synthetic", "seed": str(seed)}
    )


def _days(days: np.ndarray) -> pa.DictionaryArray:
    """Day numbers as a dictionary column of YYYY-MM-DD texts."""
    unique, index = np.unique(days, return_inverse=True)
    texts = np.datetime_as_string(unique.astype("datetime64[D]")).tolist()
    return _dictionary(texts, index)


def write(table: pa.Table, path: Path) -> Path:
    """Write a register as Parquet (by suffix) or CSV; both say they are synthetic."""
    if path.suffix.lower() == ".parquet":
        pq.write_table(table, path, row_group_size=1_000_000)
    else:
        import pyarrow.csv as pa_csv

        plain = pa.table({name: table.column(name).cast(pa.string()) for name in table.column_names})
        pa_csv.write_csv(plain, path, pa_csv.WriteOptions(quoting_style="needed"))
    return path


def concat(tables: Sequence[pa.Table]) -> pa.Table:
    """Several synthetic registers as one (the dictionaries are unified)."""
    plain = [t.cast(pa.schema([(n, pa.string()) for n in t.column_names])) for t in tables]
    return pa.concat_tables(plain, promote_options="default").replace_schema_metadata({"synthetic": "true"})


# --------------------------------------------------------------------------- presets


def region_year(region: Region, year: int, patients: int, seed: int = 1) -> pa.Table:
    """A region's contacts over one calendar year with the assumed mix."""
    return generate(Spec(region, date(year, 1, 1), date(year, 12, 31), patients), seed)


def benchmark_register(contacts: int, seed: int = 1) -> pa.Table:
    """About `contacts` contacts spread over the four covered regions in 2025 (for benchmarks)."""
    regions = list(MIXES)
    per = contacts // len(regions)
    tables = [
        generate(Spec(r, date(2025, 1, 1), date(2025, 12, 31), max(per // 5, 1)), seed + i)
        for i, r in enumerate(regions)
    ]
    return concat(tables)


RJH_UNITS: dict[str, Service | None] = {
    "primary_care": Service.primary_care,
    "child_psychiatry": Service.child_psychiatry,
    "eating_disorders": Service.eating_disorders,
}
"""The units of the Jämtland Härjedalen statistics, by their key in the statement's figures."""

RJH_AGES: dict[Service | None, tuple[int, int]] = {
    Service.primary_care: (18, 90),
    Service.child_psychiatry: (6, 17),
    Service.eating_disorders: (13, 35),
    None: (18, 90),
}
"""Assumed age ranges of the patients of each unit (children's psychiatry: under 18)."""

CHILD_AGES, ADULT_AGES = (6, 17), (18, 90)
"""Ages at the start of the period of children and of adults when `rjh_written_2025` is given a share under 18."""


def rjh_figures(book: RuleBook) -> dict[str, object]:
    """The figures of the Jämtland Härjedalen proposal (written contacts January–May 2025, by unit)."""
    figures = book.statements["rjh.statistics"][1].figures
    if not figures:
        raise ValueError(
            "the statement rjh.statistics in rules/sources.yaml has no figures; the preset needs the written "
            "contacts per unit under its `figures:` key"
        )
    return dict(figures)


JH = Region.jamtland_harjedalen


def _exact_count(share: float, of: int) -> int:
    """`share` of `of`, rounded half up to a whole number."""
    return math.floor(share * of + 0.5)


def rjh_written_2025(
    book: RuleBook,
    seed: int = 2025,
    visits_per_patient: float = 2.0,
    qualified_share: float = 1.0,
    under_18_share: float | None = None,
) -> pa.Table:
    """Synthetic contacts of Jämtland Härjedalen, January–May 2025, matching the proposal's statistics.

    The register holds exactly as many written distance contacts per unit as the proposal reports;
    contacts that the source leaves without a unit get no service. Each patient also has some
    physical visits (an assumption: the source does not say), because those count towards the same
    high-cost ceiling.

    `qualified_share`: the share of each unit's written contacts that are qualified care (booked,
    with a medical assessment; rounded half up to whole contacts); the others are administrative.
    The default, 1, makes every one qualified.
    `under_18_share`: the share of each unit's patients who are under 18 at the start of the period
    (rounded half up to whole patients; ages 6–17, the others 18–90), the same in every unit. The
    default, None, keeps each unit's assumed age range (`RJH_AGES`).
    Other values than the defaults keep the same patients, contacts and dates; only the kinds of
    written contact or the ages change.
    """
    if not 0 <= qualified_share <= 1:
        raise ValueError(f"qualified_share must lie between 0 and 1, not {qualified_share}")
    if under_18_share is not None and not 0 <= under_18_share <= 1:
        raise ValueError(f"under_18_share must lie between 0 and 1, not {under_18_share}")
    figures = rjh_figures(book)
    start, end = date.fromisoformat(str(figures["period_from"])), date.fromisoformat(str(figures["period_to"]))
    total = int(str(figures["written_contacts"]))
    units: list[tuple[Service | None, int]] = [(s, int(str(figures[k]))) for k, s in RJH_UNITS.items()]
    units.append((None, total - sum(c for _, c in units)))
    written = {"mode": "written", "booked": "true", "medical_assessment": "true", "purpose": "care"}
    administrative = {"mode": "written", "booked": "false", "medical_assessment": "false", "purpose": "administrative"}
    visit = {"mode": "physical", "booked": "true", "purpose": "care"}
    tables = []
    rng = np.random.default_rng(seed)
    for i, (service, count) in enumerate(units):
        if count <= 0:
            continue
        # Patients with 1–4 written contacts each, so that the count is met exactly.
        per_patient: list[int] = []
        while sum(per_patient) < count:
            per_patient.append(min(int(rng.integers(1, 5)), count - sum(per_patient)))
        patients = len(per_patient)
        ages = RJH_AGES[service]
        mix = [Template("skriftlig distanskontakt", 1, service, written)]
        kinds = None
        if qualified_share < 1:  # (from their own stream: the patients and dates stay the same)
            mix.append(Template("skriftligt administrativt ärende", 0, service, administrative))
            chosen = np.random.default_rng([seed, 3, i]).permutation(count)[
                : count - _exact_count(qualified_share, count)
            ]
            kinds = np.isin(np.arange(count), chosen).astype(int).tolist()
        age_at_start = None
        if under_18_share is not None:
            draw = np.random.default_rng([seed, 4, i])
            children = draw.permutation(patients)[: _exact_count(under_18_share, patients)]
            (child_low, child_high), (adult_low, adult_high) = CHILD_AGES, ADULT_AGES
            adult = draw.integers(adult_low, adult_high + 1, size=patients)
            child = draw.integers(child_low, child_high + 1, size=patients)
            age_at_start = np.where(np.isin(np.arange(patients), children), child, adult).tolist()
        tables.append(
            generate(
                Spec(
                    JH,
                    start,
                    end,
                    patients,
                    mix=mix,
                    ages=ages,
                    other_home_share=0,
                    counts=per_patient,
                    age_at_start=age_at_start,
                    kinds=kinds,
                ),
                seed + i,
            )
        )
        # The same seed gives the same patients (ids, birth dates) with their visits.
        mix = [Template("fysiskt besök", 1, service, visit)]
        visits = Spec(
            JH,
            start,
            end,
            patients,
            visits_per_patient,
            mix,
            ages,
            other_home_share=0,
            at_least_one=False,
            age_at_start=age_at_start,
        )
        tables.append(generate(visits, seed + i))
    return concat(tables)


def written_contacts(table: pa.Table, start: date, end: date) -> dict[str, int]:
    """Count the written contacts (rows with mode `written`) of a register per service, within a period."""
    import pyarrow.compute as pc

    mask = pc.and_(
        pc.equal(table.column("mode").cast(pa.string()), "written"),
        pc.and_(
            pc.greater_equal(table.column("date").cast(pa.string()), start.isoformat()),
            pc.less_equal(table.column("date").cast(pa.string()), end.isoformat()),
        ),
    )
    services = table.filter(mask).column("service").cast(pa.string()).to_pylist()
    counts: dict[str, int] = {}
    for s in services:
        counts[s or ""] = counts.get(s or "", 0) + 1
    return counts


def shift_years(table: pa.Table, years: int) -> pa.Table:
    """The same contacts `years` later (same day and month; 29 February becomes 1 March).

    Birth dates stay, so every patient is older by as many years: the same people, a later year.
    """

    def later(text: str | None) -> str | None:
        if not text:
            return text
        day = date.fromisoformat(text)
        try:
            return day.replace(year=day.year + years).isoformat()
        except ValueError:
            return date(day.year + years, 3, 1).isoformat()

    dates = table.column("date").cast(pa.string()).combine_chunks().dictionary_encode()
    moved = pa.array([later(t) for t in dates.dictionary.to_pylist()], type=pa.string())
    shifted = pa.DictionaryArray.from_arrays(dates.indices, moved)
    return table.set_column(table.schema.get_field_index("date"), "date", shifted)
