"""Three-valued conditions: a missing fact is unknown, not false."""

from __future__ import annotations

from typing import Any

import pytest

from patientavgift.conditions import ConditionError, compile_condition

FACTS: dict[str, Any] = {}


def _lookup(facts: dict[str, Any]) -> Any:
    return lambda key: (facts.get(key), frozenset())


def _eval(raw: Any, **facts: Any) -> tuple[bool | None, set[str]]:
    result = compile_condition(raw).evaluate(_lookup(facts), {})
    return result.value, set(result.missing)


def test_all_is_false_as_soon_as_one_part_is_false() -> None:
    cond = {"all": [{"booked": True}, {"medical_assessment": True}]}
    assert _eval(cond, medical_assessment=False) == (False, set())
    assert _eval(cond, medical_assessment=True) == (None, {"booked"})


def test_any_is_true_as_soon_as_one_part_is_true() -> None:
    cond = {"any": [{"initiated_by": "patient"}, {"booked": True}]}
    from patientavgift.model import InitiatedBy

    assert _eval(cond, booked=True) == (True, set())
    assert _eval(cond, booked=False) == (None, {"initiated_by"})
    assert _eval(cond, booked=False, initiated_by=InitiatedBy.provider) == (False, set())


def test_given_never_is_unknown() -> None:
    assert _eval({"given": "visit_form"}) == (False, set())


def test_not_keeps_unknown() -> None:
    assert _eval({"not": {"booked": True}}) == (None, {"booked"})


def test_list_means_one_of() -> None:
    from patientavgift.model import Mode

    assert _eval({"mode": ["phone", "video"]}, mode=Mode.video) == (True, set())
    assert _eval({"mode": ["phone", "video"]}, mode=Mode.written) == (False, set())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"mode": "fax"},
            "'fax' är inte tillåtet för mode; tillåtna värden: physical, phone, video, written, letter, inbox, platform",
        ),
        ({"booked": "yes"}, "'yes' är inte tillåtet för booked; skriv true eller false"),
        ({"bokad": True}, "okänd nyckel 'bokad' i ett villkor"),
        ({"any": []}, "'any' behöver en lista med minst ett villkor"),
    ],
)
def test_malformed_conditions(raw: Any, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        compile_condition(raw)
    assert message in str(info.value)
