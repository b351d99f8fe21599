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
    GatewayRateLimited,
    GatewayRefused,
    GatewayUnavailable,
    Leg,
    LegEvent,
    LegOutcome,
    build_gateway,
)
from outdial.adapters.scheduler import Scheduler, fires_in_time
from outdial.adapters.tables import DEADLINE_PARTITION_KEY, DEADLINE_SHARDS, DEADLINE_SORT_KEY
from outdial.adapters.webhook_queue import (
    LEG_ENDED,
    WebhookMessage,
    WebhookQueue,
    call_ended_event_id,
    leg_ended_event_id,
)
from outdial.logic.budget import STEP_SECONDS, budget, fits, placing_seconds
from outdial.logic.pacing import Pacer
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
from outdial.models.config import DEFAULT_RETRY_ON, AnyGateway, FlowView
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
PACED = "PACED"  # claimed, then over the gateway's pace or rate limit: not placed, waits
UNKNOWN_PLACEMENT = "unknown"  # a leg whose placing request may or may not have reached it
GATEWAY, NO_MASK = "gateway", "no-mask"  # why a leg was never placed
DEADLINE = "deadline"  # why a leg ended UNKNOWN: its outcome never came (SPEC §11)
# How long a call may sit DIALING with no leg claimed (taken, or moved on to its next number)
# before the reconciler dials it itself: the dialer doing so died.
TAKE_DEADLINE_SECONDS = 300
DEADLINE_KEYS = (DEADLINE_PARTITION_KEY, DEADLINE_SORT_KEY)


def deadline_keys(phonon_uuid: str, due: datetime) -> dict[str, Any]:
    """The call's entry in the dialing-deadlines index: its shard and when it is overdue."""
    shard = zlib.crc32(phonon_uuid.encode()) % DEADLINE_SHARDS
    return {DEADLINE_PARTITION_KEY: str(shard), DEADLINE_SORT_KEY: int(due.timestamp()) + 1}


SKIPPED = "SKIPPED"  # a leg's outcome when the policy skipped it (SPEC §9): never placed


def leg_id_of(phonon_uuid: str, attempt: int, number_index: int) -> str:
    """Deterministic, so two dialers that reach the same leg contend for the same claim."""
    return f"{phonon_uuid}-a{attempt}-n{number_index}"


def pick_did(dids: list[str], leg_id: str) -> str:
    """Spread legs evenly over the enabled DIDs; a leg re-placed after a crash keeps its DID."""
    return dids[zlib.crc32(leg_id.encode()) % len(dids)]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


