"""Calling windows (SPEC §9): when a leg to a number may be placed. Pure: no I/O, no clock.

A window is evaluated in every zone the number may ring in; it is open only when it is open in
all of them. Moments are compared as aware datetimes (UTC underneath), so a daylight-saving
change neither skips nor repeats an opening: each day's opening is its local ``from`` time
turned into an instant with that day's offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_zones

from outdial.models.config import RECIPIENT, CallingWindow, minutes_of

# Far enough to see every weekday once in every zone, with a day to spare for offsets.
HORIZON_DAYS = 8


@lru_cache(maxsize=4096)
def recipient_zones(number: str) -> tuple[ZoneInfo, ...]:
    """The zones an E.164 number may ring in, from phonenumbers' time-zone data; () when it
    knows none (the caller then uses the account's zone)."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ()
    zones: list[ZoneInfo] = []
    for name in phone_zones.time_zones_for_number(parsed):
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue  # phonenumbers' "Etc/Unknown", or a name this system's tz data lacks
    return tuple(zones)


def zones_for(window: CallingWindow, number: str, account_zone: ZoneInfo) -> tuple[ZoneInfo, ...]:
    """Where ``window`` is read for a leg to ``number``: its fixed zone, else the recipient's
    zones, else the account's."""
    if window.time_zone != RECIPIENT:
        return (ZoneInfo(window.time_zone),)
    return recipient_zones(number) or (account_zone,)


def is_open(window: CallingWindow, zone: ZoneInfo, moment: datetime) -> bool:
    """True when ``moment`` lies inside the window in ``zone``."""
    local = moment.astimezone(zone)
    if local.weekday() not in window.weekdays:
        return False
    minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    return minutes_of(window.from_) <= minute < minutes_of(window.to)


def open_in_all(window: CallingWindow, zones: tuple[ZoneInfo, ...], moment: datetime) -> bool:
    return all(is_open(window, zone, moment) for zone in zones)


def next_opening(
    window: CallingWindow, zones: tuple[ZoneInfo, ...], moment: datetime
) -> datetime | None:
    """The earliest instant at or after ``moment`` when the window is open in every zone:
    ``moment`` itself when it is open now; None when the zones' windows never overlap (a number
    spread over zones too far apart for one window).

    Where several windows overlap, the overlap begins at ``moment`` or at one zone's opening,
    so those are the only candidates to try.
    """
    # In UTC throughout: aware datetimes sharing a tzinfo compare by wall clock, not instant.
    moment = moment.astimezone(UTC)
    candidates = {moment}
    for zone in zones:
        start = moment.astimezone(zone).date() - timedelta(days=1)
        for offset in range(HORIZON_DAYS + 1):
            day = start + timedelta(days=offset)
            if day.weekday() not in window.weekdays:
                continue
            # A local time inside a spring-forward gap reads with the earlier offset, i.e. it
            # lands just after the gap: still inside the window, never before it.
            opening = datetime.combine(day, window.opens, tzinfo=zone).astimezone(UTC)
            if opening > moment:
                candidates.add(opening)
    for candidate in sorted(candidates):
        if open_in_all(window, zones, candidate):
            return candidate
    return None
