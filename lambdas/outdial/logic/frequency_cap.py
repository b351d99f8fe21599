"""Frequency caps (SPEC §9): at most N legs placed to a number in any rolling 24 h, across
every flow of the account.

The rule is pure (``wait_until``); ``take`` applies it to the stored placements with an
optimistic, conditional write, so of two dialers racing for a number's last free place exactly
one gets it, and a leg counts once however often it is retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

DAY_SECONDS = 24 * 3600
# Attempts at the conditional write before giving up (a number dialled by many dialers at
# once); each round reads the winner's write and decides again.
MAX_ROUNDS = 8


class PlacementLog(Protocol):
    def read(self, account_id: str, number: str) -> tuple[dict[str, int], int]: ...

    def write(
        self,
        account_id: str,
        number: str,
        placements: dict[str, int],
        version: int,
        expires_at: int,
    ) -> bool: ...


class CapContention(Exception):
    """The placements kept changing under us: the leg is retried with its message."""


def wait_until(placements: Mapping[str, int], cap: int, at: int) -> int | None:
    """None when one more leg may be placed at ``at`` (epoch seconds) without more than ``cap``
    in the 24 h ending then; else the first moment it may (never more than 24 h on).

    A placement stamped after ``at`` counts too: it was written by a dialer whose clock read
    later (another container's, or this one's a moment on), and it is in the same 24 h."""
    recent = sorted(t for t in placements.values() if t > at - DAY_SECONDS)
    if len(recent) < cap:
        return None
    # The window must lose len - cap + 1 placements: the oldest of those that must go last.
    return recent[len(recent) - cap] + DAY_SECONDS


def take(
    log: PlacementLog, account_id: str, number: str, leg_id: str, cap: int, now: datetime
) -> datetime | None:
    """Count ``leg_id`` as placed to ``number`` now if the cap allows; None when it may be
    placed (counted now, or already), else when it may be."""
    epoch = int(now.timestamp())
    for _ in range(MAX_ROUNDS):
        placements, version = log.read(account_id, number)
        if leg_id in placements:
            return None  # counted by an earlier try of this same leg
        recent = {leg: t for leg, t in placements.items() if t > epoch - DAY_SECONDS}
        free = wait_until(recent, cap, epoch)
        if free is not None:
            return datetime.fromtimestamp(free, UTC)
        if log.write(
            account_id, number, recent | {leg_id: epoch}, version, epoch + DAY_SECONDS + 3600
        ):
            return None
    raise CapContention(f"placements of one number kept changing over {MAX_ROUNDS} tries")


def release(log: PlacementLog, account_id: str, number: str, leg_id: str) -> None:
    """Uncount a leg the gateway refused outright (it was never placed)."""
    for _ in range(MAX_ROUNDS):
        placements, version = log.read(account_id, number)
        if leg_id not in placements:
            return
        rest = {leg: t for leg, t in placements.items() if leg != leg_id}
        latest = max(rest.values(), default=0)
        if log.write(account_id, number, rest, version, latest + DAY_SECONDS + 3600):
            return
