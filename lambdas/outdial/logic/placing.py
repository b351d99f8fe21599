"""Placing legs: a due call becomes DIALING with its current leg claimed by the same write, gated
by the dialling policy (SPEC §9), then placed with the gateway."""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit

from outdial.adapters.config_store import ConfigStore
from outdial.adapters.dial_queue import MAX_DELAY_SECONDS, DialMessage, DialQueue
from outdial.adapters.gateways import (
    Gateway,
    GatewayRateLimited,
    GatewayRefused,
    GatewayUnavailable,
)
from outdial.contract import Metric
from outdial.logic.budget import fits, placing_seconds
from outdial.logic.pacing import Pacer
from outdial.logic.policy import PLACE, Policy, Skip, Wait
from outdial.logic.ports import CallRepository
from outdial.models.calls import Attempt, Call, CallStatus, LegEntry
from outdial.models.config import AnyGateway, FlowView
from outdial.models.legs import Leg, LegOutcome, LegState, leg_id_of
from outdial.models.phone import mask
from outdial.observability import count, logger

CLAIM_TIMEOUT_SECONDS = 60
# A message may arrive a little before its calls are due (SQS delays to the second); within this
# they are dialled, beyond it the message goes back on the queue, delayed, whole.
EARLY_TOLERANCE_SECONDS = 2
# How long a call may sit DIALING with no leg claimed (taken, or moved on to its next number)
# before the reconciler dials it itself: the dialer doing so died. A leg whose outcome is due
# sooner brings it forward (take_deadline).
TAKE_DEADLINE_SECONDS = 300

UNKNOWN_PLACEMENT = "unknown"  # a leg whose placing request may or may not have reached it
GATEWAY, NO_MASK = "gateway", "no-mask"  # why a leg was never placed
DEADLINE = "deadline"  # why a leg ended UNKNOWN: its outcome never came (SPEC §11)
SKIPPED = "SKIPPED"  # a leg's outcome when the policy skipped it (SPEC §9): never placed

GatewayFactory = Callable[[AnyGateway], Gateway]


def pick_did(dids: list[str], leg_id: str) -> str:
    """Spread legs evenly over the enabled DIDs; a leg re-placed after a crash keeps its DID."""
    return dids[zlib.crc32(leg_id.encode()) % len(dids)]


def did_for(view: FlowView | None, leg_id: str) -> str | None:
    """The DID leg ``leg_id`` is dialled from: one of the flow's enabled ones, if any."""
    dids = view.flow.enabled_dids if view else []
    return pick_did(dids, leg_id) if dids else None


def leg_deadline_seconds(view: FlowView | None) -> float:
    """How long after its claim a leg's outcome is due (SPEC §11): at once without a flow."""
    return view.leg_deadline_seconds() if view else 0


def take_deadline(view: FlowView | None, now: datetime) -> datetime:
    """When a call taken at ``now`` (or moved on to its next number) is overdue in the
    dialing-deadlines index: its leg's deadline, or TAKE_DEADLINE_SECONDS if sooner. The leg's
    claim rides on that write, so nothing moves the entry when the leg is placed: the
    reconciler moves it on to the leg's deadline if it finds the leg placed and not yet due."""
    return now + timedelta(seconds=min(TAKE_DEADLINE_SECONDS, leg_deadline_seconds(view)))


