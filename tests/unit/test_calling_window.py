"""Calling windows (SPEC §9): open in the recipient's zones, DST-safe, by day of the week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from outdial.logic.calling_window import (
    is_open,
    next_opening,
    open_in_all,
    recipient_zones,
    zones_for,
)
from outdial.models.config import CallingWindow

NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def window(**fields: Any) -> CallingWindow:
    return CallingWindow.model_validate({"from": "09:00", "to": "21:00", **fields})


def at(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)  # type: ignore[misc]


class TestOneZone:
    def test_a_moment_inside_the_window_is_its_own_opening(self) -> None:
        moment = at(KOLKATA, 2026, 12, 1, 10, 30)
        assert next_opening(window(), (KOLKATA,), moment) == moment

    def test_after_hours_waits_for_nine_the_next_morning(self) -> None:
        # Given a leg due at 22:00 in Kolkata with a 09:00-21:00 window
        opening = next_opening(window(), (KOLKATA,), at(KOLKATA, 2026, 12, 1, 22, 0))
        # Then it waits until 09:00 the next day, Kolkata time
        assert opening == at(KOLKATA, 2026, 12, 2, 9, 0)

    def test_before_hours_waits_for_nine_the_same_morning(self) -> None:
        opening = next_opening(window(), (KOLKATA,), at(KOLKATA, 2026, 12, 1, 6, 15))
        assert opening == at(KOLKATA, 2026, 12, 1, 9, 0)

    def test_to_is_exclusive_and_from_inclusive(self) -> None:
        assert is_open(window(), KOLKATA, at(KOLKATA, 2026, 12, 1, 9, 0))
        assert is_open(window(), KOLKATA, at(KOLKATA, 2026, 12, 1, 20, 59, 59))
        assert not is_open(window(), KOLKATA, at(KOLKATA, 2026, 12, 1, 21, 0))

    def test_the_window_is_read_in_its_zone_whatever_the_moment_is_written_in(self) -> None:
        # 03:30 UTC is 09:00 in Kolkata
        moment = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
        assert next_opening(window(), (KOLKATA,), moment) == datetime(
            2026, 12, 1, 3, 30, tzinfo=UTC
        )


class TestDaylightSaving:
    """America/New_York: EDT (-4) until 2026-11-01 02:00, EST (-5) from 2026-03-08 … ."""

    def test_the_night_clocks_go_forward_the_opening_is_nine_local_edt(self) -> None:
        # Given Saturday 22:00 EST, the night before DST starts (Sunday 2026-03-08)
        opening = next_opening(window(), (NEW_YORK,), at(NEW_YORK, 2026, 3, 7, 22, 0))
        # Then the next opening is Sunday 09:00 EDT: 13:00 UTC, not 14:00
        assert opening == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)

    def test_the_night_clocks_go_back_the_opening_is_nine_local_est(self) -> None:
        opening = next_opening(window(), (NEW_YORK,), at(NEW_YORK, 2026, 10, 31, 22, 0))
        assert opening == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)

    def test_an_opening_inside_the_spring_gap_lands_just_after_it(self) -> None:
        # Given a window from 02:30, a local time that does not exist on 2026-03-08
        early = window(**{"from": "02:30"})
        opening = next_opening(early, (NEW_YORK,), at(NEW_YORK, 2026, 3, 8, 0, 0))
        assert opening is not None
        # Then the leg is placed at 03:30 EDT, inside the window, never before it
        assert opening == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
        assert opening.astimezone(NEW_YORK).hour == 3
        assert is_open(early, NEW_YORK, opening)

    def test_the_repeated_hour_in_autumn_is_still_outside_a_nine_oclock_window(self) -> None:
        # 01:30 happens twice on 2026-11-01; both are before 09:00
        first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
        second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
        for moment in (first, second):
            assert moment.astimezone(NEW_YORK).hour == 1
            assert next_opening(window(), (NEW_YORK,), moment) == datetime(
                2026, 11, 1, 14, 0, tzinfo=UTC
            )

    def test_a_window_closing_late_in_the_autumn_night_closes_by_local_time(self) -> None:
        late = window(**{"from": "00:00", "to": "01:45"})
        # 01:40 EST (the second 01:40) is open, 01:50 EST is not
        assert is_open(late, NEW_YORK, datetime(2026, 11, 1, 6, 40, tzinfo=UTC))
        assert not is_open(late, NEW_YORK, datetime(2026, 11, 1, 6, 50, tzinfo=UTC))


class TestDays:
    def test_friday_evening_waits_for_monday_on_a_weekday_window(self) -> None:
        weekdays = window(days=["MON", "TUE", "WED", "THU", "FRI"])
        friday = at(KOLKATA, 2026, 12, 4, 21, 30)
        assert friday.weekday() == 4
        assert next_opening(weekdays, (KOLKATA,), friday) == at(KOLKATA, 2026, 12, 7, 9, 0)

    def test_a_closed_day_is_closed_all_day(self) -> None:
        sundays_off = window(days=["MON", "TUE", "WED", "THU", "FRI", "SAT"])
        sunday_noon = at(KOLKATA, 2026, 12, 6, 12, 0)
        assert not is_open(sundays_off, KOLKATA, sunday_noon)
        assert next_opening(sundays_off, (KOLKATA,), sunday_noon) == at(KOLKATA, 2026, 12, 7, 9)

    def test_days_are_the_recipients_local_days(self) -> None:
        # Monday 02:00 UTC is still Sunday evening in New York: a Monday-only window waits
        monday_only = window(days=["MON"])
        moment = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
        assert moment.astimezone(NEW_YORK).weekday() == 6
        assert next_opening(monday_only, (NEW_YORK,), moment) == at(NEW_YORK, 2026, 12, 7, 9)

    def test_a_weekly_window_across_the_dst_change(self) -> None:
        sundays = window(days=["SUN"])
        opening = next_opening(sundays, (NEW_YORK,), at(NEW_YORK, 2026, 3, 2, 12, 0))
        assert opening == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)


class TestSeveralZones:
    def test_open_only_where_every_zone_is_open(self) -> None:
        zones = (NEW_YORK, LOS_ANGELES)
        # 09:00 in New York is 06:00 in Los Angeles: wait for 09:00 there (12:00 in New York)
        opening = next_opening(window(), zones, at(NEW_YORK, 2026, 12, 1, 9, 0))
        assert opening == at(LOS_ANGELES, 2026, 12, 1, 9, 0)
        assert opening is not None and open_in_all(window(), zones, opening)
        # and 21:00 in New York closes it though Los Angeles is still at 18:00
        assert not open_in_all(window(), zones, at(NEW_YORK, 2026, 12, 1, 21, 0))

    def test_zones_too_far_apart_never_open_together(self) -> None:
        short = window(**{"from": "09:00", "to": "10:00"})
        assert next_opening(short, (KOLKATA, NEW_YORK), at(KOLKATA, 2026, 12, 1, 8)) is None


class TestRecipientZones:
    def test_a_number_gives_its_zone(self) -> None:
        assert [z.key for z in recipient_zones("+12125551234")] == ["America/New_York"]
        assert [z.key for z in recipient_zones("+14155551234")] == ["America/Los_Angeles"]
        (india,) = recipient_zones("+919812345670")
        assert india.utcoffset(datetime(2026, 1, 1)) == timedelta(hours=5, minutes=30)

    def test_a_number_spanning_zones_gives_them_all(self) -> None:
        zones = {z.key for z in recipient_zones("+18005551234")}  # toll-free: all of +1
        assert {"America/New_York", "America/Los_Angeles", "Pacific/Honolulu"} <= zones

    def test_an_unknown_zone_falls_back_to_the_accounts(self) -> None:
        # +882 (international networks) has no zone in phonenumbers' data
        assert recipient_zones("+88213912345") == ()
        assert zones_for(window(), "+88213912345", KOLKATA) == (KOLKATA,)

    def test_a_fixed_zone_ignores_the_number(self) -> None:
        fixed = window(**{"time-zone": "America/New_York"})
        assert zones_for(fixed, "+919812345670", KOLKATA) == (NEW_YORK,)


class TestConfiguration:
    def test_days_default_to_every_day_and_zone_to_the_recipient(self) -> None:
        parsed = window()
        assert parsed.days == ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
        assert parsed.time_zone == "recipient"

    @pytest.mark.parametrize(
        "fields",
        [
            {"from": "21:00", "to": "09:00"},
            {"from": "09:00", "to": "09:00"},
            {"from": "9:00"},
            {"to": "25:00"},
            {"days": []},
            {"days": ["MON", "MON"]},
            {"days": ["MONDAY"]},
            {"time-zone": "Mars/Olympus"},
            {"opens": "09:00"},
        ],
    )
    def test_bad_windows_are_refused(self, fields: dict[str, Any]) -> None:
        with pytest.raises(ValidationError):
            window(**fields)

    def test_to_may_be_the_end_of_the_day(self) -> None:
        whole = window(**{"from": "00:00", "to": "24:00"})
        assert is_open(whole, KOLKATA, at(KOLKATA, 2026, 12, 1, 23, 59, 59))
