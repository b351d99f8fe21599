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

import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from botocore.exceptions import ClientError

from outdial.adapters.calls_store import CallsStore, call_pk, leg_pk
from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import key, to_values
from outdial.contract import DEADLINE_PARTITION_KEY, DEADLINE_SHARDS, DEADLINE_SORT_KEY
from outdial.models.calls import WAITING, CallStatus, sources_of
from outdial.models.legs import LegState, leg_sources_of

DEADLINE_KEYS: Final = (DEADLINE_PARTITION_KEY, DEADLINE_SORT_KEY)

# What each method moves a call from and to (the repository test checks every pair against the
# machine). ``finish`` moves to the terminal status it is given; ``advance_to`` and
# ``record_leg`` keep the call where it is.
MOVES: Final[dict[str, tuple[frozenset[CallStatus], frozenset[CallStatus]]]] = {
    "start_dialing": (frozenset(WAITING), frozenset({CallStatus.DIALING})),
    "schedule_retry": (frozenset({CallStatus.DIALING}), frozenset({CallStatus.SCHEDULED})),
    "defer": (frozenset({CallStatus.DIALING}), frozenset({CallStatus.SCHEDULED})),
    "finish": (
        frozenset({CallStatus.DIALING}),
        frozenset({CallStatus.COMPLETED, CallStatus.NOT_CONNECTED, CallStatus.FAILED}),
    ),
    "cancel": (frozenset(WAITING), frozenset({CallStatus.CANCELLED})),
    # Deleting a waiting call: only where a cancel could.
    "withdraw": (frozenset(WAITING), frozenset({CallStatus.CANCELLED})),
    # A reschedule keeps the call waiting (SCHEDULED or QUEUED, whichever its new time says).
    "reschedule": (frozenset(WAITING), frozenset(WAITING)),
}
# What each method moves a leg from and to (a claim is created, a released one deleted).
LEG_MOVES: Final[dict[str, tuple[frozenset[LegState], LegState]]] = {
    "take_over_claim": (frozenset({LegState.CLAIMED, LegState.PACED}), LegState.CLAIMED),
    "take_back_paced": (frozenset({LegState.PACED}), LegState.CLAIMED),
    "set_aside": (frozenset({LegState.CLAIMED}), LegState.PACED),
    "mark_placed": (frozenset({LegState.CLAIMED}), LegState.PLACED),
    "mark_placement_unknown": (frozenset({LegState.CLAIMED}), LegState.PLACED),
    "end_leg": (frozenset({LegState.CLAIMED, LegState.PLACED}), LegState.ENDED),
}


def _one_of(alias: str, values: Iterable[str]) -> tuple[str, dict[str, Any]]:
    """``#alias IN (:alias0, ...)`` and its values, in a stable order."""
    ordered = sorted(values)
    names = [f":{alias}{i}" for i in range(len(ordered))]
    return f"#{alias} IN ({', '.join(names)})", dict(zip(names, ordered, strict=True))


def _narrowed(sources: frozenset[Any], only: Iterable[Any] | None, target: Any) -> list[str]:
    """The machine's ``sources`` of ``target``, narrowed to ``only`` (which must be among
    them), as stored values."""
    if only is not None:
        narrowed = frozenset(only)
        if not narrowed <= sources:
            raise ValueError(f"{sorted(narrowed - sources)} may not move to {target}")
        sources = narrowed
    return [s.value for s in sources]


def status_condition(
    target: CallStatus, only: Iterable[CallStatus] | None = None
) -> tuple[str, dict[str, Any]]:
    """The condition under which a call may move to ``target``: from the state machine's
    sources of it, narrowed to ``only`` (which must be among them)."""
    return _one_of("status", _narrowed(sources_of(target), only, target))


def leg_condition(
    target: LegState, only: Iterable[LegState] | None = None
) -> tuple[str, dict[str, Any]]:
    """Like ``status_condition`` for a leg's ``state``."""
    return _one_of("state", _narrowed(leg_sources_of(target), only, target))


