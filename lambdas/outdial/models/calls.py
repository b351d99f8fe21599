"""A call's life: its statuses (SPEC §3)."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class CallStatus(StrEnum):
    SCHEDULED = "SCHEDULED"  # start-time still ahead
    QUEUED = "QUEUED"  # due, waiting for a dialer
    DIALING = "DIALING"
    COMPLETED = "COMPLETED"
    NOT_CONNECTED = "NOT_CONNECTED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


# Not yet taken by a dialer: a cancel, or taking back a request, may still remove these.
WAITING = (CallStatus.SCHEDULED, CallStatus.QUEUED)

TERMINAL = frozenset(
    {CallStatus.COMPLETED, CallStatus.NOT_CONNECTED, CallStatus.FAILED, CallStatus.CANCELLED}
)

_S = CallStatus

# The call state machine (SPEC §3): logic/transitions.py decides with it, and the repositories
# derive their write conditions from it.
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
