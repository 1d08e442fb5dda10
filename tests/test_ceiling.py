"""The high-cost ceiling (högkostnadsskydd) and its 12-month period.

Expected amounts come from facts.md §2.2 (ceiling per year) and §2.5 (regions that raised late);
the period rule from §2.3 (first visit 25 April → frikort to 24 April the next year).
"""

from __future__ import annotations

from datetime import date

import pytest

from patientavgift.ceiling import (
    CAPPED,
    ENDED,
    FRIKORT,
    NO_PERIOD,
    PARTIAL,
    REACHED,
    STARTED,
    UNKNOWN,
    Period,
    ceiling_step,
)
from patientavgift.engine import Visit, period_end, price_contacts
from patientavgift.model import Contact, Mode, Patient, Region, Service
from patientavgift.rules import RuleBook


@pytest.mark.parametrize(
    ("year", "amount"),
    [
        (2012, 1100),
        (2016, 1100),
        (2018, 1100),
        (2019, 1150),
        (2021, 1150),
        (2022, 1200),
        (2023, 1300),
        (2024, 1400),
        (2025, 1450),
        (2026, 1450),
    ],
)
def test_national_ceiling_per_year(book: RuleBook, year: int, amount: int) -> None:
    ceiling = book.ceiling(Region.skane, date(year, 6, 1))
    assert ceiling is not None and ceiling.amount == amount


def test_no_ceiling_without_prisbasbelopp(book: RuleBook) -> None:
    assert book.ceiling(Region.skane, date(2027, 1, 1)) is None


@pytest.mark.parametrize(
    ("region", "day", "amount"),
    [
        (Region.vgr, date(2024, 3, 31), 1300),
        (Region.vgr, date(2024, 4, 1), 1400),
        (Region.skane, date(2024, 3, 31), 1400),
        (Region.jamtland_harjedalen, date(2019, 2, 28), 1100),
        (Region.jamtland_harjedalen, date(2019, 3, 1), 1150),
        (Region.ostergotland, date(2012, 2, 29), 900),
        (Region.ostergotland, date(2012, 3, 1), 1100),
    ],
)
def test_regions_that_raised_late(book: RuleBook, region: Region, day: date, amount: int) -> None:
    ceiling = book.ceiling(region, day)
    assert ceiling is not None and ceiling.amount == amount


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2025, 4, 25), date(2026, 4, 24)),  # 1177's worked example
        (date(2025, 1, 1), date(2025, 12, 31)),
        (date(2024, 2, 29), date(2025, 2, 28)),  # no 29 February: the anniversary is 1 March
        (date(2023, 3, 1), date(2024, 2, 29)),
    ],
)
def test_period_end(start: date, end: date) -> None:
    assert period_end(start) == end


def _rjh_visits(*days: date) -> list[Visit]:
    return [Visit(Contact(date=d, mode=Mode.physical), Region.jamtland_harjedalen, Service.primary_care) for d in days]


def test_partial_payment_then_frikort(book: RuleBook) -> None:
    """400 kr visits against the 2025 ceiling of 1 450 kr: 400, 400, 400, then 250, then frikort."""
    days = [date(2025, 3, d) for d in (3, 10, 17, 24, 31)]
    outcomes, totals = price_contacts(book, Patient(age=40), _rjh_visits(*days))
    assert [o.fee for o in outcomes] == [400, 400, 400, 250, 0]
    assert [o.frikort for o in outcomes] == [False, False, False, False, True]
    assert totals.paid == 1450
    assert totals.frikort_from == date(2025, 3, 24)
    assert totals.ceiling == 1450


def test_frikort_ends_with_the_period(book: RuleBook) -> None:
    """A period that started 2025-03-03 with the ceiling reached ends 2026-03-02; the next day costs again."""
    days = [date(2025, 3, 3), date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1), date(2026, 3, 2), date(2026, 3, 3)]
    outcomes, _ = price_contacts(book, Patient(age=40), _rjh_visits(*days))
    assert [o.fee for o in outcomes] == [400, 400, 400, 250, 0, 400]
    assert outcomes[4].frikort is True
    assert outcomes[5].frikort is False