def deadline_keys(phonon_uuid: str, due: datetime) -> dict[str, Any]:
    """The call's entry in the dialing-deadlines index: its shard and when it is overdue."""
    shard = zlib.crc32(phonon_uuid.encode()) % DEADLINE_SHARDS
    return {DEADLINE_PARTITION_KEY: str(shard), DEADLINE_SORT_KEY: int(due.timestamp()) + 1}


class DynamoCallRepository:
    """``CallRepository`` on DynamoDB (the calls table, and the config table for refunds)."""

    def __init__(self, store: CallsStore | None = None) -> None:
        self.store = store or CallsStore()

    # --- reading ----------------------------------------------------------------------------

    def get(self, call_id: str) -> dict[str, Any] | None:
        return self.store.get_call(call_id)

    def get_leg(self, leg_id: str) -> dict[str, Any] | None:
        return self.store.get(leg_pk(leg_id))

    def overdue_calls(self, shard: str, before: int, limit: int) -> list[str]:
        """Ids of DIALING calls in ``shard`` whose deadline passed before ``before``."""
        return [pk.removeprefix("CALL#") for pk in self.store.overdue_calls(shard, before, limit)]

    # --- calls ------------------------------------------------------------------------------

    def start_dialing(
        self, call: dict[str, Any], at: datetime, take_by: datetime
    ) -> dict[str, Any] | None:
        """A waiting call, not rescheduled since it was read, becomes DIALING (due in the
        dialing-deadlines index at ``take_by``); None when it no longer waits (taken,
        cancelled, rescheduled)."""
        condition, values = self._waiting(CallStatus.DIALING, call)
        return self.store.update(
            call_pk(call["phonon-uuid"]),
            {"status": CallStatus.DIALING.value, "dialing-at": _iso(at)}
            | deadline_keys(call["phonon-uuid"], take_by),
            condition=condition,
            condition_values=values,
        )

    def reschedule(
        self,
        call: dict[str, Any],
        status: CallStatus,
        values: dict[str, Any],
    ) -> dict[str, Any] | None:
        """A waiting call, not rescheduled since it was read, waits anew (``status`` with
        ``values``: its new times, dispatch token and schedule); None when it no longer waits."""
        if status not in WAITING:
            raise ValueError(f"a rescheduled call waits; {status} does not")
        # Not a move of the machine: a waiting call stays waiting.
        condition, condition_values = _one_of("status", (s.value for s in WAITING))
        token = call.get("dispatch-id")
        same = "#dispatch = :read" if token else "attribute_not_exists(#dispatch)"
        return self.store.update(
            call_pk(call["phonon-uuid"]),
            {"status": status.value, **values},
            condition=f"{condition} AND {same}",
            condition_values=condition_values | ({":read": token} if token else {}),
        )

    def record_leg(
        self,
        call_id: str,
        leg_id: str,
        record: dict[str, Any],
        *,
        current: bool = False,
        deadline: datetime | None = None,
    ) -> dict[str, Any] | None:
        """Write a leg's summary into the call (and make it the current leg, due in the
        dialing-deadlines index at ``deadline``); returns the call."""
        values: dict[str, Any] = {f"legs.{leg_id}": record}
        if current:
            values["current-leg"] = leg_id
        if deadline is not None:
            values |= deadline_keys(call_id, deadline)
        return self.store.update(call_pk(call_id), values)

    def advance_to(
        self, call_id: str, position: tuple[int, int], number_index: int, take_by: datetime
    ) -> dict[str, Any] | None:
        """The next number of the same attempt, if the call still dials the leg at
        ``position`` (attempt, number index); None when it moved on."""
        # Not a move of the machine: the call stays DIALING.
        condition, values = self._at(position, _one_of("status", [CallStatus.DIALING.value]))
        return self.store.update(
            call_pk(call_id),
            {"number-index": number_index} | deadline_keys(call_id, take_by),
            condition=condition,
            condition_values=values,
        )

    def schedule_retry(
        self,
        call_id: str,
        position: tuple[int, int],
        attempt: int,
        number_index: int,
        at: datetime,
        schedule: str | None,
    ) -> bool:
        """Back to SCHEDULED for attempt ``attempt`` at ``at``, if the call still dials the leg
        at ``position``."""
        return self._wait(
            call_id,
            position,
            {"attempt": attempt, "number-index": number_index},
            at,
            schedule,
            "schedule_retry",
        )

    def defer(
        self, call_id: str, position: tuple[int, int], until: datetime, schedule: str | None
    ) -> bool:
        """Back to SCHEDULED until ``until`` (the same leg then), if the call still dials the
        leg at ``position``."""
        return self._wait(call_id, position, {}, until, schedule, "defer")

    def _wait(
        self,
        call_id: str,
        position: tuple[int, int],
        values: dict[str, Any],
        at: datetime,
        schedule: str | None,
        move: str,
    ) -> bool:
        condition, condition_values = self._at(
            position, status_condition(CallStatus.SCHEDULED, MOVES[move][0])
        )
        moved = self.store.update(
            call_pk(call_id),
            {
                "status": CallStatus.SCHEDULED.value,
                **values,
                "due-at": _iso(at),
                "next-dial-at": _iso(at),
                "schedule": schedule,
            },
            condition=condition,
            condition_values=condition_values,
            remove=DEADLINE_KEYS,
        )
        return moved is not None

    def finish(
        self,
        call: dict[str, Any],
        position: tuple[int, int],
        status: CallStatus,
        values: dict[str, Any],
        refund: Decimal | None,
    ) -> bool:
        """End the call in ``status`` (with ``values``), if it still dials the leg at
        ``position``; with a ``refund`` the account gets it back in the same transaction. False
        if someone else ended or moved the call."""
        if not status.terminal:
            raise ValueError(f"{status} is not a terminal status")
        condition, condition_values = self._at(
            position, status_condition(status, MOVES["finish"][0])
        )
        fields = {"status": status.value, **values}
        if refund is None:
            done = self.store.update(
                call_pk(call["phonon-uuid"]),
                fields,
                condition=condition,
                condition_values=condition_values,
            )
            return done is not None
        return self.store.finish_and_refund(
            call_pk(call["phonon-uuid"]),
            fields,
            condition=condition,
            condition_values=condition_values,
            account_id=call["account-id"],
            refund=refund,
        )

    def cancel(self, call: dict[str, Any], at: datetime) -> bool:
        """CANCELLED with its reservation refunded, both or neither, while the call waits."""
        condition, values = status_condition(CallStatus.CANCELLED, MOVES["cancel"][0])
        return self.store.finish_and_refund(
            call_pk(call["phonon-uuid"]),
            {"status": CallStatus.CANCELLED.value, "ended-at": at.isoformat()},
            condition=condition,
            condition_values=values,
            account_id=call["account-id"],
            refund=Decimal(str(call.get("cost", 0))),
        )

    def withdraw(self, call_id: str) -> None:
        """Delete a call only while it waits (a dialer or a cancel may be taking it this
        moment); one that does not wait, or is gone, stays as it is."""
        condition, values = status_condition(CallStatus.CANCELLED, MOVES["withdraw"][0])
        try:
            self.store.client.delete_item(
                TableName=self.store.calls_table,
                Key=key(call_pk(call_id)),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=to_values(values),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise AdapterError(f"deleting call {call_id}: {exc}") from exc

    def mark_notified(self, call_id: str) -> None:
        """The call's end was reported: it leaves the dialing-deadlines index too."""
        self.store.update(call_pk(call_id), {"notified": True}, remove=DEADLINE_KEYS)

    # --- legs -------------------------------------------------------------------------------

    def claim_leg(self, leg: dict[str, Any]) -> bool:
        """Create the leg's item (CLAIMED) unless it exists: of two dialers, one claims it."""
        return self.store.put_new({"pk": leg_pk(leg["leg-id"]), **leg})

    def take_over_claim(self, leg_id: str, now_epoch: int, claimed_before: int) -> bool:
        """Claim again a leg set aside (PACED), or one still CLAIMED since before
        ``claimed_before`` (its dialer died)."""
        sources = LEG_MOVES["take_over_claim"][0]
        leg_condition(LegState.CLAIMED, sources)  # the machine allows every one of them
        values: dict[str, Any] = {":stale": claimed_before}
        parts = []
        for index, state in enumerate(sorted(sources)):
            values[f":state{index}"] = state.value
            # A claim still held is taken over only once its dialer must have died.
            stale = " AND #claimed < :stale" if state is LegState.CLAIMED else ""
            parts.append(f"(#state = :state{index}{stale})")
        return self._claim_again(leg_id, now_epoch, " OR ".join(parts), values)

    def take_back_paced(self, leg_id: str, now_epoch: int) -> bool:
        """Claim again a leg set aside to wait for pace (never one a dialer may be placing)."""
        condition, values = leg_condition(LegState.CLAIMED, LEG_MOVES["take_back_paced"][0])
        return self._claim_again(leg_id, now_epoch, condition, values)

    def _claim_again(
        self, leg_id: str, now_epoch: int, condition: str, values: dict[str, Any]
    ) -> bool:
        taken = self.store.update(
            leg_pk(leg_id),
            {"claimed-epoch": now_epoch, "state": LegState.CLAIMED.value},
            condition=condition,
            condition_values=values,
        )
        return taken is not None

    def set_aside(self, leg_id: str) -> None:
        """A claimed leg not placed after all (over the gateway's pace or rate limit): PACED,
        for the next dialer to reach it to take at once."""
        condition, values = leg_condition(LegState.PACED, LEG_MOVES["set_aside"][0])
        self.store.update(
            leg_pk(leg_id),
            {"state": LegState.PACED.value},
            condition=condition,
            condition_values=values,
        )

    def release_claim(self, leg_id: str) -> None:
        """Delete a leg's claim while it is only a claim (the leg was not placed after all)."""
        self.store.release_claim(leg_pk(leg_id))

    def mark_placed(self, leg_id: str, values: dict[str, Any]) -> None:
        """The gateway took the leg (or may have: ``values`` say how it went)."""
        condition, condition_values = leg_condition(LegState.PLACED, LEG_MOVES["mark_placed"][0])
        self.store.update(
            leg_pk(leg_id),
            {"state": LegState.PLACED.value, **values},
            condition=condition,
            condition_values=condition_values,
        )

    def mark_placement_unknown(self, leg_id: str, claimed_before: int, placement: str) -> bool:
        """A leg still CLAIMED since before ``claimed_before`` (its dialer died while asking a
        gateway that does not dedupe) counts as placed, ``placement`` unknown: never asked
        again, it waits for its callback or its deadline."""
        condition, values = leg_condition(LegState.PLACED, LEG_MOVES["mark_placement_unknown"][0])
        moved = self.store.update(
            leg_pk(leg_id),
            {"state": LegState.PLACED.value, "placement": placement},
            condition=f"{condition} AND #claimed < :stale",
            condition_values=values | {":stale": claimed_before},
        )
        return moved is not None

    def end_leg(self, leg_id: str, values: dict[str, Any]) -> dict[str, Any] | None:
        """ENDED with its outcome, once; None when it had ended already."""
        condition, condition_values = leg_condition(LegState.ENDED, LEG_MOVES["end_leg"][0])
        return self.store.update(
            leg_pk(leg_id),
            {"state": LegState.ENDED.value, **values},
            condition=condition,
            condition_values=condition_values,
            remove=("deadline-at",),
        )

    def mark_leg_notified(self, leg_id: str) -> None:
        self.store.update(leg_pk(leg_id), {"notified": True})

    # --- conditions -------------------------------------------------------------------------

    @staticmethod
    def _waiting(target: CallStatus, call: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The call waits (a source of ``target``) under the dispatch token it was read with."""
        condition, values = status_condition(target, MOVES["start_dialing"][0])
        token = call.get("dispatch-id")
        same = "#dispatch = :dispatch" if token else "attribute_not_exists(#dispatch)"
        return f"{condition} AND {same}", values | ({":dispatch": token} if token else {})

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


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
