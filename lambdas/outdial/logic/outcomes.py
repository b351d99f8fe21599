"""Applying outcomes: a leg ends once, and its end moves the call on (next number, a retry
later, or the call's end with its balance settled and its webhook queued)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from outdial.adapters.webhook_queue import (
    LEG_ENDED,
    WebhookMessage,
    WebhookQueue,
    call_ended_event_id,
    leg_ended_event_id,
)
from outdial.contract import SKIP_DNC, Metric
from outdial.logic.placing import (
    DEADLINE,
    NO_MASK,
    SKIPPED,
    iso,
    leg_entry,
    take_deadline,
)
from outdial.logic.ports import CallRepository
from outdial.logic.transitions import REFUSED, DialNext, Finish, LegResult, RetryLater, decide
from outdial.models.calls import Attempt, Call, CallStatus, EndedLeg, Ending
from outdial.models.codes import Code
from outdial.models.config import DEFAULT_RETRY_ON, FlowView
from outdial.models.legs import LegEnding, LegEvent, LegOutcome, LegRecord, LegState
from outdial.observability import count, logger

_ENDED_METRIC = {
    CallStatus.COMPLETED: Metric.CALLS_COMPLETED,
    CallStatus.NOT_CONNECTED: Metric.CALLS_NOT_CONNECTED,
    CallStatus.FAILED: Metric.CALLS_FAILED,
}
# Why a call that could not be dialled FAILED, by its last leg's reason.
_FAILED_CODE = {NO_MASK: Code.NO_MASK_AVAILABLE, SKIP_DNC: Code.NUMBER_ON_DNC}


class ApplyingOutcomes:
    """The dialer's last part (mixed into ``Dialer``, which holds the adapters)."""

    calls: CallRepository
    webhooks: WebhookQueue
    clock: Callable[[], datetime]

    if TYPE_CHECKING:  # provided by ``Dialer``, ``PlacingLegs`` and ``Waiting``

        def _flow_view(self, flow_id: str) -> FlowView | None: ...
        def _dial_current_leg(self, call: Call) -> None: ...
        def _retry_later(
            self,
            call: Call,
            decision: RetryLater,
            view: FlowView | None,
            ended: EndedLeg | None = None,
        ) -> bool: ...

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
        leg = self.calls.get_leg(leg_id)
        began = datetime.fromtimestamp(leg.claimed_epoch, UTC) if leg is not None else now
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
        leg = self.calls.get_leg(leg_id)
        if leg is None:
            logger.warning("outcome for an unknown leg dropped", outcome=str(outcome))
            return
        if gateway_id is not None and leg.gateway_id not in (None, gateway_id):
            logger.warning("outcome from a gateway that did not place the leg dropped")
            return
        ended_leg = self.calls.end_leg(
            leg_id,
            LegEnding(
                outcome=str(outcome),
                placed=placed,
                reason=reason,
                event_id=event_id,
                # When the leg was placed, if it was (after any wait for pace).
                started_at=leg.placed_at or (iso(started) if started else None),
                ended_at=iso(ended),
                duration_seconds=duration,
            ),
        )
        if ended_leg is None:
            # Ended before: a repeated event (or our own write, whose answer was lost). Carry
            # on only to finish what a crash may have interrupted; every later step is
            # conditional, so nothing happens twice.
            ended_leg = self.calls.get_leg(leg_id)
            if ended_leg is None or ended_leg.state is not LegState.ENDED:
                return
            logger.info("repeated outcome for an ended leg")
        elif outcome == SKIPPED:
            count(Metric.LEGS_SKIPPED, 1, reason=str(reason))
        else:
            count(Metric.LEGS_DIALLED, 1, outcome=str(outcome))
        self.advance(ended_leg)

    def _advance_ended(self, leg_id: str) -> None:
        """Move the call on from its leg ``leg_id`` if that leg has ended (a redelivered message
        finishing what a crash interrupted; every step is conditional)."""
        leg = self.calls.get_leg(leg_id)
        if leg is not None and leg.state is LegState.ENDED:
            logger.info("leg ended before; moving the call on")
            self.advance(leg)

    def advance(self, leg: LegRecord) -> None:
        """Move the call on from its ended leg ``leg``, if it is still the current one."""
        record = Attempt(
            attempt=leg.attempt,
            number_index=leg.number_index,
            number=leg.number,
            did=leg.did,
            outcome=leg.outcome,
            started_at=leg.started_at,
            ended_at=leg.ended_at,
            duration_seconds=leg.duration_seconds,
            placed=leg.placed,
            skip_reason=leg.reason if leg.outcome == SKIPPED else None,
        )
        # The leg's record on the call rides on the write that moves the call on (one write a
        # leg's end, not two); the call is read first to decide that move.
        call = self.calls.get(leg.phonon_uuid)
        if call is None:
            return
        # The call's current leg is the one its attempt and number index name (both move before
        # the next leg is claimed), not the last one recorded: a dialer may have died between
        # claiming a leg and recording it on the call.
        position = leg.position
        if call.status is not CallStatus.DIALING or call.position != position:
            self._record_only(leg, record)
            return
        call = replace(call, legs={**call.legs, leg.leg_id: record})
        ended: EndedLeg = (leg.leg_id, record)
        view = self._flow_view(call.flow_id)
        decision = decide(self._leg_result(call, leg, view))
        if isinstance(decision, DialNext):
            now = self.clock()
            moved = self.calls.advance_to(
                call.phonon_uuid,
                position,
                decision.number_index,
                take_deadline(view, now),
                ended=ended,
                leg=leg_entry(call, view, now, decision.number_index),
            )
            if moved is None:
                self._record_only(leg, record)
                return
            self._notify_leg(moved, leg)
            self._dial_current_leg(moved)
        elif isinstance(decision, RetryLater):
            if self._retry_later(call, decision, view, ended):
                self._notify_leg(call, leg)
            else:
                self._record_only(leg, record)
        elif isinstance(decision, Finish):
            self._finish(call, decision, leg, position, ended)

    def _record_only(self, leg: LegRecord, record: Attempt) -> None:
        """Record an ended leg on a call it does not move on (ended, or moved on by another
        leg or a cancel meanwhile), and report the call if it has ended."""
        call = self.calls.record_leg(leg.phonon_uuid, leg.leg_id, record)
        if call is None:
            return
        self._notify_leg(call, leg)
        if call.status.terminal:
            self._notify_once(call)
            return
        logger.info("outcome of a leg that is no longer current; call unchanged")

    def _leg_result(self, call: Call, leg: LegRecord, view: FlowView | None) -> LegResult:
        """The state machine's view of the call just after its leg ``leg`` ended."""
        placed_before = any(other.placed for key, other in call.legs.items() if key != leg.leg_id)
        this_attempt = [o.outcome for o in call.legs.values() if o.attempt == leg.attempt]
        return LegResult(
            attempt=leg.attempt,
            number_index=leg.number_index,
            numbers=len(call.contact_numbers),
            max_attempts=view.flow.max_attempts if view else 1,
            retry_after_seconds=view.flow.retry_after_seconds if view else 900,
            outcome=LegOutcome(str(leg.outcome)) if leg.placed else REFUSED,
            placed_before=placed_before,
            now=self.clock(),
            retry_on=frozenset(view.flow.retry_on if view else DEFAULT_RETRY_ON),
            attempt_outcomes=frozenset(str(o) for o in this_attempt if o),
        )

    def _finish(
        self,
        call: Call,
        decision: Finish,
        leg: LegRecord,
        position: tuple[int, int],
        ended: EndedLeg,
    ) -> None:
        ending = Ending(decision.status, self.clock())
        if decision.status is CallStatus.FAILED:
            code = _FAILED_CODE.get(str(leg.reason), Code.FAILURE_FROM_GATEWAY)
            ending = replace(ending, error_code=code.code, error_message=code.message)
        refund: Decimal | None = call.cost
        if decision.status is CallStatus.COMPLETED:
            ending = replace(
                ending, connected_number=leg.number, duration_seconds=leg.duration_seconds
            )
            refund = None  # the reservation becomes the charge: nothing to move
        if not self.calls.finish(call, position, ending, refund, ended=ended):
            # Someone ended it first; or our own write landed and only its answer was lost (a
            # retry then finds the condition gone). Either way the leg is recorded and the
            # ended call reported.
            self._record_only(leg, ended[1])
            return
        count(_ENDED_METRIC[decision.status], 1)
        logger.info("call ended", status=decision.status.value)
        finished = replace(call, status=decision.status)
        self._notify_leg(finished, leg)
        self._notify_once(finished)

    def _notify_leg(self, call: Call, leg: LegRecord) -> None:
        """Queue a ``leg.ended`` webhook for an account that asked for them, until recorded."""
        if leg.notified:
            return
        view = self._flow_view(call.flow_id)
        if view is None or LEG_ENDED not in view.account.webhook_events:
            return
        event_id = leg_ended_event_id(leg.leg_id)
        self.webhooks.send_message(
            WebhookMessage(call.phonon_uuid, event_id, LEG_ENDED, leg.leg_id)
        )
        self.calls.mark_leg_notified(leg.leg_id)

    def _notify_once(self, call: Call) -> None:
        """Queue the customer's webhook for a terminal call, until that has been recorded.

        The call leaves the dialing-deadlines index only here: one whose dialer died between
        ending it and this is still found by the reconciler, which reports it then."""
        if call.notified and call.overdue_at is None:
            return
        if not call.notified:
            self.webhooks.send(
                call.phonon_uuid, call_ended_event_id(call.phonon_uuid, call.status.value)
            )
        self.calls.mark_notified(call.phonon_uuid)

    def report_ended(self, call: Call) -> None:
        """Report a call that ended (the reconciler's way in)."""
        self._notify_once(call)
