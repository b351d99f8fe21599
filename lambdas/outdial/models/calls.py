"""A call's life: its statuses and their state machine (SPEC §3), and the call as the dialer
sees it (``Call``, with the ``Attempt`` of each leg dialled)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from outdial.models.legs import LegEnding, LegRecord, LegState


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


@dataclass(frozen=True)
class Attempt:
    """One leg as its call records it (the call's ``legs``): what ``<call>`` shows of each dial,
    attempt ``attempt`` (1-based) of number ``number_index`` (0-based) from ``did``, and the
    leg's own state, kept nowhere else: claimed by a dialer at ``claimed_epoch``, set aside for
    pace, placed with ``gateway_id`` (its id there ``gateway_ref``, its outcome due by
    ``deadline_at``), or ended."""

    attempt: int
    number_index: int
    number: str
    did: str | None
    outcome: str | None = None  # a LegOutcome, or SKIPPED; None while the leg is out
    started_at: str | None = None  # from its claim until placed, then from its placing
    ended_at: str | None = None
    duration_seconds: int | None = None
    placed: bool | None = None  # known once it ended
    reason: str | None = None  # why it was never placed, skipped (SPEC §9), or ended UNKNOWN
    state: LegState = LegState.ENDED
    claimed_epoch: int = 0  # until it ends
    gateway_id: str | None = None
    gateway_ref: str | None = None  # the gateway's own id for it, if it gave one
    deadline_at: int | None = None  # until it ends: when its outcome is due (epoch seconds)
    placed_at: str | None = None  # until it ends: when the gateway took it (its started_at)
    notified: bool = False  # its leg.ended webhook was queued

    @property
    def skip_reason(self) -> str | None:
        """Why the policy skipped it (SPEC §9), if it did."""
        return self.reason if self.outcome == "SKIPPED" else None


def leg_of(call: Call, leg_id: str) -> LegRecord | None:
    """Leg ``leg_id`` of ``call`` as its entry records it; None when the call has no such leg."""
    entry = call.legs.get(leg_id)
    if entry is None:
        return None
    return LegRecord(
        leg_id=leg_id,
        phonon_uuid=call.phonon_uuid,
        attempt=entry.attempt,
        number_index=entry.number_index,
        number=entry.number,
        did=entry.did,
        state=entry.state,
        claimed_epoch=entry.claimed_epoch,
        gateway_id=entry.gateway_id,
        placed_at=entry.placed_at,
        gateway_ref=entry.gateway_ref,
        outcome=entry.outcome,
        placed=True if entry.placed is None else entry.placed,
        reason=entry.reason,
        started_at=entry.started_at,
        ended_at=entry.ended_at,
        duration_seconds=entry.duration_seconds or 0,
        notified=entry.notified,
        deadline_at=entry.deadline_at,
    )


def ended_entry(call: Call, leg: LegRecord, ending: LegEnding) -> Attempt:
    """The entry of ``call``'s leg ``leg`` once it ended as ``ending`` says."""
    return replace(
        call.legs[leg.leg_id],
        state=LegState.ENDED,
        outcome=ending.outcome,
        placed=ending.placed,
        reason=ending.reason,
        started_at=ending.started_at,
        ended_at=ending.ended_at,
        duration_seconds=ending.duration_seconds,
        claimed_epoch=0,
        deadline_at=None,
        placed_at=None,
    )


# A leg by its id and its entry on the call. The entry of a leg about to be dialled, its claim,
# rides on the write that takes the call to it (``start_dialing``, ``advance_to``); its end, on
# the write that moves the call on: no write of its own either way.
LegEntry = tuple[str, Attempt]
EndedLeg = LegEntry


@dataclass(frozen=True)
class Call:
    """A call as the dialer sees it: who placed it, where it stands, which leg it dials
    (``attempt`` and ``number_index``), and the legs it has dialled so far."""

    phonon_uuid: str
    request_id: str
    flow_id: str
    account_id: str
    status: CallStatus
    attempt: int
    number_index: int
    contact_numbers: tuple[str, ...]
    due_at: datetime
    cost: Decimal
    keys: tuple[tuple[str, str], ...] = ()  # the call's key name/value pairs, in order
    dispatch_id: str | None = None  # the wake-up token of its last reschedule
    notified: bool = False  # its end was reported
    overdue_at: int | None = None  # while in the dialing-deadlines index: when it is overdue
    legs: Mapping[str, Attempt] = field(default_factory=dict)
    # What its view (the ``<call>`` of SPEC §3) shows beside the above, as stored.
    client_identifier: str = ""
    api_version: str = ""
    start_time: str = ""  # the start-time asked for, ISO 8601
    next_dial_at: str | None = None  # when the leg it waits for is due
    created_at: str | None = None
    ended_at: str | None = None
    connected_number: str | None = None  # the number that answered a COMPLETED call
    duration_seconds: int | None = None
    error_code: int | None = None  # why a FAILED call failed
    error_message: str | None = None
    schedule: str | None = None  # the schedule that wakes it, if one does

    @property
    def position(self) -> tuple[int, int]:
        """The leg the call dials now: (attempt, number index)."""
        return self.attempt, self.number_index

    @property
    def number(self) -> str:
        """The number the call dials now."""
        return self.contact_numbers[self.number_index]


@dataclass(frozen=True)
class CallRequest:
    """A create request as stored: its flow, when it came, the answer it was given (one
    ``call-details`` entry per call asked for) and the ids of the calls it made, in order."""

    request_id: str
    flow_id: str
    created_at: str | None
    call_details: list[dict[str, Any]]
    call_ids: tuple[str, ...]


@dataclass(frozen=True)
class Ending:
    """How a call ends: its terminal ``status`` at ``ended_at``, the error of a FAILED call,
    the number that answered a COMPLETED one and for how long."""

    status: CallStatus
    ended_at: datetime
    error_code: int | None = None
    error_message: str | None = None
    connected_number: str | None = None
    duration_seconds: int | None = None


@dataclass(frozen=True)
class Wait:
    """Where a rescheduled call waits anew: ``status`` (SCHEDULED, or QUEUED when due now)
    from ``start_time`` as asked, due at ``due_at``, woken by the wake-up ``dispatch_id``
    names (the schedule ``schedule``, or a queue message when None)."""

    status: CallStatus
    start_time: datetime
    due_at: datetime
    dispatch_id: str
    schedule: str | None = None
