"""Dialling: from a due call to its outcome (SPEC §4).

Every step is a conditional write, so SQS redeliveries, racing dialers and repeated gateway
events can only ever repeat a step that already happened, never do it twice:

- a due call moves SCHEDULED/QUEUED → DIALING (the same write a cancel races against);
- each leg (attempt x number) is claimed by creating its ``LEG#`` item before the gateway is
  asked, and the gateway gets the leg id as its idempotency key;
- an outcome ends its leg once (``state`` CLAIMED/PLACED → ENDED), and only the call's current
  leg may move the call on;
- the end of a call and the settling of its balance are one transaction.

A claim whose dialer crashed before the gateway answered stays CLAIMED. When the call's message
comes back (SQS redelivers it after the visibility timeout) and the claim is older than
``CLAIM_TIMEOUT_SECONDS``, the leg is placed again *with the same idempotency key*: the gateway
dials it at most once. Nothing is ever dialled on a second key.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from outdial.adapters.calls_store import CallsStore, call_pk, leg_pk
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.dial_queue import (
    DIAL_GROUP_SIZE,
    MAX_DELAY_SECONDS,
    DialMessage,
    DialQueue,
    delayed_messages,
    due_seconds,
)
from outdial.adapters.gateways import (
    Gateway,
    GatewayRefused,
    GatewayUnavailable,
    Leg,
    LegEvent,
    LegOutcome,
    build_gateway,
)
from outdial.adapters.scheduler import Scheduler, fires_in_time
from outdial.adapters.webhook_queue import (
    LEG_ENDED,
    WebhookMessage,
    WebhookQueue,
    call_ended_event_id,
    leg_ended_event_id,
)
from outdial.logic.policy import PLACE, SKIP_DNC, Policy, Skip, Wait, opening
from outdial.logic.transitions import (
    REFUSED,
    DialNext,
    Finish,
    LegResult,
    RetryLater,
    decide,
)
from outdial.models.calls import CallStatus
from outdial.models.codes import Code
from outdial.models.config import DEFAULT_RETRY_ON, FlowView, HttpGateway, SimulatorGateway
from outdial.models.phone import mask
from outdial.observability import count, logger
from outdial.settings import get_settings

CLAIM_TIMEOUT_SECONDS = 60
FLOW_CACHE_SECONDS = 30
# A message may arrive a little before its calls are due (SQS delays to the second); within this
# they are dialled, beyond it the message goes back on the queue, delayed, whole.
EARLY_TOLERANCE_SECONDS = 2
LEG_RETENTION = timedelta(days=7)

CLAIMED, PLACED, ENDED = "CLAIMED", "PLACED", "ENDED"
GATEWAY, NO_MASK = "gateway", "no-mask"  # why a leg was never placed
SKIPPED = "SKIPPED"  # a leg's outcome when the policy skipped it (SPEC §9): never placed


def leg_id_of(phonon_uuid: str, attempt: int, number_index: int) -> str:
    """Deterministic, so two dialers that reach the same leg contend for the same claim."""
    return f"{phonon_uuid}-a{attempt}-n{number_index}"


def pick_did(dids: list[str], leg_id: str) -> str:
    """Spread legs evenly over the enabled DIDs; a leg re-placed after a crash keeps its DID."""
    return dids[zlib.crc32(leg_id.encode()) % len(dids)]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


GatewayFactory = Callable[[SimulatorGateway | HttpGateway], Gateway]


@dataclass
class Dialer:
    """The dialer's use cases over its adapters (tests hand in their own)."""

    calls: CallsStore = field(default_factory=CallsStore)
    config: ConfigStore = field(default_factory=ConfigStore)
    queue: DialQueue = field(default_factory=DialQueue)
    scheduler: Scheduler = field(default_factory=Scheduler)
    webhooks: WebhookQueue = field(default_factory=WebhookQueue)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    gateway_factory: GatewayFactory | None = None
    policy: Policy = field(default_factory=Policy)
    _views: dict[str, tuple[float, FlowView | None]] = field(default_factory=dict, repr=False)

    def _flow_view(self, flow_id: str) -> FlowView | None:
        """The flow, read at most every FLOW_CACHE_SECONDS: a dialer looks it up for every leg
        and every outcome, while configuration changes rarely (a change reaches dialers within
        that time)."""
        now = time.monotonic()
        cached = self._views.get(flow_id)
        if cached is None or cached[0] < now:
            cached = (now + FLOW_CACHE_SECONDS, self.config.get_flow_view(flow_id))
            self._views[flow_id] = cached
        return cached[1]

    # --- messages ---------------------------------------------------------------------------

    def handle(self, message: dict[str, Any]) -> None:
        """One dial-queue message: calls to dial, or a gateway's leg outcome."""
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
        for phonon_uuid in ids:
            self.dial(phonon_uuid, dispatch.get(phonon_uuid))

    # --- dialling ---------------------------------------------------------------------------

    def dial(self, phonon_uuid: str, dispatch: str | None = None) -> None:
        """Dial the call's current leg if it is due and nobody else has.

        ``dispatch`` is the wake-up's token: a call that was rescheduled waits for the wake-up
        its reschedule made, and any older one is dropped.
        """
        logger.thread_safe_append_keys(phonon_uuid=phonon_uuid)
        call = self.calls.get_call(phonon_uuid)
        if call is None:
            logger.info("no such call: its request was undone; message dropped")
            return
        status = CallStatus(call["status"])
        if status in (CallStatus.SCHEDULED, CallStatus.QUEUED):
            if call.get("dispatch-id") != dispatch:
                logger.info("wake-up superseded by a reschedule; dropped")
                return
            call = self._start(call)
            if call is None:
                return
        elif status is not CallStatus.DIALING:
            logger.info("call already ended; nothing to dial", status=status.value)
            return
        self._dial_current_leg(call)

    def _start(self, call: dict[str, Any]) -> dict[str, Any] | None:
        """SCHEDULED/QUEUED → DIALING once due; None when it is not (yet) ours to dial."""
        now = self.clock()
        due = datetime.fromisoformat(call["due-at"])
        early = (due - now).total_seconds()
        if early > EARLY_TOLERANCE_SECONDS:
            delay = min(round(early), MAX_DELAY_SECONDS)
            self.queue.send([self._wake_up(call, delay)])
            logger.info("call not due yet; put back on the queue", delay_seconds=delay)
            return None
        moved = self._move(call, CallStatus.DIALING, {"dialing-at": _iso(now)})
        if moved is None:
            logger.info("call was taken or cancelled before dialling")
            return None
        count("ScheduleLagSeconds", max(0.0, -early), MetricUnit.Seconds)
        return moved

    @staticmethod
    def _wake_up(call: dict[str, Any], delay_seconds: int = 0) -> DialMessage:
        """A dial message for this call, carrying its dispatch token if it has one."""
        token = call.get("dispatch-id")
        return DialMessage(
            (call["phonon-uuid"],),
            delay_seconds=delay_seconds,
            dispatch=((call["phonon-uuid"], token),) if token else (),
        )

    def _move(
        self, call: dict[str, Any], to: CallStatus, values: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Move a call that is waiting to be dialled, and was not rescheduled since it was read
        (a reschedule and a dialer race like a cancel: one wins); None when it no longer is."""
        token = call.get("dispatch-id")
        same_dispatch = "#dispatch = :dispatch" if token else "attribute_not_exists(#dispatch)"
        return self.calls.update(
            call_pk(call["phonon-uuid"]),
            {"status": to.value, **values},
            condition=f"#status IN (:scheduled, :queued) AND {same_dispatch}",
            condition_values={
                ":scheduled": CallStatus.SCHEDULED.value,
                ":queued": CallStatus.QUEUED.value,
                **({":dispatch": token} if token else {}),
            },
        )

    def _dial_current_leg(self, call: dict[str, Any]) -> None:
        phonon_uuid = call["phonon-uuid"]
        attempt, index = int(call["attempt"]), int(call["number-index"])
        leg_id = leg_id_of(phonon_uuid, attempt, index)
        logger.thread_safe_append_keys(leg_id=leg_id, request_id=call["request-id"])
        if (call.get("legs") or {}).get(leg_id, {}).get("outcome"):
            return  # this leg ended already; its outcome moved the call on
        view = self._flow_view(call["flow-id"])
        number = call["contact-numbers"][index]
        now = self.clock()
        dids = view.flow.enabled_dids if view else []
        did = pick_did(dids, leg_id) if dids else None
        leg_item = {
            "pk": leg_pk(leg_id),
            "leg-id": leg_id,
            "phonon-uuid": phonon_uuid,
            "attempt": attempt,
            "number-index": index,
            "number": number,
            "did": did,
            "state": CLAIMED,
            "claimed-epoch": int(now.timestamp()),
            "expires-at": int((now + LEG_RETENTION).timestamp()),
        }
        fresh = self.calls.put_new(leg_item)
        if not fresh and not self._take_over_stale_claim(leg_id, now):
            logger.info("leg already claimed; not dialling it again")
            return
        # SPEC §9. A stale claim's first dialer passed the policy already (and may have placed
        # the leg): it is placed again under the same key, as it would have been.
        gate = self.policy.gate(view, number, leg_id, now) if fresh and view else PLACE
        if isinstance(gate, Wait):
            self._defer(call, leg_id, gate, now)
            return
        skip = gate.reason if isinstance(gate, Skip) else None
        record = {
            "attempt": attempt,
            "number-index": index,
            "number": number,
            "did": did,
            "outcome": None,
            "started-at": None if skip else _iso(now),
            "ended-at": None,
            "duration-seconds": None,
        }
        self.calls.update(call_pk(phonon_uuid), {f"legs.{leg_id}": record, "current-leg": leg_id})
        if skip is not None:
            logger.info("leg skipped by policy", skip_reason=skip, to=mask(number))
            self._end_leg(leg_id, SKIPPED, None, now, 0, placed=False, reason=skip)
            return
        if view is None or did is None or not view.gateway_usable:
            logger.warning("no enabled DID or gateway at dial time; leg fails unplaced")
            if view is not None:
                self.policy.uncount(view, number, leg_id)
            self._end_leg(leg_id, LegOutcome.FAILED, now, now, 0, placed=False, reason=NO_MASK)
            return
        assert view.gateway is not None
        leg = Leg(
            leg_id=leg_id,
            call_id=phonon_uuid,
            attempt=attempt,
            number_index=index,
            from_did=did,
            to_number=number,
            variables={k["name"]: k["value"] for k in call.get("keys") or []},
            ring_seconds=float(getattr(view.gateway, "ring_seconds", 30)),
            callback_url=self._callback_url(view.gateway.gateway_id),
        )
        try:
            self._gateway(view.gateway).place(leg)
        except (GatewayRefused, GatewayUnavailable) as error:
            logger.warning("gateway did not take the leg", error=str(error), to=mask(number))
            if isinstance(error, GatewayRefused):
                self.policy.uncount(view, number, leg_id)
            self._end_leg(
                leg_id, LegOutcome.FAILED, now, self.clock(), 0, placed=False, reason=GATEWAY
            )
            return
        self.calls.update(
            leg_pk(leg_id),
            {"state": PLACED},
            condition="#state = :claimed",
            condition_values={":claimed": CLAIMED},
        )
        logger.info("leg placed", to=mask(number), did=did)

    def _defer(self, call: dict[str, Any], leg_id: str, wait: Wait, now: datetime) -> None:
        """The leg may not be placed before ``wait.until``: give its claim back and let the
        call wait, SCHEDULED with ``next-dial-at``, for a wake-up then (SPEC §9)."""
        phonon_uuid = call["phonon-uuid"]
        self.calls.release_claim(leg_pk(leg_id))
        # At least a second on: the wake-up must not find the call before it is SCHEDULED.
        until = max(wait.until, now + timedelta(seconds=1))
        schedule = self._wake(call, until, f"defer-{phonon_uuid}-{int(until.timestamp())}")
        moved = self.calls.update(
            call_pk(phonon_uuid),
            {
                "status": CallStatus.SCHEDULED.value,
                "due-at": _iso(until),
                "next-dial-at": _iso(until),
                "schedule": schedule,
            },
            condition="#status = :dialing AND #attempt = :attempt AND #index = :index",
            condition_values={
                ":dialing": CallStatus.DIALING.value,
                ":attempt": int(call["attempt"]),
                ":index": int(call["number-index"]),
            },
        )
        if moved is not None:
            count("LegsDeferred", 1, reason=wait.reason)
            logger.info("leg waits", reason=wait.reason, until=_iso(until))

    def _wake(self, call: dict[str, Any], at: datetime, schedule: str) -> str | None:
        """Have the call's dial message come back at ``at``, with its dispatch token: an SQS
        delay when that is soon, a one-time schedule otherwise (returned, so a cancel can drop
        it)."""
        now = self.clock()
        if not fires_in_time(at, now):  # its schedule would fire too soon: an SQS delay
            lead = (at - now).total_seconds()
            self.queue.send([self._wake_up(call, min(max(0, math.ceil(lead)), MAX_DELAY_SECONDS))])
            return None
        token = call.get("dispatch-id")
        dispatch = {call["phonon-uuid"]: token} if token else None
        self.scheduler.create(schedule, at, [call["phonon-uuid"]], dispatch)
        return schedule

    def _take_over_stale_claim(self, leg_id: str, now: datetime) -> bool:
        """A claim whose dialer died before the gateway took the leg: take it over (the gateway
        dedupes by the leg id) once it is older than the claim timeout."""
        stale = int(now.timestamp()) - CLAIM_TIMEOUT_SECONDS
        taken = self.calls.update(
            leg_pk(leg_id),
            {"claimed-epoch": int(now.timestamp())},
            condition="#state = :claimed AND #claimed < :stale",
            condition_values={":claimed": CLAIMED, ":stale": stale},
        )
        if taken is not None:
            logger.warning("taking over a stale leg claim; same idempotency key")
        return taken is not None

    def _gateway(self, config: SimulatorGateway | HttpGateway) -> Gateway:
        if self.gateway_factory is not None:
            return self.gateway_factory(config)
        return build_gateway(config, self._emit)

    def _emit(self, event: LegEvent, delay_seconds: float) -> None:
        """Where the simulator's outcomes go: the dial queue, as a real gateway's events do."""
        delay = min(max(0, round(delay_seconds)), MAX_DELAY_SECONDS)
        self.queue.send(
            [DialMessage(gateway_id=event.gateway_id, event=event.to_dict(), delay_seconds=delay)]
        )

    @staticmethod
    def _callback_url(gateway_id: str) -> str | None:
        base = get_settings().public_base_url.rstrip("/")
        return f"{base}/gateway/events/{gateway_id}" if base else None

    # --- outcomes ---------------------------------------------------------------------------

    def apply_event(self, event: LegEvent) -> None:
        """A gateway's report of how a leg ended (duplicates and late ones change nothing)."""
        logger.thread_safe_append_keys(leg_id=event.leg_id)
        self._end_leg(
            event.leg_id,
            event.outcome,
            event.started_at,
            event.ended_at,
            event.duration_seconds,
            placed=True,
            event_id=event.event_id,
        )

    def _end_leg(
        self,
        leg_id: str,
        outcome: LegOutcome | str,
        started: datetime | None,
        ended: datetime,
        duration: int,
        *,
        placed: bool,
        event_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        leg = self.calls.get(leg_pk(leg_id))
        if leg is None:
            logger.warning("outcome for an unknown leg dropped", outcome=str(outcome))
            return
        ended_leg = self.calls.update(
            leg_pk(leg_id),
            {
                "state": ENDED,
                "outcome": str(outcome),
                "placed": placed,
                "reason": reason,
                "event-id": event_id,
                "started-at": _iso(started) if started else None,
                "ended-at": _iso(ended),
                "duration-seconds": duration,
            },
            condition="#state IN (:claimed, :placed)",
            condition_values={":claimed": CLAIMED, ":placed": PLACED},
        )
        if ended_leg is None:
            # Ended before: a repeated event. Carry on only to finish what a crash may have
            # interrupted; every later step is conditional, so nothing happens twice.
            ended_leg = leg
            logger.info("repeated outcome for an ended leg")
        elif outcome == SKIPPED:
            count("LegsSkipped", 1, reason=str(reason))
        else:
            count("LegsDialled", 1, outcome=str(outcome))
        self._advance(ended_leg)

    def _advance(self, leg: dict[str, Any]) -> None:
        phonon_uuid, leg_id = leg["phonon-uuid"], leg["leg-id"]
        record = {
            "attempt": int(leg["attempt"]),
            "number-index": int(leg["number-index"]),
            "number": leg["number"],
            "did": leg.get("did"),
            "outcome": leg.get("outcome"),
            "started-at": leg.get("started-at"),
            "ended-at": leg.get("ended-at"),
            "duration-seconds": int(leg.get("duration-seconds") or 0),
            "placed": bool(leg.get("placed")),
            **({"skip-reason": leg["reason"]} if leg.get("outcome") == SKIPPED else {}),
        }
        call = self.calls.update(call_pk(phonon_uuid), {f"legs.{leg_id}": record})
        if call is None:
            return
        self._notify_leg(call, leg)
        status = CallStatus(call["status"])
        if status.terminal:
            self._notify_once(call)
            return
        if status is not CallStatus.DIALING or call.get("current-leg") != leg_id:
            logger.info("outcome of a leg that is no longer current; call unchanged")
            return
        view = self._flow_view(call["flow-id"])
        placed_before = any(
            other.get("placed") for key, other in (call.get("legs") or {}).items() if key != leg_id
        )
        placed = bool(leg.get("placed", True))
        this_attempt = [
            other.get("outcome")
            for other in (call.get("legs") or {}).values()
            if int(other["attempt"]) == int(leg["attempt"])
        ]
        now = self.clock()
        decision = decide(
            LegResult(
                attempt=int(leg["attempt"]),
                number_index=int(leg["number-index"]),
                numbers=len(call["contact-numbers"]),
                max_attempts=view.flow.max_attempts if view else 1,
                retry_after_seconds=view.flow.retry_after_seconds if view else 900,
                outcome=LegOutcome(leg["outcome"]) if placed else REFUSED,
                placed_before=placed_before,
                now=now,
                retry_on=frozenset(view.flow.retry_on if view else DEFAULT_RETRY_ON),
                attempt_outcomes=frozenset(str(o) for o in this_attempt if o),
            )
        )
        current = {":dialing": CallStatus.DIALING.value, ":leg": leg_id}
        condition = "#status = :dialing AND #leg = :leg"
        if isinstance(decision, DialNext):
            moved = self.calls.update(
                call_pk(phonon_uuid),
                {"number-index": decision.number_index},
                condition=condition,
                condition_values=current,
            )
            if moved is not None:
                self._dial_current_leg(moved)
        elif isinstance(decision, RetryLater):
            self._retry_later(call, decision, view, condition, current)
        elif isinstance(decision, Finish):
            self._finish(call, decision, leg, condition, current)

    def _retry_later(
        self,
        call: dict[str, Any],
        decision: RetryLater,
        view: FlowView | None,
        condition: str,
        current: dict[str, Any],
    ) -> None:
        phonon_uuid = call["phonon-uuid"]
        at = decision.at
        if view is not None:  # not before the flow's calling window opens for the first number
            number = call["contact-numbers"][decision.number_index]
            at = opening(view.flow.calling_window, number, view.account.zone, at) or at
        # The wake-up first: a call left SCHEDULED with nothing to wake it would never dial.
        schedule = self._wake(call, at, f"retry-{phonon_uuid}-{decision.attempt}")
        self.calls.update(
            call_pk(phonon_uuid),
            {
                "status": CallStatus.SCHEDULED.value,
                "attempt": decision.attempt,
                "number-index": decision.number_index,
                "due-at": _iso(at),
                "next-dial-at": _iso(at),
                "schedule": schedule,
            },
            condition=condition,
            condition_values=current,
        )
        logger.info("attempt connected nowhere; next attempt scheduled", at=_iso(at))

    def _finish(
        self,
        call: dict[str, Any],
        decision: Finish,
        leg: dict[str, Any],
        condition: str,
        current: dict[str, Any],
    ) -> None:
        phonon_uuid = call["phonon-uuid"]
        values: dict[str, Any] = {"status": decision.status.value, "ended-at": _iso(self.clock())}
        if decision.status is CallStatus.FAILED:
            code = {NO_MASK: Code.NO_MASK_AVAILABLE, SKIP_DNC: Code.NUMBER_ON_DNC}.get(
                str(leg.get("reason")), Code.FAILURE_FROM_GATEWAY
            )
            values["error-code"], values["error-message"] = code.code, code.message
        if decision.status is CallStatus.COMPLETED:
            values["connected-number"] = leg["number"]
            values["duration-seconds"] = int(leg.get("duration-seconds") or 0)
            # The reservation becomes the charge: nothing to move.
            finished = self.calls.update(
                call_pk(phonon_uuid), values, condition=condition, condition_values=current
            )
            done = finished is not None
        else:
            done = self.calls.finish_and_refund(
                call_pk(phonon_uuid),
                values,
                condition=condition,
                condition_values=current,
                account_id=call["account-id"],
                refund=Decimal(str(call.get("cost", 0))),
            )
        if not done:
            return
        name = {
            CallStatus.COMPLETED: "CallsCompleted",
            CallStatus.NOT_CONNECTED: "CallsNotConnected",
            CallStatus.FAILED: "CallsFailed",
        }[decision.status]
        count(name, 1)
        logger.info("call ended", status=decision.status.value)
        self._notify_once(call | values)

    def _notify_leg(self, call: dict[str, Any], leg: dict[str, Any]) -> None:
        """Queue a ``leg.ended`` webhook for an account that asked for them, until recorded."""
        if leg.get("notified"):
            return
        view = self._flow_view(call["flow-id"])
        if view is None or LEG_ENDED not in view.account.webhook_events:
            return
        leg_id = leg["leg-id"]
        self.webhooks.send_message(
            WebhookMessage(call["phonon-uuid"], leg_ended_event_id(leg_id), LEG_ENDED, leg_id)
        )
        self.calls.update(leg_pk(leg_id), {"notified": True})

    def _notify_once(self, call: dict[str, Any]) -> None:
        """Queue the customer's webhook for a terminal call, until that has been recorded."""
        if call.get("notified"):
            return
        self.webhooks.send(
            call["phonon-uuid"], call_ended_event_id(call["phonon-uuid"], call["status"])
        )
        self.calls.update(call_pk(call["phonon-uuid"]), {"notified": True})
