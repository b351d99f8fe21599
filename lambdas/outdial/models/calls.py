"""A call's life: its statuses (SPEC §3)."""

from __future__ import annotations

from enum import StrEnum


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
