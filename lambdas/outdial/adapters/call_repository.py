"""The calls table's call and leg items, moved only by methods that say what they do.

Every write that changes a call's status carries the condition ``status IN (sources)``, the
sources taken from the state machine (``outdial.models.calls.ALLOWED``): the rule the dialer
decides by is the rule DynamoDB enforces. A method that moves a call only from some of the
machine's sources (a retry leaves DIALING, never QUEUED) narrows them, and may add what else
must hold (the call's current leg, its dispatch token); it never widens them. A leg moves
CLAIMED → PLACED → ENDED (or aside, PACED, and back) the same way
(``outdial.models.legs.LEG_ALLOWED``). Key layouts, expressions and item shapes stay here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters.call_items import (
    attempt_to_item,
    call_from_item,
    ending_values,
    leg_from_item,
)
from outdial.adapters.calls_store import CallsStore, call_pk, leg_pk
from outdial.adapters.errors import AdapterError
from outdial.adapters.leg_repository import LegMoves
from outdial.adapters.moves import (
    DEADLINE_KEYS,
    MOVES,
    deadline_keys,
    one_of,
    status_condition,
)
from outdial.adapters.tables import key, to_values
from outdial.models.calls import (
    WAITING,
    Attempt,
    Call,
    CallStatus,
    EndedLeg,
    Ending,
    LegEntry,
)
from outdial.models.legs import LegRecord


class DynamoCallRepository(LegMoves):
    """``CallRepository`` on DynamoDB (the calls table, and the config table for refunds)."""

    def __init__(self, store: CallsStore | None = None) -> None:
        self.store = store or CallsStore()

    # --- reading ----------------------------------------------------------------------------

    def get(self, phonon_uuid: str) -> Call | None:
        return _call(self.store.get_call(phonon_uuid))

    def get_leg(self, leg_id: str) -> LegRecord | None:
        item = self.store.get(leg_pk(leg_id))
        return leg_from_item(item) if item else None

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
        condition, values = self._waiting(CallStatus.DIALING, call.dispatch_id)
        return _call(
            self.store.update(
                call_pk(call.phonon_uuid),
                {"status": CallStatus.DIALING.value}
                | deadline_keys(call.phonon_uuid, take_by)
                | _current_values(leg),
                condition=condition,
                condition_values=values,
            )
        )

    def reschedule(
        self,
        phonon_uuid: str,
        read_token: str | None,
        status: CallStatus,
        values: dict[str, Any],
    ) -> Call | None:
        """A waiting call, not rescheduled since it was read (with ``read_token``), waits anew
        (``status`` with ``values``: its new times, dispatch token and schedule); the moved
        call, or None when it no longer waits."""
        if status not in WAITING:
            raise ValueError(f"a rescheduled call waits; {status} does not")
        # Not a move of the machine: a waiting call stays waiting.
        condition, condition_values = one_of("status", (s.value for s in WAITING))
        same = "#dispatch = :read" if read_token else "attribute_not_exists(#dispatch)"
        return _call(
            self.store.update(
                call_pk(phonon_uuid),
                {"status": status.value, **values},
                condition=f"{condition} AND {same}",
                condition_values=condition_values | ({":read": read_token} if read_token else {}),
            )
        )

    def record_leg(
        self,
        phonon_uuid: str,
        leg_id: str,
        record: Attempt,
        *,
        deadline: datetime | None = None,
    ) -> Call | None:
        """Write a leg's summary into the call (and, with a ``deadline``, make the call due in
        the dialing-deadlines index then); returns the call."""
        values: dict[str, Any] = {f"legs.{leg_id}": attempt_to_item(record)}
        if deadline is not None:
            values |= deadline_keys(phonon_uuid, deadline)
        return _call(self.store.update(call_pk(phonon_uuid), values))

    def advance_to(
        self,
        phonon_uuid: str,
        position: tuple[int, int],
        number_index: int,
        take_by: datetime,
        *,
        ended: EndedLeg | None = None,
        leg: LegEntry | None = None,
    ) -> Call | None:
        """The next number of the same attempt, if the call still dials the leg at
        ``position`` (attempt, number index); None when it moved on. ``ended``, the leg that
        ended, and ``leg``, the next one about to be dialled, are recorded
        on the call by the same write."""
        # Not a move of the machine: the call stays DIALING.
        condition, values = self._dialling(position)
        return _call(
            self.store.update(
                call_pk(phonon_uuid),
                {"number-index": number_index}
                | deadline_keys(phonon_uuid, take_by)
                | _ended_values(ended)
                | _current_values(leg),
                condition=condition,
                condition_values=values,
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
        at ``position``; ``ended`` is recorded on the call by the same write."""
        return self._wait(
            phonon_uuid,
            position,
            {"attempt": attempt, "number-index": number_index} | _ended_values(ended),
            at,
            schedule,
            "schedule_retry",
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
        leg at ``position``; the record of leg ``unrecord``, which waits undialled, leaves the
        call by the same write."""
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
        condition, values = self._dialling(position)
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
    ) -> bool:
        condition, condition_values = self._at(
            position, status_condition(CallStatus.SCHEDULED, MOVES[move][0])
        )
        moved = self.store.update(
            call_pk(phonon_uuid),
            {
                "status": CallStatus.SCHEDULED.value,
                **values,
                "due-at": _iso(at),
                "next-dial-at": _iso(at),
                "schedule": schedule,
            },
            condition=condition,
            condition_values=condition_values,
            remove=DEADLINE_KEYS + remove,
        )
        return moved is not None

    def finish(
        self,
        call: Call,
        position: tuple[int, int],
        ending: Ending,
        refund: Decimal | None,
        *,
        ended: EndedLeg | None = None,
    ) -> bool:
        """End the call as ``ending`` says, if it still dials the leg at ``position``; with a
        ``refund`` the account gets it back in the same transaction, and ``ended`` is recorded
        on the call by the same write. False if someone else ended or moved the call."""
        if not ending.status.terminal:
            raise ValueError(f"{ending.status} is not a terminal status")
        condition, condition_values = self._at(
            position, status_condition(ending.status, MOVES["finish"][0])
        )
        fields = ending_values(ending) | _ended_values(ended)
        if refund is None:
            done = self.store.update(
                call_pk(call.phonon_uuid),
                fields,
                condition=condition,
                condition_values=condition_values,
            )
            return done is not None
        return self.store.finish_and_refund(
            call_pk(call.phonon_uuid),
            fields,
            condition=condition,
            condition_values=condition_values,
            account_id=call.account_id,
            refund=refund,
        )

    def cancel(self, phonon_uuid: str, account_id: str, refund: Decimal, at: datetime) -> bool:
        """CANCELLED with its reservation (``refund``) given back to ``account_id``, both or
        neither, while the call waits."""
        condition, values = status_condition(CallStatus.CANCELLED, MOVES["cancel"][0])
        return self.store.finish_and_refund(
            call_pk(phonon_uuid),
            {"status": CallStatus.CANCELLED.value, "ended-at": at.isoformat()},
            condition=condition,
            condition_values=values,
            account_id=account_id,
            refund=refund,
        )

    def withdraw(self, phonon_uuid: str) -> None:
        """Delete a call only while it waits (a dialer or a cancel may be taking it this
        moment); one that does not wait, or is gone, stays as it is."""
        condition, values = status_condition(CallStatus.CANCELLED, MOVES["withdraw"][0])
        try:
            self.store.client.delete_item(
                TableName=self.store.calls_table,
                Key=key(call_pk(phonon_uuid)),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_values(values),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise AdapterError(f"deleting call {phonon_uuid}: {exc}") from exc

    def mark_notified(self, phonon_uuid: str) -> None:
        """The call's end was reported: it leaves the dialing-deadlines index too."""
        self.store.update(call_pk(phonon_uuid), {"notified": True}, remove=DEADLINE_KEYS)

    # --- conditions -------------------------------------------------------------------------

    @staticmethod
    def _waiting(target: CallStatus, token: str | None) -> tuple[str, dict[str, Any]]:
        """The call waits (a source of ``target``) under the dispatch token it was read with."""
        condition, values = status_condition(target, MOVES["start_dialing"][0])
        same = "#dispatch = :dispatch" if token else "attribute_not_exists(#dispatch)"
        return f"{condition} AND {same}", values | ({":dispatch": token} if token else {})

    @classmethod
    def _dialling(cls, position: tuple[int, int]) -> tuple[str, dict[str, Any]]:
        """The call is DIALING the leg at ``position`` (for writes that keep it there)."""
        return cls._at(position, one_of("status", [CallStatus.DIALING.value]))

    @staticmethod
    def _at(
        position: tuple[int, int], status: tuple[str, dict[str, Any]]
    ) -> tuple[str, dict[str, Any]]:
        """``status`` holds and the call's current leg is the one at ``position``."""
        condition, values = status
        attempt, index = position
        return (
            f"{condition} AND #attempt = :attempt AND #index = :index",
            values | {":attempt": attempt, ":index": index},
        )


def _ended_values(ended: EndedLeg | None) -> dict[str, Any]:
    """The values that record an ended leg on its call (none without one)."""
    if ended is None:
        return {}
    leg_id, record = ended
    return {f"legs.{leg_id}": attempt_to_item(record)}


def _current_values(leg: LegEntry | None) -> dict[str, Any]:
    """The values that record a leg about to be dialled on its call."""
    if leg is None:
        return {}
    leg_id, record = leg
    return {f"legs.{leg_id}": attempt_to_item(record)}


def _call(item: dict[str, Any] | None) -> Call | None:
    return call_from_item(item) if item else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