GatewayFactory = Callable[[AnyGateway], Gateway]


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
    pacer: Pacer = field(default_factory=Pacer)
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

    def handle(self, message: dict[str, Any], remaining_seconds: float | None = None) -> None:
        """One dial-queue message: calls to dial, or a gateway's leg outcome, within
        ``remaining_seconds`` (what is left of the invocation; None: no limit). Calls that would
        not fit go back on the queue."""
        with budget(remaining_seconds):
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
        for index, phonon_uuid in enumerate(ids):
            if not fits(STEP_SECONDS):
                self._requeue(ids[index:], dispatch)
                return
            self.dial(phonon_uuid, dispatch.get(phonon_uuid))

    def _requeue(self, ids: list[str], dispatch: dict[str, str] | None = None) -> None:
        """Put calls this invocation has no time left for back on the queue, due now (with the
        dispatch tokens their message carried)."""
        tokens = tuple((i, (dispatch or {})[i]) for i in ids if i in (dispatch or {}))
        self.queue.send([DialMessage(tuple(ids), dispatch=tokens)])
        count("DialsRequeued", len(ids))
        logger.info("out of time: calls put back on the queue", calls=len(ids))

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
            if status.terminal and status is not CallStatus.CANCELLED:  # a cancel reports itself
                self._notify_once(call)  # the dialer that ended it may have died before this
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
        take_by = now + timedelta(seconds=TAKE_DEADLINE_SECONDS)
        moved = self._move(
            call,
            CallStatus.DIALING,
            {"dialing-at": _iso(now)} | deadline_keys(call["phonon-uuid"], take_by),
        )
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
            self._advance_ended(leg_id)  # ended; a crash may have kept it from moving the call
            return
        view = self._flow_view(call["flow-id"])
        if not fits(placing_seconds(view.gateway if view else None)):
            self._requeue([phonon_uuid])  # the gateway might not answer before we are cut off
            return
        number = call["contact-numbers"][index]
        dids = view.flow.enabled_dids if view else []
        did = pick_did(dids, leg_id) if dids else None
        now = self.clock()
        leg_item = {
            "pk": leg_pk(leg_id),
            "leg-id": leg_id,
            "phonon-uuid": phonon_uuid,
            "attempt": attempt,
            "number-index": index,
            "number": number,
            "did": did,
            "gateway-id": view.gateway.gateway_id if view and view.gateway else None,
            "state": CLAIMED,
            "claimed-epoch": int(now.timestamp()),
            "expires-at": int((now + LEG_RETENTION).timestamp()),
        }
        fresh = self.calls.put_new(leg_item)
        if not fresh and not self._take_over_claim(leg_id, now, view.gateway if view else None):
            logger.info("leg already claimed; not dialling it again")
            self._advance_ended(leg_id)  # unless it ended and the call never moved on
            return
        # SPEC §9. A stale claim's first dialer passed the policy already (and may have placed
        # the leg): it is placed again under the same key, as it would have been.
        gate = self.policy.gate(view, number, leg_id, now) if fresh and view else PLACE
        if isinstance(gate, Wait):
            self._defer(call, leg_id, gate, now)
            return
        skip = gate.reason if isinstance(gate, Skip) else None
        due = now + timedelta(seconds=view.leg_deadline_seconds() if view else 0)
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
        self.calls.update(
            call_pk(phonon_uuid),
            {f"legs.{leg_id}": record, "current-leg": leg_id} | deadline_keys(phonon_uuid, due),
        )
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
            ring_seconds=float(view.gateway.ring_seconds),
            callback_url=self._callback_url(view.gateway.gateway_id),
            max_call_seconds=view.flow.max_call_seconds,
        )
        gateway = self.gateway(view.gateway)
        # The slot is taken last, right before the leg leaves, so the leg is placed in the
        # second it was admitted to.
        wait = self.pacer.admit(view.gateway)
        if wait:
            self._wait_for_pace(phonon_uuid, leg_id, wait)
            return
        now = self.clock()
        placement, ref = None, None
        try:
            ref = gateway.place(leg)
        except GatewayRateLimited as limited:
            retry = math.ceil(limited.retry_after or 1)
            count("LegsPaced", 1, gateway_id=view.gateway.gateway_id)
            logger.info("gateway rate-limited the leg; it waits", wait_seconds=retry)
            self._wait_for_pace(phonon_uuid, leg_id, retry)
            return
        except GatewayRefused as error:
            logger.warning("gateway refused the leg", error=str(error), to=mask(number))
            self.policy.uncount(view, number, leg_id)
            self._end_leg(
                leg_id, LegOutcome.FAILED, now, self.clock(), 0, placed=False, reason=GATEWAY
            )
            return
        except GatewayUnavailable as error:
            # Not a refusal: the gateway may have taken it (SPEC §11). The leg waits for its
            # outcome or its deadline; the next number is not dialled meanwhile.
            logger.warning("leg placement unknown", error=str(error), to=mask(number))
            count("LegsPlacementUnknown", 1)
            placement = UNKNOWN_PLACEMENT
        self.calls.update(
            leg_pk(leg_id),
            {
                "state": PLACED,
                "placement": placement,
                "deadline-at": int(due.timestamp()),
                "gateway-ref": ref,
                "placed-at": _iso(now),
            },
            condition="#state = :claimed",
            condition_values={":claimed": CLAIMED},
        )
        logger.info(
            "leg placed",
            to=mask(number),
            did=did,
            placement=placement or "accepted",
            placed_at=_iso(now),
        )

    def _advance_ended(self, leg_id: str) -> None:
        """Move the call on from its leg ``leg_id`` if that leg has ended (a redelivered message
        finishing what a crash interrupted; every step is conditional)."""
        leg = self.calls.get(leg_pk(leg_id))
        if leg is not None and leg.get("state") == ENDED:
            logger.info("leg ended before; moving the call on")
            self.advance(leg)

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
            remove=DEADLINE_KEYS,
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

    def _wait_for_pace(self, phonon_uuid: str, leg_id: str, wait: int) -> None:
        """The leg was not placed (over the gateway's pace, or turned away by its rate limit):
        its claim is set aside, for the next dialer to reach it to take at once, and the call
        comes back to the queue ``wait`` seconds later."""
        self.calls.update(
            leg_pk(leg_id),
            {"state": PACED},
            condition="#state = :claimed",
            condition_values={":claimed": CLAIMED},
        )
        delay = min(max(1, wait), MAX_DELAY_SECONDS)
        self.queue.send([DialMessage((phonon_uuid,), delay_seconds=delay)])

    def _take_over_claim(self, leg_id: str, now: datetime, gateway: AnyGateway | None) -> bool:
        """Whether this dialer may place a leg someone claimed before: one set aside to wait
        for pace, at once; one whose dialer died before the gateway answered, once the claim is
        older than the claim timeout, and only if the gateway dedupes by the leg id. A carrier
        does not: its leg may have been placed, so it is never posted again; it waits for its
        callback or its deadline as a placement unknown."""
        stale = int(now.timestamp()) - CLAIM_TIMEOUT_SECONDS
        if gateway is not None and not gateway.idempotent_placing:
            if self._take_over(leg_id, now, "#state = :paced", {":paced": PACED}):
                return True
            unknown = self.calls.update(
                leg_pk(leg_id),
                {"state": PLACED, "placement": UNKNOWN_PLACEMENT},
                condition="#state = :claimed AND #claimed < :stale",
                condition_values={":claimed": CLAIMED, ":stale": stale},
            )
            if unknown is not None:
                logger.warning(
                    "an interrupted carrier leg is never posted again: placement unknown"
                )
            return False
        return self._take_over(
            leg_id,
            now,
            "(#state = :claimed AND #claimed < :stale) OR #state = :paced",
            {":claimed": CLAIMED, ":stale": stale, ":paced": PACED},
        )

    def _take_over(
        self, leg_id: str, now: datetime, condition: str, values: dict[str, Any]
    ) -> bool:
        taken = self.calls.update(
            leg_pk(leg_id),
            {"claimed-epoch": int(now.timestamp()), "state": CLAIMED},
            condition=condition,
            condition_values=values,
        )
        if taken is not None:
            logger.warning("taking over a leg claim; same idempotency key")
        return taken is not None

    def gateway(self, config: AnyGateway) -> Gateway:
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
        """A gateway's report of how a leg ended (duplicates and late ones change nothing); only
        the gateway that placed the leg may end it."""
        logger.thread_safe_append_keys(leg_id=event.leg_id)
        self._end_leg(
            event.leg_id,
            event.outcome,
            event.started_at,
            event.ended_at,
            event.duration_seconds,
            placed=True,
            event_id=event.event_id,
            gateway_id=event.gateway_id,
        )

    def end_unknown(self, leg_id: str) -> None:
        """End an overdue leg whose gateway could not say how it went: UNKNOWN, and its call
        FAILED 206, refunded and reported (SPEC §11)."""
        now = self.clock()
        leg = self.calls.get(leg_pk(leg_id)) or {}
        started = leg.get("claimed-epoch")
        began = datetime.fromtimestamp(int(started), UTC) if started is not None else now
        self._end_leg(
            leg_id, LegOutcome.UNKNOWN, min(began, now), now, 0, placed=True, reason=DEADLINE
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
        gateway_id: str | None = None,
    ) -> None:
        leg = self.calls.get(leg_pk(leg_id))
        if leg is None:
            logger.warning("outcome for an unknown leg dropped", outcome=str(outcome))
            return
        if gateway_id is not None and leg.get("gateway-id") not in (None, gateway_id):
            logger.warning("outcome from a gateway that did not place the leg dropped")
            return
        ended_leg = self.calls.update(
            leg_pk(leg_id),
            {
                "state": ENDED,
                "outcome": str(outcome),
                "placed": placed,
                "reason": reason,
                "event-id": event_id,
                # When the leg was placed, if it was (after any wait for pace).
                "started-at": leg.get("placed-at") or (_iso(started) if started else None),
                "ended-at": _iso(ended),
                "duration-seconds": duration,
            },
            condition="#state IN (:claimed, :placed)",
            condition_values={":claimed": CLAIMED, ":placed": PLACED},
            remove=("deadline-at",),
        )
        if ended_leg is None:
            # Ended before: a repeated event (or our own write, whose answer was lost). Carry
            # on only to finish what a crash may have interrupted; every later step is
            # conditional, so nothing happens twice.
            ended_leg = self.calls.get(leg_pk(leg_id))
            if ended_leg is None or ended_leg.get("state") != ENDED:
                return
            logger.info("repeated outcome for an ended leg")
        elif outcome == SKIPPED:
            count("LegsSkipped", 1, reason=str(reason))
        else:
            count("LegsDialled", 1, outcome=str(outcome))
        self.advance(ended_leg)

    def advance(self, leg: dict[str, Any]) -> None:
        """Move the call on from its ended leg ``leg`` (the leg item), if it is still current."""
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
        # The leg's record on the call rides on the write that moves the call on (one write a
        # leg's end, not two); the call is read first to decide that move.
        call = self.calls.get_call(phonon_uuid)
        if call is None:
            return
        status = CallStatus(call["status"])
        # The call's current leg is the one its attempt and number index name (both move before
        # the next leg is claimed), not the last one recorded: a dialer may have died between
        # claiming a leg and recording it on the call.
        position = (int(leg["attempt"]), int(leg["number-index"]))
        if (
            status is not CallStatus.DIALING
            or (
                int(call["attempt"]),
                int(call["number-index"]),
            )
            != position
        ):
            self._record_only(leg, record)
            return
        call = call | {"legs": (call.get("legs") or {}) | {leg_id: record}}
        recorded = {f"legs.{leg_id}": record}
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
        current = {
            ":dialing": CallStatus.DIALING.value,
            ":attempt": position[0],
            ":index": position[1],
        }
        condition = "#status = :dialing AND #attempt = :attempt AND #index = :index"
        if isinstance(decision, DialNext):
            take_by = now + timedelta(seconds=TAKE_DEADLINE_SECONDS)
            moved = self.calls.update(
                call_pk(phonon_uuid),
                {"number-index": decision.number_index}
                | deadline_keys(phonon_uuid, take_by)
                | recorded,
                condition=condition,
                condition_values=current,
            )
            if moved is None:
                self._record_only(leg, record)
                return
            self._notify_leg(moved, leg)
            self._dial_current_leg(moved)
        elif isinstance(decision, RetryLater):
            if self._retry_later(call, decision, view, condition, current, recorded):
                self._notify_leg(call, leg)
            else:
                self._record_only(leg, record)
        elif isinstance(decision, Finish):
            self._finish(call, decision, leg, condition, current, record)

    def _record_only(self, leg: dict[str, Any], record: dict[str, Any]) -> None:
        """Record an ended leg on a call it does not move on (ended, or moved on by another
        leg or a cancel meanwhile), and report the call if it has ended."""
        call = self.calls.update(call_pk(leg["phonon-uuid"]), {f"legs.{leg['leg-id']}": record})
        if call is None:
            return
        self._notify_leg(call, leg)
        if CallStatus(call["status"]).terminal:
            self._notify_once(call)
            return
        logger.info("outcome of a leg that is no longer current; call unchanged")

    def _retry_later(
        self,
        call: dict[str, Any],
        decision: RetryLater,
        view: FlowView | None,
        condition: str,
        current: dict[str, Any],
        recorded: dict[str, Any],
    ) -> bool:
        """Schedule the call's next attempt; False when the call was no longer this leg's to
        move."""
        phonon_uuid = call["phonon-uuid"]
        at = decision.at
        if view is not None:  # not before the flow's calling window opens for the first number
            number = call["contact-numbers"][decision.number_index]
            at = opening(view.flow.calling_window, number, view.account.zone, at) or at
        # The wake-up first: a call left SCHEDULED with nothing to wake it would never dial.
        schedule = self._wake(call, at, f"retry-{phonon_uuid}-{decision.attempt}")
        moved = self.calls.update(
            call_pk(phonon_uuid),
            {
                "status": CallStatus.SCHEDULED.value,
                "attempt": decision.attempt,
                "number-index": decision.number_index,
                "due-at": _iso(at),
                "next-dial-at": _iso(at),
                "schedule": schedule,
            }
            | recorded,
            condition=condition,
            condition_values=current,
            remove=DEADLINE_KEYS,
        )
        if moved is None:
            return False
        logger.info("attempt connected nowhere; next attempt scheduled", at=_iso(at))
        return True

    def _finish(
        self,
        call: dict[str, Any],
        decision: Finish,
        leg: dict[str, Any],
        condition: str,
        current: dict[str, Any],
        record: dict[str, Any],
    ) -> None:
        phonon_uuid = call["phonon-uuid"]
        values: dict[str, Any] = {"status": decision.status.value, "ended-at": _iso(self.clock())}
        values[f"legs.{leg['leg-id']}"] = record  # the ended leg's record, in the same write
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
                call_pk(phonon_uuid),
                values,
                condition=condition,
                condition_values=current,
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
            # Someone ended it first; or our own write landed and only its answer was lost (a
            # retry then finds the condition gone). Either way the leg is recorded and the
            # ended call reported.
            self._record_only(leg, record)
            return
        name = {
            CallStatus.COMPLETED: "CallsCompleted",
            CallStatus.NOT_CONNECTED: "CallsNotConnected",
            CallStatus.FAILED: "CallsFailed",
        }[decision.status]
        count(name, 1)
        logger.info("call ended", status=decision.status.value)
        ended = call | {k: v for k, v in values.items() if not k.startswith("legs.")}
        self._notify_leg(ended, leg)
        self._notify_once(ended)

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
        """Queue the customer's webhook for a terminal call, until that has been recorded.

        The call leaves the dialing-deadlines index only here: one whose dialer died between
        ending it and this is still found by the reconciler, which reports it then."""
        if call.get("notified") and DEADLINE_SORT_KEY not in call:
            return
        if not call.get("notified"):
            self.webhooks.send(
                call["phonon-uuid"], call_ended_event_id(call["phonon-uuid"], call["status"])
            )
        self.calls.update(call_pk(call["phonon-uuid"]), {"notified": True}, remove=DEADLINE_KEYS)

    def report_ended(self, call: dict[str, Any]) -> None:
        """Report a call that ended (the reconciler's way in)."""
        self._notify_once(call)
