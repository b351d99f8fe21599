"""``POST /outbound/webhooks/replay``: queue the ``call.ended`` event of ended calls again
(SPEC §10), with the event-id it was first sent with, so receivers that kept it drop it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from outdial.adapters.webhook_queue import WebhookMessage, WebhookQueue, call_ended_event_id
from outdial.logic.queries import Queries, requested_uuids
from outdial.models.codes import Code, ContractError
from outdial.observability import logger


@dataclass
class WebhookReplay:
    queries: Queries = field(default_factory=Queries)
    webhooks: WebhookQueue = field(default_factory=WebhookQueue)

    def replay(self, flow_id: str, phonon_uuids: list[Any]) -> int:
        """Queue the ended calls' events again; how many. 213 when none of them has ended."""
        wanted = requested_uuids(phonon_uuids)
        calls = self.queries.own_calls(flow_id, wanted)
        ended = [calls[u] for u in dict.fromkeys(wanted) if u in calls and calls[u].status.terminal]
        if not ended:
            raise ContractError(Code.NO_DATA_AVAILABLE, "none of the phonon-uuids has ended")
        self.webhooks.send_many(
            [
                WebhookMessage(c.phonon_uuid, call_ended_event_id(c.phonon_uuid, c.status.value))
                for c in ended
            ]
        )
        logger.info("webhooks queued again", flow_id=flow_id, queued=len(ended))
        return len(ended)
