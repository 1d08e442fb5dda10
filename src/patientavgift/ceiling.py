"""The 12-month high-cost period (högkostnadsskydd) as one step per contact.

`ceiling_step` is the only place where the period, the running sum, the partial fee and the
frikort are worked out. `engine.price_contacts` calls it contact by contact and turns its flags
into trace steps; the register pricing (`batch`) compiles the same function with numba and calls
it in its scan over each patient's contacts. So the two can only agree. It takes and returns
plain integers and booleans (days as day numbers, amounts in kronor, -1 for "none" or
"undetermined"), which is what lets numba compile it unchanged.
"""

from __future__ import annotations

from typing import NamedTuple


class Period(NamedTuple):
    """What is known of a patient's high-cost period before a contact."""

    start: int
    """First day of the running period (a day number), -1 when no period runs."""
    end: int
    """Last day of the running period (the day before its anniversary), -1 when no period runs."""
    paid: int
    """Kronor paid towards the ceiling in the running period."""
    frikort: bool
    """Whether the patient holds a frikort for the rest of the period."""
    unknown: int
    """0 while the state is known; otherwise why it is not (`EARLIER_FEE`, `EARLIER_CEILING`, or a
    code of the caller's own, e.g. the engine's doubt about a frikort held at the start)."""


NO_PERIOD = Period(-1, -1, 0, False, 0)
"""A patient with no running period and nothing paid."""

EARLIER_FEE = 1
"""`Period.unknown`: an earlier contact's fee could not be determined."""
EARLIER_CEILING = 2
"""`Period.unknown`: the ceiling of an earlier contact is not in the rule data."""

# Flags: what happened at a contact (the engine writes one trace step for each).
ENDED = 1
"""The running period ended before this contact."""
STARTED = 2
"""This contact's fee started a new period."""
FRIKORT = 4
"""The patient held a frikort: the fee is 0."""
CAPPED = 8
"""The fee was measured against the ceiling (fee = the smaller of the net fee and what is left)."""
PARTIAL = 16
"""The ceiling cut the fee: the contact pays only what is left up to the ceiling."""
REACHED = 32
"""This contact's fee reached the ceiling: a frikort for the rest of the period."""
UNKNOWN = 64
"""The state was unknown before the contact (`Period.unknown`): the frikort status is unknown, and
so is the fee unless the net fee is 0."""
NO_CEILING = 128
"""No ceiling in the rule data for the contact: its positive fee is undetermined."""

LOWERED = FRIKORT | PARTIAL | REACHED
"""Flags under which the ceiling bears on the fee."""


def ceiling_step(state: Period, day: int, net: int, ceiling: int, new_end: int) -> tuple[int, Period, int]:
    """One contact through the high-cost period: its fee, the period after it and what happened.

    `day` is the contact's day number; `net` its fee after the age exemption (-1: undetermined);
    `ceiling` the amount in force in the care region on the day (-1: not in the rule data);
    `new_end` the last day of a period that would start on `day` (see `engine.period_end`; the
    caller works out the calendar). Contacts come in date order. Returns the fee (-1:
    undetermined), the new state and the flags above.
    """
    start, end, paid, frikort, unknown = state
    flags = 0
    if start >= 0 and day > end:
        start, end, paid, frikort = -1, -1, 0, False
        flags |= ENDED
    fee = -1
    if unknown != 0:
        flags |= UNKNOWN
        if net == 0:
            fee = 0
    elif frikort:
        flags |= FRIKORT
        fee = 0
    elif net < 0:
        unknown = EARLIER_FEE
    elif net == 0:
        fee = 0
    elif ceiling < 0:
        flags |= NO_CEILING
        unknown = EARLIER_CEILING
    else:
        if start < 0:
            start, end, paid = day, new_end, 0
            flags |= STARTED
        fee = min(net, max(ceiling - paid, 0))
        flags |= CAPPED
        if fee < net:
            flags |= PARTIAL
        paid += fee
        if paid >= ceiling:
            frikort = True
            flags |= REACHED
    return fee, Period(start, end, paid, frikort, unknown), flags
