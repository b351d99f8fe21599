"""The call state machine: which status may follow which, and what to do after a leg ends.

Pure: no I/O, no clock. The dialer applies a move with a conditional write whose condition is
``status IN ALLOWED-sources``, so a late or duplicate event can never move a call out of a
terminal status (terminals allow nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from outdial.adapters.gateways.base import LegOutcome
from outdial.models.calls import CallStatus

_S = CallStatus

ALLOWED: Final[dict[CallStatus, frozenset[CallStatus]]] = {
    # A dialer may pick up a due call before anything marked it QUEUED.
    _S.SCHEDULED: frozenset({_S.QUEUED, _S.DIALING, _S.CANCELLED}),
    # Back to SCHEDULED when a reschedule moves a due call to a later time.
    _S.QUEUED: frozenset({_S.DIALING, _S.CANCELLED, _S.SCHEDULED}),
    # Back to SCHEDULED while waiting for the next attempt (cancellable again then). FAILED
    # covers a call that could not be dialled at all (every leg refused, no enabled DID).
    _S.DIALING: frozenset({_S.SCHEDULED, _S.COMPLETED, _S.NOT_CONNECTED, _S.FAILED}),
    _S.COMPLETED: frozenset(),
    _S.NOT_CONNECTED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
}
"""For each status, the statuses a call may move to from it."""


def can_move(src: CallStatus, dst: CallStatus) -> bool:
    """True when a call in ``src`` may move to ``dst``."""
    return dst in ALLOWED[src]


def sources_of(dst: CallStatus) -> frozenset[CallStatus]:
    """The statuses from which a call may move to ``dst`` (for a write's condition)."""
    return frozenset(src for src, dsts in ALLOWED.items() if dst in dsts)


REFUSED: Final = "REFUSED"
"""A leg that was never placed: the gateway refused it (or stayed unavailable), or no DID."""

LegEnd = LegOutcome | Literal["REFUSED"]


@dataclass(frozen=True)
class LegResult:
    """A call just after one of its legs ended.

    ``attempt`` is 1-based, ``number_index`` 0-based into the call's ``numbers`` contact
    numbers. ``placed_before`` says whether an earlier leg of the call was ever placed (refused
    legs do not count); this leg counts as placed unless its ``outcome`` is ``REFUSED``.

    ``attempt_outcomes`` are the stored outcomes of this attempt's legs, this one included (a
    refused leg's is ``FAILED``, a skipped one's ``SKIPPED``): another attempt follows only if
    one of them is in the flow's ``retry_on`` (SPEC §9). None: not known, retry as before.
    """

    attempt: int
    number_index: int
    numbers: int
    max_attempts: int
    retry_after_seconds: int
    outcome: LegEnd
    placed_before: bool
    now: datetime
    retry_on: frozenset[str] = frozenset({"NO_ANSWER", "BUSY", "FAILED"})
    attempt_outcomes: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.numbers < 1:
            raise ValueError("a call has at least one number")
        if not 0 <= self.number_index < self.numbers:
            raise ValueError(f"number_index {self.number_index} outside 0..{self.numbers - 1}")
        if self.attempt < 1 or self.max_attempts < 1:
            raise ValueError("attempt and max_attempts are 1-based")
        if self.retry_after_seconds < 0:
            raise ValueError("retry_after_seconds must not be negative")
        if self.outcome != REFUSED and not isinstance(self.outcome, LegOutcome):
            raise ValueError(f"unknown leg outcome {self.outcome!r}")


@dataclass(frozen=True)
class DialNext:
    """Dial the next number of the same attempt now (the call stays DIALING)."""

    attempt: int
    number_index: int


@dataclass(frozen=True)
class RetryLater:
    """Every number of this attempt tried: start attempt ``attempt`` from the first number
    ``at`` (the call goes back to SCHEDULED)."""

    attempt: int
    at: datetime
    number_index: int = 0


@dataclass(frozen=True)
class Finish:
    """The call ends in ``status``; ``connected_number_index`` is set for COMPLETED only."""

    status: CallStatus
    connected_number_index: int | None = None


Decision = DialNext | RetryLater | Finish


def decide(after: LegResult) -> Decision:
    """What follows the leg that just ended.

    ANSWERED completes the call; UNKNOWN (the gateway never told) fails it. Anything else (a
    refusal included) moves on to the next number;
    after the last number, the next attempt is scheduled ``retry_after_seconds`` later while
    ``max_attempts`` allows and one of the attempt's outcomes is one the flow retries on. With
    nothing left, the call is NOT_CONNECTED if any leg was ever
    placed, else FAILED: it could not be dialled at all.
    """
    if after.outcome == LegOutcome.ANSWERED:
        return Finish(CallStatus.COMPLETED, connected_number_index=after.number_index)
    if after.outcome == LegOutcome.UNKNOWN:
        # The person may be on the line: no further number, no retry (SPEC §11).
        return Finish(CallStatus.FAILED)
    if after.number_index + 1 < after.numbers:
        return DialNext(attempt=after.attempt, number_index=after.number_index + 1)
    # ``<``, not ``!=``: a flow's max-attempts may have been lowered below a running attempt.
    retry = after.attempt_outcomes is None or bool(after.attempt_outcomes & after.retry_on)
    if after.attempt < after.max_attempts and retry:
        return RetryLater(
            attempt=after.attempt + 1,
            at=after.now + timedelta(seconds=after.retry_after_seconds),
        )
    placed = after.placed_before or after.outcome != REFUSED
    return Finish(CallStatus.NOT_CONNECTED if placed else CallStatus.FAILED)
