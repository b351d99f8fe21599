"""Dialling policy (SPEC §9) where acceptance and the dialer meet it.

- ``Policy.screen``: at acceptance, a call whose every number is on the do-not-call list is
  rejected 604, one whose every other number is at its frequency cap for the call's start is
  rejected 605, and a call due outside its flow's calling window is due at the window's next
  opening instead.
- ``Policy.gate``: just before a leg is placed, whether to place it, skip it (listed) or let it
  wait (window closed, cap reached). The cap is taken here, with a conditional write.

Both lean on the pure rules of ``calling_window`` and ``frequency_cap``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from outdial.adapters.dnc_store import DncStore
from outdial.adapters.placements_store import Placements, PlacementsStore
from outdial.contract import (
    DEFER_REASONS,
    SKIP_DNC,
    SKIP_REASONS,
    SKIP_WINDOW,
    WAIT_CAP,
    WAIT_WINDOW,
)
from outdial.logic import frequency_cap
from outdial.logic.calling_window import next_opening, zones_for
from outdial.logic.validation import RejectedCall, ValidCall
from outdial.models.codes import Code
from outdial.models.config import CallingWindow, FlowView

__all__ = ["DEFER_REASONS", "SKIP_DNC", "SKIP_REASONS", "SKIP_WINDOW", "WAIT_CAP", "WAIT_WINDOW"]


@dataclass(frozen=True)
class Place:
    """Place the leg now."""


@dataclass(frozen=True)
class Skip:
    """Never place this leg (``reason`` is its ``skip-reason``); move on."""

    reason: str


@dataclass(frozen=True)
class Wait:
    """Not yet: the call waits until ``until``."""

    until: datetime
    reason: str


Gate = Place | Skip | Wait
PLACE = Place()


def opening(
    window: CallingWindow | None, number: str, zone: ZoneInfo, at: datetime
) -> datetime | None:
    """When a leg to ``number`` due ``at`` may first be placed under ``window``: ``at`` itself
    when open (or no window), None when the window never opens for the number."""
    if window is None:
        return at
    return next_opening(window, zones_for(window, number, zone), at)


def screen_call(
    call: ValidCall,
    listed: set[str],
    placed: dict[str, Placements],
    cap: int | None,
    window: CallingWindow | None,
    zone: ZoneInfo,
) -> ValidCall | RejectedCall:
    """One accepted call against the account's list and caps and the flow's window (pure)."""
    numbers = [n for n in call.contact_numbers if n not in listed]
    if not numbers:
        return RejectedCall(
            call.client_identifier,
            Code.NUMBER_ON_DNC,
            "every contact number is on the account's do-not-call list",
        )
    due = int(call.due_at.timestamp())
    if cap is not None and all(
        frequency_cap.wait_until(placed.get(n, {}), cap, due) is not None for n in numbers
    ):
        return RejectedCall(
            call.client_identifier,
            Code.FREQUENCY_CAP_EXCEEDED,
            f"every contact number has had {cap} calls in the 24 h before the start-time",
        )
    openings = [o for n in numbers if (o := opening(window, n, zone, call.due_at)) is not None]
    if not openings:
        return RejectedCall(
            call.client_identifier,
            Code.INVALID_FORMAT,
            "the flow's calling-window never opens in every time zone of a contact number",
        )
    first = openings[0]  # the first number that may be dialled decides when the call starts
    if first > call.due_at:
        return replace(call, due_at=first, immediate=False)
    return call


@dataclass
class Policy:
    """The adapters the policy reads and writes (tests hand in their own)."""

    dnc: DncStore = field(default_factory=DncStore)
    placements: PlacementsStore = field(default_factory=PlacementsStore)

    def screen(
        self, results: Sequence[ValidCall | RejectedCall], view: FlowView
    ) -> list[ValidCall | RejectedCall]:
        """Every call of a request, with batched reads: one ``BatchGetItem`` per 100 distinct
        numbers for the list, as many again for the caps when the account has one."""
        valid = [r for r in results if isinstance(r, ValidCall)]
        if not valid:
            return list(results)
        account = view.account
        numbers = {n for call in valid for n in call.contact_numbers}
        listed = self.dnc.listed(account.account_id, numbers)
        cap = account.max_calls_per_number_per_day
        placed = (
            self.placements.read_many(account.account_id, numbers - listed)
            if cap is not None
            else {}
        )
        window = view.flow.calling_window
        return [
            screen_call(r, listed, placed, cap, window, account.zone)
            if isinstance(r, ValidCall)
            else r
            for r in results
        ]

    def gate(self, view: FlowView, number: str, leg_id: str, now: datetime) -> Gate:
        """Whether the leg ``leg_id`` to ``number`` may be placed now. When it may and the
        account caps numbers, the leg is counted against the cap before this returns."""
        account = view.account
        if self.dnc.listed_since(account.account_id, number) is not None:
            return Skip(SKIP_DNC)
        window = view.flow.calling_window
        opens = opening(window, number, account.zone, now)
        if opens is None:
            return Skip(SKIP_WINDOW)
        if opens > now:
            return Wait(opens, WAIT_WINDOW)
        cap = account.max_calls_per_number_per_day
        if cap is not None:
            free = frequency_cap.take(self.placements, account.account_id, number, leg_id, cap, now)
            if free is not None:
                return Wait(opening(window, number, account.zone, free) or free, WAIT_CAP)
        return PLACE

    def uncount(self, view: FlowView, number: str, leg_id: str) -> None:
        """A leg the gateway refused was never placed: it no longer counts against the cap."""
        if view.account.max_calls_per_number_per_day is not None:
            frequency_cap.release(self.placements, view.account.account_id, number, leg_id)
