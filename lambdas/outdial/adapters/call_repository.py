"""The calls table's call items, with their legs' entries, moved only by methods that say what
they do.

Every write that changes a call's status carries the condition ``status IN (sources)``, the
sources taken from the state machine (``outdial.models.calls.ALLOWED``): the rule the dialer
decides by is the rule DynamoDB enforces. A method that moves a call only from some of the
machine's sources (a retry leaves DIALING, never QUEUED) narrows them, and may add what else
must hold (the call's current leg, its dispatch token); it never widens them. A leg moves
CLAIMED → PLACED → ENDED (or aside, PACED, and back) the same way
(``outdial.models.legs.LEG_ALLOWED``), its state being its entry on the call: a write that
records a leg's end (``ended``) holds only if the leg has not ended yet. The moves that end a
call are in ``call_endings.py``, a leg's own in ``leg_repository.py``, the conditions in
``moves.py`` and the item shapes in ``call_items.py``: nothing of them reaches logic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from outdial.adapters.call_endings import CallEndings
from outdial.adapters.call_items import (
    call_from_item,
    due_values,
    leg_entry_values,
    wait_values,
)
from outdial.adapters.calls_store import CallsStore, call_pk
from outdial.adapters.leg_repository import LegMoves
from outdial.adapters.moves import (
    DEADLINE_KEYS,
    MOVES,
    at_leg,
    deadline_keys,
    ending_leg,
    every,
    one_of,
    read_with,
    status_condition,
)
from outdial.models.calls import (
    WAITING,
    Call,
    CallStatus,
    EndedLeg,
    LegEntry,
    Wait,
)


class DynamoCallRepository(CallEndings, LegMoves):
    """``CallRepository`` on DynamoDB (the calls table, and the config table for refunds)."""

    def __init__(self, store: CallsStore | None = None) -> None:
        self.store = store or CallsStore()

    # --- reading ----------------------------------------------------------------------------

    def get(self, phonon_uuid: str) -> Call | None:
        return _call(self.store.get_call(phonon_uuid))

    def overdue_calls(self, shard: str, before: int, limit: int) -> list[str]:
        """Ids of DIALING calls in ``shard`` whose deadline passed before ``before``."""
        return [pk.removeprefix("CALL#") for pk in self.store.overdue_calls(shard, before, limit)]

    # --- calls ------------------------------------------------------------------------------

    def start_dialing(
        self, call: Call, take_by: datetime, *, leg: LegEntry | None = None
    ) -> Call | None:
        """A waiting call, not rescheduled since it was read, becomes DIALING (due in the
        dialing-deadlines index at ``take_by``), with ``leg``, the leg it is about to dial,
        recorded on it by the same write; None when it no longer waits (taken,
        cancelled, rescheduled)."""
        condition, values = every(
            status_condition(CallStatus.DIALING, MOVES["start_dialing"][0]),
            read_with(call.dispatch_id),
        )
        return _call(
            self.store.update(
                call_pk(call.phonon_uuid),
                {"status": CallStatus.DIALING.value}
                | deadline_keys(call.phonon_uuid, take_by)
                | leg_entry_values(leg),
                condition=condition,
                condition_values=values,
            )
        )

    def reschedule(self, phonon_uuid: str, read_token: str | None, wait: Wait) -> Call | None:
        """A waiting call, not rescheduled since it was read (with ``read_token``), waits anew
        as ``wait`` says (its status, new times, dispatch token and schedule); the moved call,
        or None when it no longer waits."""
        if wait.status not in WAITING:
            raise ValueError(f"a rescheduled call waits; {wait.status} does not")
        # Not a move of the machine: a waiting call stays waiting.
        condition, values = every(
            one_of("status", (s.value for s in WAITING)), read_with(read_token)
        )
        return _call(
            self.store.update(
                call_pk(phonon_uuid),
                wait_values(wait),
                condition=condition,
                condition_values=values,
            )
        )

    def advance_to(
        self,
        phonon_uuid: str,
        position: tuple[int, int],
        number_index: int,
        take_by: datetime | None,
        *,
        ended: EndedLeg | None = None,
        leg: LegEntry | None = None,
    ) -> Call | None:
        """The next number of the same attempt, if the call still dials the leg at
        ``position`` (attempt, number index); None when it moved on. ``ended``, the leg that
        ended (if it has not yet), and ``leg``, the next one claimed, are recorded on the call
        by the same write, which makes it due in the dialing-deadlines index at ``take_by``
        (None: it stays where it is)."""
        # Not a move of the machine: the call stays DIALING.
        ended_id = ended[0] if ended else None
        condition, values = every(_dialling(position), *ending_leg(ended_id))
        return _call(
            self.store.update(
                call_pk(phonon_uuid),
                {"number-index": number_index}
                | (deadline_keys(phonon_uuid, take_by) if take_by else {})
                | leg_entry_values(ended)
                | leg_entry_values(leg),
                condition=condition,
                condition_values=values,
                leg_id=ended_id,
            )
        )

    def schedule_retry(
        self,
        phonon_uuid: str,
        position: tuple[int, int],
        attempt: int,
        number_index: int,
        at: datetime,
        schedule: str | None,
        *,
        ended: EndedLeg | None = None,
    ) -> bool:
        """Back to SCHEDULED for attempt ``attempt`` at ``at``, if the call still dials the leg
        at ``position``; ``ended`` is recorded on the call by the same write (if it has not
        ended yet)."""
        return self._wait(
            phonon_uuid,
            position,
            {"attempt": attempt, "number-index": number_index} | leg_entry_values(ended),
            at,
            schedule,
            "schedule_retry",
            ended=ended[0] if ended else None,
        )

    def defer(
        self,
        phonon_uuid: str,
        position: tuple[int, int],
        until: datetime,
        schedule: str | None,
        *,
        unrecord: str | None = None,
    ) -> bool:
        """Back to SCHEDULED until ``until`` (the same leg then), if the call still dials the
        leg at ``position``; the entry of leg ``unrecord``, which waits undialled, leaves the
        call by the same write (its claim with it)."""
        return self._wait(
            phonon_uuid,
            position,
            {},
            until,
            schedule,
            "defer",
            remove=(f"legs.{unrecord}",) if unrecord else (),
        )

    def extend_deadline(
        self, phonon_uuid: str, position: tuple[int, int], deadline: datetime
    ) -> bool:
        """The call's entry in the dialing-deadlines index moves to ``deadline`` (its current
        leg's, later than when the call was taken), if it still dials the leg at ``position``."""
        # Not a move of the machine: the call stays DIALING.
        condition, values = _dialling(position)
        moved = self.store.update(
            call_pk(phonon_uuid),
            deadline_keys(phonon_uuid, deadline),
            condition=condition,
            condition_values=values,
        )
        return moved is not None

    def _wait(
        self,
        phonon_uuid: str,
        position: tuple[int, int],
        values: dict[str, Any],
        at: datetime,
        schedule: str | None,
        move: str,
        *,
        remove: tuple[str, ...] = (),
        ended: str | None = None,
    ) -> bool:
        condition, condition_values = every(
            status_condition(CallStatus.SCHEDULED, MOVES[move][0]),
            at_leg(position),
            *ending_leg(ended),
        )
        moved = self.store.update(
            call_pk(phonon_uuid),
            {"status": CallStatus.SCHEDULED.value, **values} | due_values(at, schedule),
            condition=condition,
            condition_values=condition_values,
            remove=DEADLINE_KEYS + remove,
            leg_id=ended,
        )
        return moved is not None


def _dialling(position: tuple[int, int]) -> tuple[str, dict[str, Any]]:
    """The call is DIALING the leg at ``position`` (for writes that keep it there)."""
    return every(one_of("status", [CallStatus.DIALING.value]), at_leg(position))


def _call(item: dict[str, Any] | None) -> Call | None:
    return call_from_item(item) if item else None
