"""Status queries and cancel (SPEC §3): a flow sees and touches only its own calls."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from outdial.adapters.calls_store import CallsStore, call_pk, request_pk
from outdial.adapters.scheduler import Scheduler
from outdial.adapters.webhook_queue import WebhookQueue, call_ended_event_id
from outdial.logic.call_view import render_call
from outdial.logic.validation import MAX_CALLS, is_uuid
from outdial.models.calls import WAITING, CallStatus
from outdial.models.codes import Code, ContractError
from outdial.observability import logger


def requested_uuids(phonon_uuids: list[Any]) -> list[str]:
    """A ``phonon-uuids`` list as the pull API takes it: 1 to 500 (302, 303), and only strings
    that could be uuids are looked up."""
    if not phonon_uuids:
        raise ContractError(Code.EMPTY_CALL_LIST, "phonon-uuids is empty")
    if len(phonon_uuids) > MAX_CALLS:
        raise ContractError(Code.MAX_DATA_LIST_SIZE_EXCEEDED, f"at most {MAX_CALLS} phonon-uuids")
    return [u for u in phonon_uuids if is_uuid(u)]


@dataclass
class Queries:
    calls: CallsStore = field(default_factory=CallsStore)
    scheduler: Scheduler = field(default_factory=Scheduler)
    webhooks: WebhookQueue = field(default_factory=WebhookQueue)

    def _own_call(self, flow_id: str, phonon_uuid: str) -> dict[str, Any]:
        item = self.calls.get_call(phonon_uuid) if is_uuid(phonon_uuid) else None
        if item is None or item.get("flow-id") != flow_id:
            raise ContractError(Code.NO_DATA_AVAILABLE, f"no call {phonon_uuid} for this flow")
        return item

    def pull(self, flow_id: str, phonon_uuids: list[Any], last_only: bool) -> list[dict[str, Any]]:
        """The pull API: one ``<call>`` per known uuid of this flow, in the order asked."""
        wanted = requested_uuids(phonon_uuids)
        found = self.own_calls(flow_id, wanted)
        data = [
            render_call(found[u], last_attempt_only=last_only)
            for u in dict.fromkeys(wanted)
            if u in found
        ]
        if not data:
            raise ContractError(
                Code.NO_DATA_AVAILABLE, "none of the phonon-uuids is known", data=[]
            )
        return data

    def own_calls(self, flow_id: str, phonon_uuids: list[str]) -> dict[str, dict[str, Any]]:
        """The flow's calls among ``phonon_uuids``, by uuid (others' and unknown ones left out)."""
        return {
            item["phonon-uuid"]: item
            for item in self.calls.get_many([call_pk(u) for u in phonon_uuids])
            if item.get("flow-id") == flow_id
        }

    def call(self, flow_id: str, phonon_uuid: str) -> dict[str, Any]:
        return render_call(self._own_call(flow_id, phonon_uuid))

    def request(self, flow_id: str, request_id: str) -> dict[str, Any]:
        item = self.calls.get(request_pk(request_id)) if is_uuid(request_id) else None
        if item is None or item.get("flow-id") != flow_id:
            raise ContractError(Code.NO_DATA_AVAILABLE, f"no request {request_id} for this flow")
        calls = {
            c["phonon-uuid"]: c for c in self.calls.get_many([call_pk(i) for i in item["call-ids"]])
        }
        return {
            "request-id": request_id,
            "created-at": item.get("created-at"),
            "call-details": json.loads(item["call-details"]),
            "calls": [render_call(calls[i]) for i in item["call-ids"] if i in calls],
        }

    def cancel(self, flow_id: str, phonon_uuid: str, now: datetime | None = None) -> dict[str, Any]:
        """Cancel a call that is not dialling yet; its reservation is refunded in the same step.

        The race with a dialer is settled by the status condition: whichever write lands first
        wins, the other finds the call no longer waiting.
        """
        item = self._own_call(flow_id, phonon_uuid)
        values = {
            "status": CallStatus.CANCELLED.value,
            "ended-at": (now or datetime.now(UTC)).isoformat(),
        }
        cancelled = self.calls.finish_and_refund(
            call_pk(phonon_uuid),
            values,
            condition="#status IN (:scheduled, :queued)",
            condition_values={":scheduled": WAITING[0].value, ":queued": WAITING[1].value},
            account_id=item["account-id"],
            refund=Decimal(str(item.get("cost", 0))),
        )
        if not cancelled:
            current = self._own_call(flow_id, phonon_uuid)
            raise ContractError(
                Code.CANCEL_TOO_LATE,
                f"the call is {current['status']}; only SCHEDULED or QUEUED calls can be cancelled",
                call=render_call(current),
            )
        item |= values
        logger.info("call cancelled", phonon_uuid=phonon_uuid)
        self._drop_schedule_if_unneeded(item.get("schedule"))
        # Every terminal status is reported, this one too (the dialer never sees this call).
        self.webhooks.send(
            phonon_uuid, call_ended_event_id(phonon_uuid, CallStatus.CANCELLED.value)
        )
        return item

    def _drop_schedule_if_unneeded(self, name: str | None) -> None:
        """Delete the call's schedule once no call it would wake is still waiting."""
        if not name:
            return
        call_ids = self.scheduler.call_ids(name)
        if call_ids is None:
            return
        waiting = [
            c for c in self.calls.get_many([call_pk(i) for i in call_ids]) if c["status"] in WAITING
        ]
        if not waiting:
            self.scheduler.delete(name)