def test_ceiling_raised_mid_period_applies_without_frikort(book: RuleBook) -> None:
    """1 200 kr paid in a period from 2023-06-01 (ceiling 1 300); in 2024 the ceiling is 1 400."""
    patient = Patient(age=40, paid_in_period=1200, period_start=date(2023, 6, 1))
    outcomes, _ = price_contacts(book, patient, _rjh_visits(date(2024, 1, 10), date(2024, 2, 10)))
    assert [o.fee for o in outcomes] == [200, 0]
    assert outcomes[1].frikort is True


def test_frikort_reached_before_a_rise_is_kept(book: RuleBook) -> None:
    """Ceiling 1 300 reached in 2023: the frikort holds in 2024 for the rest of the 12 months."""
    patient = Patient(age=40)
    days = [date(2023, 9, 1), date(2023, 9, 8), date(2023, 9, 15), date(2023, 9, 22), date(2024, 1, 10)]
    outcomes, totals = price_contacts(book, patient, _rjh_visits(*days))
    assert [o.fee for o in outcomes] == [400, 400, 400, 100, 0]
    assert totals.frikort_from == date(2023, 9, 22)


def test_exempt_patient_starts_no_period(book: RuleBook) -> None:
    """A 17-year-old in Jämtland Härjedalen pays nothing; turning 18 starts the period then."""
    patient = Patient(birth_date=date(2008, 5, 1))
    outcomes, _ = price_contacts(book, patient, _rjh_visits(date(2026, 4, 30), date(2026, 5, 1)))
    assert [(o.fee, o.list_fee) for o in outcomes] == [(0, 400), (400, 400)]
    assert "2026-05-01 – 2027-04-30" in " ".join(s.text for s in outcomes[1].trace)


def test_one_step_per_contact_cuts_the_fee_issues_the_frikort_and_ends_the_period() -> None:
    """`ceiling.ceiling_step` alone, as both the engine and the register scan call it (day numbers,
    kronor, -1 for undetermined): 400 kr contacts against a ceiling of 1 450 kr."""
    first = date(2025, 4, 25).toordinal()
    end = period_end(date(2025, 4, 25)).toordinal()
    fee, state, flags = ceiling_step(NO_PERIOD, first, 400, 1450, end)
    assert (fee, state, flags) == (400, Period(first, end, 400, False, 0), STARTED | CAPPED)
    state = state._replace(paid=1200)
    fee, state, flags = ceiling_step(state, first + 10, 400, 1450, 0)
    assert (fee, state.paid, state.frikort, flags) == (250, 1450, True, CAPPED | PARTIAL | REACHED)
    fee, state, flags = ceiling_step(state, end, 400, 1450, 0)
    assert (fee, flags) == (0, FRIKORT)
    fee, state, flags = ceiling_step(state, end + 1, 400, 1450, end + 366)
    assert (fee, state, flags) == (400, Period(end + 1, end + 366, 400, False, 0), ENDED | STARTED | CAPPED)
    fee, state, flags = ceiling_step(state, end + 2, -1, 1450, 0)  # an undetermined fee: what follows is unknown
    assert (fee, state.unknown, flags) == (-1, 1, 0)
    assert ceiling_step(state, end + 3, 0, 1450, 0)[::2] == (0, UNKNOWN)
    assert ceiling_step(state, end + 3, 400, 1450, 0)[::2] == (-1, UNKNOWN)


def test_an_outcome_tells_what_was_paid_before_it_and_when_its_period_began(book: RuleBook) -> None:
    # Region Jämtland Härjedalen, 2025: the unit fee is 400 kr (the proposal: the fee for 2025) and the
    # ceiling 1 450 kr (facts §2.2, derived): 400 + 400 + 400 paid, the fourth visit pays the last 250 kr.
    from datetime import date

    from patientavgift.engine import Visit, price_contacts
    from patientavgift.model import Contact, Mode, Patient, Region

    days = [date(2025, 1, 13), date(2025, 2, 10), date(2025, 3, 10), date(2025, 4, 7), date(2025, 5, 5)]
    visits = [Visit(Contact(date=d, mode=Mode.physical), Region.jamtland_harjedalen, None) for d in days]
    outcomes, _ = price_contacts(book, Patient(age=50), visits)
    assert [o.fee for o in outcomes] == [400, 400, 400, 250, 0]
    assert [o.paid_before for o in outcomes] == [0, 400, 800, 1200, 1450]
    assert {o.period_start for o in outcomes} == {date(2025, 1, 13)}