def leg_entry(
    call: Call, view: FlowView | None, now: datetime, number_index: int | None = None
) -> LegEntry:
    """The claim, at ``now``, of a leg of ``call`` about to be dialled, its number
    ``number_index`` of its attempt (by default the current one): the leg's entry on the call,
    written by the write that takes the call to it (or that claims it again)."""
    index = call.number_index if number_index is None else number_index
    leg_id = leg_id_of(call.phonon_uuid, call.attempt, index)
    due = now + timedelta(seconds=leg_deadline_seconds(view))
    return leg_id, Attempt(
        attempt=call.attempt,
        number_index=index,
        number=call.contact_numbers[index],
        did=did_for(view, leg_id),
        started_at=iso(now),
        state=LegState.CLAIMED,
        claimed_epoch=int(now.timestamp()),
        gateway_id=view.gateway.gateway_id if view and view.gateway else None,
        deadline_at=int(due.timestamp()),
    )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class PlacingLegs:
    """The dialer's first part (mixed into ``Dialer``, which holds the adapters)."""

    calls: CallRepository
    config: ConfigStore
    queue: DialQueue
    clock: Callable[[], datetime]
    gateway_factory: GatewayFactory | None
    policy: Policy
    pacer: Pacer

    if TYPE_CHECKING:  # provided by ``Dialer``, ``Waiting`` and ``ApplyingOutcomes``

        def _flow_view(self, flow_id: str) -> FlowView | None: ...
        def gateway(self, config: AnyGateway) -> Gateway: ...
        @staticmethod
        def _callback_url(gateway_id: str) -> str | None: ...
        def _requeue(self, ids: list[str], dispatch: dict[str, str] | None = None) -> None: ...
        @staticmethod
        def _wake_up(call: Call, delay_seconds: int = 0) -> DialMessage: ...
        def _defer(self, call: Call, leg_id: str, wait: Wait, now: datetime) -> None: ...
        def _wait_for_pace(self, phonon_uuid: str, leg_id: str, wait: int) -> None: ...
        def _notify_once(self, call: Call) -> None: ...
        def _advance_ended(self, phonon_uuid: str, leg_id: str) -> None: ...
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
        ) -> None: ...

    def dial(self, phonon_uuid: str, dispatch: str | None = None) -> None:
        """Dial the call's current leg if it is due and nobody else has.

        ``dispatch`` is the wake-up's token: a call that was rescheduled waits for the wake-up
        its reschedule made, and any older one is dropped.
        """
        logger.thread_safe_append_keys(phonon_uuid=phonon_uuid)
        call = self.calls.get(phonon_uuid)
        if call is None:
            logger.info("no such call: its request was undone; message dropped")
            return
        status = call.status
        if status in (CallStatus.SCHEDULED, CallStatus.QUEUED):
            if call.dispatch_id != dispatch:
                logger.info("wake-up superseded by a reschedule; dropped")
                return
            started = self._start(call)
            if started is not None:
                self._dial_current_leg(started, claimed=True)
            return
        if status is not CallStatus.DIALING:
            logger.info("call already ended; nothing to dial", status=status.value)
            if status.terminal and status is not CallStatus.CANCELLED:  # a cancel reports itself
                self._notify_once(call)  # the dialer that ended it may have died before this
            return
        self._dial_current_leg(call)

    def _start(self, call: Call) -> Call | None:
        """SCHEDULED/QUEUED → DIALING once due, its current leg claimed by the same write; None
        when it is not (yet) ours to dial."""
        now = self.clock()
        early = (call.due_at - now).total_seconds()
        if early > EARLY_TOLERANCE_SECONDS:
            delay = min(round(early), MAX_DELAY_SECONDS)
            self.queue.send([self._wake_up(call, delay)])
            logger.info("call not due yet; put back on the queue", delay_seconds=delay)
            return None
        view = self._flow_view(call.flow_id)
        leg = leg_entry(call, view, now)
        moved = self.calls.start_dialing(call, take_deadline(view, now), leg=leg)
        if moved is None:
            logger.info("call was taken or cancelled before dialling")
            return None
        count(Metric.SCHEDULE_LAG_SECONDS, max(0.0, -early), MetricUnit.Seconds)
        return moved

    def _dial_current_leg(self, call: Call, *, claimed: bool = False) -> None:
        """Pass the call's current leg through the policy, then place it. ``claimed``: the
        write that took the call to it claimed it for this dialer; otherwise it is claimed
        here, or taken over, if it may be."""
        phonon_uuid = call.phonon_uuid
        leg_id = leg_id_of(phonon_uuid, call.attempt, call.number_index)
        logger.thread_safe_append_keys(leg_id=leg_id, request_id=call.request_id)
        recorded = call.legs.get(leg_id)
        if recorded is not None and recorded.state is LegState.ENDED:
            self._advance_ended(phonon_uuid, leg_id)  # a crash may have kept it from moving on
            return
        view = self._flow_view(call.flow_id)
        if not fits(placing_seconds(view.gateway if view else None)):
            if claimed:
                self.calls.release_claim(leg_id)  # for the dialer that gets it next
            self._requeue([phonon_uuid])  # the gateway might not answer before we are cut off
            return
        now = self.clock()
        if claimed and recorded is not None:
            claim: LegEntry = (leg_id, recorded)
            fresh = True
        else:
            claim = leg_entry(call, view, now)
            # Nobody holds it (its claim was given back): claimed here, by one dialer.
            fresh = recorded is None and self.calls.claim_leg(call, claim)
            if not fresh and not self._take_over_claim(call, claim, now, view):
                logger.info("leg already claimed; not dialling it again")
                self._advance_ended(phonon_uuid, leg_id)  # unless it ended meanwhile
                return
        number, did = call.number, claim[1].did
        # SPEC §9. A stale claim's first dialer passed the policy already (and may have placed
        # the leg): it is placed again under the same key, as it would have been.
        gate = self.policy.gate(view, number, leg_id, now) if fresh and view else PLACE
        if isinstance(gate, Wait):
            self._defer(call, leg_id, gate, now)
            return
        if isinstance(gate, Skip):
            logger.info("leg skipped by policy", skip_reason=gate.reason, to=mask(number))
            self._end_leg(leg_id, SKIPPED, None, now, 0, placed=False, reason=gate.reason)
            return
        if view is None or did is None or not view.gateway_usable:
            logger.warning("no enabled DID or gateway at dial time; leg fails unplaced")
            if view is not None:
                self.policy.uncount(view, number, leg_id)
            self._end_leg(leg_id, LegOutcome.FAILED, now, now, 0, placed=False, reason=NO_MASK)
            return
        due = datetime.fromtimestamp(claim[1].deadline_at or int(now.timestamp()), UTC)
        self._place(call, leg_id, view, did, due)

    def _place(self, call: Call, leg_id: str, view: FlowView, did: str, due: datetime) -> None:
        """Hand the claimed leg to the gateway, within its pace; record how that went."""
        assert view.gateway is not None
        phonon_uuid, number = call.phonon_uuid, call.number
        leg = Leg(
            leg_id=leg_id,
            phonon_uuid=phonon_uuid,
            attempt=call.attempt,
            number_index=call.number_index,
            from_did=did,
            to_number=number,
            variables=dict(call.keys),
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
        placement, ref = "accepted", None
        try:
            ref = gateway.place(leg)
        except GatewayRateLimited as limited:
            retry = math.ceil(limited.retry_after or 1)
            count(Metric.LEGS_PACED, 1, gateway_id=view.gateway.gateway_id)
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
            count(Metric.LEGS_PLACEMENT_UNKNOWN, 1)
            placement = UNKNOWN_PLACEMENT
        self.calls.mark_placed(leg_id, placed_at=now, deadline=due, gateway_ref=ref)
        logger.info(
            "leg placed",
            to=mask(number),
            did=did,
            placement=placement,
            placed_at=now.isoformat(),
        )

    def _take_over_claim(
        self, call: Call, claim: LegEntry, now: datetime, view: FlowView | None
    ) -> bool:
        """Whether this dialer may place a leg someone claimed before (claiming it anew as
        ``claim`` says): one set aside to wait for pace, at once; one whose dialer died before
        the gateway answered, once the claim is older than the claim timeout, and only if the
        gateway dedupes by the leg id. A carrier does not: its leg may have been placed, so it
        is never posted again; it waits for its callback or its deadline as a placement
        unknown."""
        stale = int(now.timestamp()) - CLAIM_TIMEOUT_SECONDS
        gateway = view.gateway if view else None
        if gateway is not None and not gateway.idempotent_placing:
            if self.calls.take_back_paced(call, claim):
                return True
            if self.calls.mark_placement_unknown(claim[0], stale):
                logger.warning(
                    "an interrupted carrier leg is never posted again: placement unknown"
                )
            return False
        taken = self.calls.take_over_claim(call, claim, stale)
        if taken:
            logger.warning("taking over a leg claim; same idempotency key")
        return taken
