"""``DELETE /outbound/calls/{phonon-uuid}`` (SPEC §3): cancel a flow's call that is not dialling
yet, its reservation refunded in the same step, and report it like every ended call."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from outdial.adapters.call_repository import DynamoCallRepository
from outdial.adapters.scheduler import Scheduler
from outdial.adapters.webhook_queue import WebhookQueue, call_ended_event_id
from outdial.logic.call_view import render_call
from outdial.logic.ports import CallRepository
from outdial.logic.queries import Queries
from outdial.models.calls import WAITING, Call, CallStatus
from outdial.models.codes import Code, ContractError
from outdial.observability import logger


@dataclass
class Cancellations:
    queries: Queries = field(default_factory=Queries)
    repository: CallRepository = field(default_factory=DynamoCallRepository)
    scheduler: Scheduler = field(default_factory=Scheduler)
    webhooks: WebhookQueue = field(default_factory=WebhookQueue)

    def cancel(self, flow_id: str, phonon_uuid: str, now: datetime | None = None) -> Call:
        """Cancel a call that is not dialling yet; its reservation is refunded in the same step.

        The race with a dialer is settled by the status condition: whichever write lands first
        wins, the other finds the call no longer waiting.
        """
        call = self.queries.own_call(flow_id, phonon_uuid)
        at = now or datetime.now(UTC)
        if not self.repository.cancel(phonon_uuid, call.account_id, call.cost, at):
            current = self.queries.own_call(flow_id, phonon_uuid)
            raise ContractError(
                Code.CANCEL_TOO_LATE,
                f"the call is {current.status.value}; only SCHEDULED or QUEUED calls can be "
                "cancelled",
                call=render_call(current),
            )
        cancelled = replace(call, status=CallStatus.CANCELLED, ended_at=at.isoformat())
        logger.info("call cancelled", phonon_uuid=phonon_uuid)
        self._drop_schedule_if_unneeded(call.schedule)
        # Every terminal status is reported, this one too (the dialer never sees this call).
        self.webhooks.send(
            phonon_uuid, call_ended_event_id(phonon_uuid, CallStatus.CANCELLED.value)
        )
        return cancelled

    def _drop_schedule_if_unneeded(self, name: str | None) -> None:
        """Delete the call's schedule once no call it would wake is still waiting."""
        if not name:
            return
        call_ids = self.scheduler.call_ids(name)
        if call_ids is None:
            return
        waiting = [c for c in self.queries.reads.calls(call_ids) if c.status in WAITING]
        if not waiting:
            self.scheduler.delete(name)
