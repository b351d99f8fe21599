"""Dialling: from a due call to its outcome (SPEC §4).

Every step is a conditional write of the call repository, its condition taken from the state
machine, so SQS redeliveries, racing dialers and repeated gateway events can only ever repeat a
step that already happened, never do it twice:

- a due call moves SCHEDULED/QUEUED → DIALING (the same write a cancel races against);
- each leg (attempt x number) is an entry of its call, claimed by the write that takes the call
  to it, before the gateway is asked, and the gateway gets the leg id as its idempotency key
  (``placing.py``);
- a leg that may not be placed yet (calling window, frequency cap, the gateway's pace) gives
  its claim back or sets it aside, and the call waits for a wake-up (``waiting.py``);
- an outcome ends its leg once (CLAIMED/PLACED → ENDED), by the write that moves the call on,
  and only the call's current leg may move the call on; the end of a call and the settling of
  its balance are one transaction (``outcomes.py``).

A claim whose dialer crashed before the gateway answered stays CLAIMED. When the call's message
comes back (SQS redelivers it after the visibility timeout) and the claim is older than
``CLAIM_TIMEOUT_SECONDS``, the leg is placed again *with the same idempotency key*: the gateway
dials it at most once. Nothing is ever dialled on a second key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from outdial.adapters.call_repository import DynamoCallRepository
from outdial.adapters.config_store import FLOW_VIEW_TTL_SECONDS, CachedConfigStore, ConfigStore
from outdial.adapters.dial_queue import (
    MAX_DELAY_SECONDS,
    DialMessage,
    DialQueue,
    OutcomeQueue,
    delayed_messages,
    due_seconds,
)
from outdial.adapters.gateways import Gateway, build_gateway
from outdial.adapters.parallel import each, first_error
from outdial.adapters.scheduler import Scheduler
from outdial.adapters.webhook_queue import WebhookQueue
from outdial.contract import DIAL_GROUP_SIZE, Metric
from outdial.logic.budget import STEP_SECONDS, budget, fits
from outdial.logic.outcomes import ApplyingOutcomes
from outdial.logic.pacing import Pacer
from outdial.logic.placing import (
    CLAIM_TIMEOUT_SECONDS,
    EARLY_TOLERANCE_SECONDS,
    GatewayFactory,
    PlacingLegs,
    leg_id_of,
    pick_did,
)
from outdial.logic.policy import Policy
from outdial.logic.ports import CallRepository
from outdial.logic.waiting import Waiting
from outdial.models.config import AnyGateway, FlowView
from outdial.models.legs import LegEvent
from outdial.observability import count, logger, metrics_batch
from outdial.settings import get_settings

__all__ = ["CLAIM_TIMEOUT_SECONDS", "FLOW_CACHE_SECONDS", "Dialer", "leg_id_of", "pick_did"]

FLOW_CACHE_SECONDS = FLOW_VIEW_TTL_SECONDS
# A dial group's calls are dialled together, each mostly waiting on its gateway (~250 ms for a
# carrier's create-call request): the group takes about one call's time, not ten.
DIAL_CONCURRENCY = DIAL_GROUP_SIZE


@dataclass
class Dialer(PlacingLegs, Waiting, ApplyingOutcomes):
    """The dialer's use cases over its adapters (tests hand in their own)."""

    calls: CallRepository = field(default_factory=DynamoCallRepository)
    config: ConfigStore = field(default_factory=CachedConfigStore)
    queue: DialQueue = field(default_factory=DialQueue)
    outcomes: DialQueue = field(default_factory=OutcomeQueue)
    scheduler: Scheduler = field(default_factory=Scheduler)
    webhooks: WebhookQueue = field(default_factory=WebhookQueue)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    gateway_factory: GatewayFactory | None = None
    policy: Policy = field(default_factory=Policy)
    pacer: Pacer = field(default_factory=Pacer)
    dial_concurrency: int = DIAL_CONCURRENCY

    def _flow_view(self, flow_id: str) -> FlowView | None:
        """The flow (``CachedConfigStore`` reads it at most every FLOW_VIEW_TTL_SECONDS: a dialer
        looks it up for every leg and every outcome)."""
        return self.config.get_flow_view(flow_id)

    def handle(self, message: dict[str, Any], remaining_seconds: float | None = None) -> None:
        """One dial-queue message: calls to dial, or a gateway's leg outcome, within
        ``remaining_seconds`` (what is left of the invocation; None: no limit). Calls that would
        not fit go back on the queue. Its metrics leave as one line each when it is done."""
        with budget(remaining_seconds), metrics_batch():
            self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        if "event" in message:
            self.apply_event(
                LegEvent.from_dict(str(message.get("gateway-id", "")), message["event"])
            )
            return
        ids = [str(i) for i in message.get("call-ids", [])]
        raw_dispatch = message.get("dispatch")
        dispatch = (
            {str(k): str(v) for k, v in raw_dispatch.items()}
            if isinstance(raw_dispatch, dict)
            else {}
        )
        dues = due_seconds(message)
        now = self.clock().timestamp()
        if len(ids) > DIAL_GROUP_SIZE or len(set(dues)) > 1:
            # A schedule's minute: re-sent as messages of calls due the same second, each
            # delayed by SQS to its second, so many dialers share it and none dials early.
            self.queue.send(delayed_messages(list(zip(ids, dues, strict=True)), now, dispatch))
            logger.info("schedule's calls re-sent to their seconds", calls=len(ids))
            return
        due = dues[0] if dues else None
        if due is not None and due - now > EARLY_TOLERANCE_SECONDS:
            # Early (a redelivery, or a due time beyond SQS's 15 minutes): the same message
            # again, delayed until due; never split into one message per call.
            self.queue.send(delayed_messages([(i, due) for i in ids], now, dispatch))
            logger.info("dial message early; delayed whole", calls=len(ids))
            return
        self._dial_group(ids, dispatch)

    def _dial_group(self, ids: list[str], dispatch: dict[str, str]) -> None:
        """Dial the group's calls together (in the order given, at most ``dial_concurrency`` at a
        time). A call whose turn comes when the invocation has no time left for it is not
        dialled: those go back on the queue, in one message. A call that failed fails the
        message once every other has run (its redelivery finds the others dialled)."""

        def dial_in_time(phonon_uuid: str) -> bool:
            if not fits(STEP_SECONDS):
                return False
            self.dial(phonon_uuid, dispatch.get(phonon_uuid))
            return True

        results = each(dial_in_time, ids, limit=self.dial_concurrency)
        error = first_error(results)
        if error is not None:
            raise error  # the whole message comes back: the calls not dialled with it
        late = [i for i, dialled in zip(ids, results, strict=True) if dialled is False]
        if late:
            self._requeue(late, dispatch)

    def _requeue(self, ids: list[str], dispatch: dict[str, str] | None = None) -> None:
        """Put calls this invocation has no time left for back on the queue, due now (with the
        dispatch tokens their message carried)."""
        tokens = tuple((i, (dispatch or {})[i]) for i in ids if i in (dispatch or {}))
        self.queue.send([DialMessage(tuple(ids), dispatch=tokens)])
        count(Metric.DIALS_REQUEUED, len(ids))
        logger.info("out of time: calls put back on the queue", calls=len(ids))

    def gateway(self, config: AnyGateway) -> Gateway:
        if self.gateway_factory is not None:
            return self.gateway_factory(config)
        return build_gateway(config, self._emit)

    def _emit(self, event: LegEvent, delay_seconds: float) -> None:
        """Where the simulator's outcomes go: the outcome queue, as a real gateway's events do."""
        delay = min(max(0, round(delay_seconds)), MAX_DELAY_SECONDS)
        self.outcomes.send(
            [DialMessage(gateway_id=event.gateway_id, event=event.to_dict(), delay_seconds=delay)]
        )

    @staticmethod
    def _callback_url(gateway_id: str) -> str | None:
        base = get_settings().public_base_url.rstrip("/")
        return f"{base}/gateway/events/{gateway_id}" if base else None
