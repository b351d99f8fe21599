"""Acceptance's view of the dialling policy (SPEC §9): one call against the account's list, its
caps and the flow's window, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from outdial.logic.policy import screen_call
from outdial.logic.validation import RejectedCall, ValidCall
from outdial.models.codes import Code
from outdial.models.config import CallingWindow

KOLKATA = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 12, 1, 4, 30, tzinfo=UTC)  # 10:00 in Kolkata
A, B = "+919812345670", "+919812345671"
T = int(NOW.timestamp())


def valid(*numbers: str, due: datetime = NOW, immediate: bool = True) -> ValidCall:
    return ValidCall("c-1", due, due, numbers, immediate)


def screen(call: ValidCall, **kwargs: object) -> ValidCall | RejectedCall:
    options: dict[str, object] = {"listed": set(), "placed": {}, "cap": None, "window": None}
    options.update(kwargs)
    return screen_call(call, zone=KOLKATA, **options)  # type: ignore[arg-type]


def test_nothing_configured_changes_nothing() -> None:
    call = valid(A, B)
    assert screen(call) is call


def test_every_number_listed_is_604_and_one_unlisted_is_enough() -> None:
    rejected = screen(valid(A, B), listed={A, B})
    assert isinstance(rejected, RejectedCall) and rejected.code is Code.NUMBER_ON_DNC
    assert rejected.client_identifier == "c-1"
    assert isinstance(screen(valid(A, B), listed={A}), ValidCall)


def test_every_unlisted_number_at_the_cap_is_605() -> None:
    placed = {A: {"leg": T - 60}, B: {"leg": T - 60}}
    rejected = screen(valid(A, B), placed=placed, cap=1)
    assert isinstance(rejected, RejectedCall) and rejected.code is Code.FREQUENCY_CAP_EXCEEDED
    # one number under its cap, or the other listed and this one free, lets the call through
    assert isinstance(screen(valid(A, B), placed={A: {"leg": T - 60}}, cap=1), ValidCall)
    assert isinstance(screen(valid(A, B), placed={A: {"leg": T}}, listed={A}, cap=1), ValidCall)
    # and the cap is read at the start-time: a day later the placement no longer counts
    later = valid(A, due=NOW + timedelta(days=1), immediate=False)
    assert isinstance(screen(later, placed={A: {"leg": T - 60}}, cap=1), ValidCall)


def test_a_call_due_outside_its_window_is_due_at_the_opening() -> None:
    evening = CallingWindow.model_validate({"from": "18:00", "to": "21:00"})
    moved = screen(valid(A), window=evening)
    assert isinstance(moved, ValidCall)
    assert moved.due_at == datetime(2026, 12, 1, 18, tzinfo=KOLKATA)
    assert moved.immediate is False
    assert moved.start_time == NOW  # what the customer asked for is kept


def test_the_first_number_not_listed_decides_the_opening() -> None:
    # A (India) is listed; B is a New York number whose 09:00 comes later
    window = CallingWindow.model_validate({"from": "09:00", "to": "21:00"})
    moved = screen(valid(A, "+12125551234"), listed={A}, window=window)
    assert isinstance(moved, ValidCall)
    assert moved.due_at == datetime(2026, 12, 1, 9, tzinfo=ZoneInfo("America/New_York"))


def test_a_window_that_never_opens_for_any_number_is_refused() -> None:
    window = CallingWindow.model_validate({"from": "09:00", "to": "09:30", "days": ["MON"]})
    # A US toll-free number rings from Guam to Hawaii: no half hour is 09:00 in all its zones
    never = screen(valid("+18005551234"), window=window)
    assert isinstance(never, RejectedCall) and never.code is Code.INVALID_FORMAT
