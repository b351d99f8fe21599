"""The moves that end a call (``finish``, ``cancel``, ``withdraw``) and give its reservation
back, and the mark that its end was reported; part of the call repository (see
``outdial.adapters.call_repository`` for how each condition comes from the state machine)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from botocore.exceptions import ClientError

from outdial.adapters.call_items import ending_values, leg_entry_values
from outdial.adapters.calls_store import CallsStore, call_pk
from outdial.adapters.errors import AdapterError
from outdial.adapters.moves import (
    DEADLINE_KEYS,
    MOVES,
    at_leg,
    ending_leg,
    every,
    status_condition,
)
from outdial.adapters.tables import key, to_values
from outdial.models.calls import Call, CallStatus, EndedLeg, Ending


class CallEndings:
    """The ending half of ``DynamoCallRepository``."""

    store: CallsStore

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
        on the call by the same write (if it has not ended yet). False if someone else ended
        or moved the call, or ended that leg."""
        if not ending.status.terminal:
            raise ValueError(f"{ending.status} is not a terminal status")
        ended_id = ended[0] if ended else None
        condition, condition_values = every(
            status_condition(ending.status, MOVES["finish"][0]),
            at_leg(position),
            *ending_leg(ended_id),
        )
        fields = ending_values(ending) | leg_entry_values(ended)
        if refund is None:
            done = self.store.update(
                call_pk(call.phonon_uuid),
                fields,
                condition=condition,
                condition_values=condition_values,
                leg_id=ended_id,
            )
            return done is not None
        return self.store.finish_and_refund(
            call_pk(call.phonon_uuid),
            fields,
            condition=condition,
            condition_values=condition_values,
            account_id=call.account_id,
            refund=refund,
            leg_id=ended_id,
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
