"""The calls table's call and leg items, moved only by methods that say what they do.

Every write that changes a call's status carries the condition ``status IN sources_of(target)``
taken from the state machine (``outdial.models.calls.ALLOWED``), so the rule the dialer decides
by is the rule DynamoDB enforces; a leg moves CLAIMED → PLACED → ENDED the same way
(``outdial.models.legs.LEG_ALLOWED``). Key layouts, expressions and item shapes stay here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters.calls_store import CallsStore, call_pk, leg_pk
from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import key, to_values
from outdial.models.calls import CallStatus, sources_of
from outdial.models.legs import LegState, leg_sources_of

# The status each method moves a call to (the repository test checks each against the machine).
TARGETS: dict[str, CallStatus] = {
    "start_dialing": CallStatus.DIALING,
    "schedule_retry": CallStatus.SCHEDULED,
    "cancel": CallStatus.CANCELLED,
    "withdraw": CallStatus.CANCELLED,  # deleting a waiting call: only where a cancel could
}
# ``finish`` moves to the terminal status it is given; ``advance_to`` keeps the call DIALING.


def _one_of(alias: str, values: Iterable[str]) -> tuple[str, dict[str, Any]]:
    """``#alias IN (:alias0, ...)`` and its values, in a stable order."""
    ordered = sorted(values)
    names = [f":{alias}{i}" for i in range(len(ordered))]
    return f"#{alias} IN ({', '.join(names)})", dict(zip(names, ordered, strict=True))


def status_condition(target: CallStatus) -> tuple[str, dict[str, Any]]:
    """The condition under which a call may move to ``target``, from the state machine."""
    return _one_of("status", (s.value for s in sources_of(target)))


class DynamoCallRepository:
    """``CallRepository`` on DynamoDB (the calls table, and the config table for refunds)."""

    def __init__(self, store: CallsStore | None = None) -> None:
        self.store = store or CallsStore()

    # --- reading ----------------------------------------------------------------------------

    def get(self, call_id: str) -> dict[str, Any] | None:
        return self.store.get_call(call_id)

    def get_leg(self, leg_id: str) -> dict[str, Any] | None:
        return self.store.get(leg_pk(leg_id))

    # --- calls ------------------------------------------------------------------------------

    def start_dialing(self, call_id: str, at: datetime) -> dict[str, Any] | None:
        """A waiting call becomes DIALING; None when it no longer waits (taken, cancelled)."""
        condition, values = status_condition(CallStatus.DIALING)
        return self.store.update(
            call_pk(call_id),
            {"status": CallStatus.DIALING.value, "dialing-at": _iso(at)},
            condition=condition,
            condition_values=values,
        )

    def record_leg(
        self, call_id: str, leg_id: str, record: dict[str, Any], *, current: bool
    ) -> Any:
        """Write a leg's summary into the call (and make it the current leg); returns the call."""
        values: dict[str, Any] = {f"legs.{leg_id}": record}
        if current:
            values["current-leg"] = leg_id
        return self.store.update(call_pk(call_id), values)

    def advance_to(self, call_id: str, leg_id: str, number_index: int) -> dict[str, Any] | None:
        """The next number of the same attempt, if ``leg_id`` is still the call's current leg."""
        # Not a move of the state machine: the call stays DIALING.
        condition, values = self._current(leg_id, {CallStatus.DIALING})
        return self.store.update(
            call_pk(call_id),
            {"number-index": number_index},
            condition=condition,
            condition_values=values,
        )

    def schedule_retry(
        self, call_id: str, leg_id: str, attempt: int, at: datetime, schedule: str | None
    ) -> bool:
        """Back to SCHEDULED for attempt ``attempt`` at ``at``, if ``leg_id`` is still current."""
        condition, values = self._current(leg_id, sources_of(CallStatus.SCHEDULED))
        moved = self.store.update(
            call_pk(call_id),
            {
                "status": CallStatus.SCHEDULED.value,
                "attempt": attempt,
                "number-index": 0,
                "due-at": _iso(at),
                "schedule": schedule,
            },
            condition=condition,
            condition_values=values,
        )
        return moved is not None

    def finish(
        self,
        call: dict[str, Any],
        leg_id: str,
        status: CallStatus,
        values: dict[str, Any],
        refund: Decimal | None,
    ) -> bool:
        """End the call in ``status`` (with ``values``), if ``leg_id`` is still current; with a
        ``refund`` the account gets it back in the same transaction. False if someone else
        ended or moved the call."""
        if not status.terminal:
            raise ValueError(f"{status} is not a terminal status")
        condition, condition_values = self._current(leg_id, sources_of(status))
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
        condition, values = status_condition(CallStatus.CANCELLED)
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
        condition, values = status_condition(CallStatus.CANCELLED)
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
        self.store.update(call_pk(call_id), {"notified": True})

    # --- legs -------------------------------------------------------------------------------

    def claim_leg(self, leg: dict[str, Any]) -> bool:
        """Create the leg's item (CLAIMED) unless it exists: of two dialers, one claims it."""
        return self.store.put_new({"pk": leg_pk(leg["leg-id"]), **leg})

    def take_over_claim(self, leg_id: str, now_epoch: int, claimed_before: int) -> bool:
        """Claim again a leg still CLAIMED since before ``claimed_before`` (its dialer died)."""
        condition, values = _one_of("state", leg_sources_of(LegState.CLAIMED))
        taken = self.store.update(
            leg_pk(leg_id),
            {"claimed-epoch": now_epoch},
            condition=f"{condition} AND #claimed < :stale",
            condition_values={**values, ":stale": claimed_before},
        )
        return taken is not None

    def mark_placed(self, leg_id: str) -> None:
        """The gateway took the leg."""
        condition, values = _one_of("state", leg_sources_of(LegState.PLACED))
        self.store.update(
            leg_pk(leg_id),
            {"state": LegState.PLACED.value},
            condition=condition,
            condition_values=values,
        )

    def end_leg(self, leg_id: str, values: dict[str, Any]) -> dict[str, Any] | None:
        """ENDED with its outcome, once; None when it had ended already."""
        condition, condition_values = _one_of("state", leg_sources_of(LegState.ENDED))
        return self.store.update(
            leg_pk(leg_id),
            {"state": LegState.ENDED.value, **values},
            condition=condition,
            condition_values=condition_values,
        )

    @staticmethod
    def _current(leg_id: str, sources: Iterable[CallStatus]) -> tuple[str, dict[str, Any]]:
        """The call is in one of ``sources`` and ``leg_id`` is its current leg."""
        condition, values = _one_of("status", (s.value for s in sources))
        return f"{condition} AND #leg = :leg", {**values, ":leg": leg_id}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
