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
from outdial.models.calls import (
    Attempt,
    Call,
    CallStatus,
    EndedLeg,
    Ending,
    ended_entry,
    leg_of,
)
from outdial.models.codes import Code
from outdial.models.config import DEFAULT_RETRY_ON, FlowView
from outdial.models.legs import (
    LegEnding,
    LegEvent,
    LegOutcome,
    LegRecord,
    LegState,
    parse_leg_id,
)
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
        def _dial_current_leg(self, call: Call, *, claimed: bool = False) -> None: ...
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
        parsed = parse_leg_id(leg_id)
        call = self.calls.get(parsed[0]) if parsed else None
        leg = leg_of(call, leg_id) if call else None
        if call is None or leg is None:
            logger.warning("outcome for an unknown leg dropped", outcome=str(outcome))
            return
        if gateway_id is not None and leg.gateway_id not in (None, gateway_id):
            logger.warning("outcome from a gateway that did not place the leg dropped")
            return
        if leg.state is not LegState.ENDED:
            ending = LegEnding(
                outcome=str(outcome),
                placed=placed,
                reason=reason,
                event_id=event_id,
                # When the leg was placed, if it was (after any wait for pace).
                started_at=leg.placed_at or (iso(started) if started else None),
                ended_at=iso(ended),
                duration_seconds=duration,
            )
            entry = ended_entry(call, leg, ending)
            ended_leg = leg_of(_with(call, leg_id, entry), leg_id)
            assert ended_leg is not None
            # The leg's end rides on the write that moves its call on: both, or neither.
            if self.advance(call, ended_leg, ends=entry):
                if outcome == SKIPPED:
                    count(Metric.LEGS_SKIPPED, 1, reason=str(reason))
                else:
                    count(Metric.LEGS_DIALLED, 1, outcome=str(outcome))
                return
            # Ended meanwhile by someone else: a repeated event, or our own write whose answer
            # was lost.
            call = self.calls.get(call.phonon_uuid)
            leg = leg_of(call, leg_id) if call else None
            if call is None or leg is None or leg.state is not LegState.ENDED:
                return
        # Ended before: carry on only to finish what a crash may have interrupted; every later
        # step is conditional, so nothing happens twice.
        logger.info("repeated outcome for an ended leg")
        self.advance(call, leg)

    def _advance_ended(self, phonon_uuid: str, leg_id: str) -> None:
        """Move the call on from its leg ``leg_id`` if that leg has ended (a redelivered message
        finishing what a crash interrupted; every step is conditional)."""
        call = self.calls.get(phonon_uuid)
        leg = leg_of(call, leg_id) if call else None
        if call is not None and leg is not None and leg.state is LegState.ENDED:
            logger.info("leg ended before; moving the call on")
            self.advance(call, leg)

    def advance(self, call: Call, leg: LegRecord, *, ends: Attempt | None = None) -> bool:
        """Move ``call`` on from its ended leg ``leg``, if it is still the current one. With
        ``ends``, the leg's entry as it ended, the leg ends by the same write, if it has not
        yet; False when it had (someone else ended it: they move the call on)."""
        ended: EndedLeg | None = (leg.leg_id, ends) if ends else None
        # The call's current leg is the one its attempt and number index name (both move before
        # the next leg is claimed).
        position = leg.position
        if call.status is not CallStatus.DIALING or call.position != position:
            return self._record_only(call, leg, ended)
        if ends is not None:
            call = _with(call, leg.leg_id, ends)
        view = self._flow_view(call.flow_id)
        decision = decide(self._leg_result(call, leg, view))
        if isinstance(decision, DialNext):
            now = self.clock()
            take_by = take_deadline(view, now)
            # Overdue sooner already, the call is left there in the index (a move is two more
            # write units): the reconciler moves it on if it finds the next leg still out then.
            keep = call.overdue_at is not None and call.overdue_at <= take_by.timestamp()
            moved = self.calls.advance_to(
                call.phonon_uuid,
                position,
                decision.number_index,
                None if keep else take_by,
                ended=ended,
                leg=leg_entry(call, view, now, decision.number_index),
            )
            if moved is None:
                return self._record_only(call, leg, ended, reread=True)
            self._notify_leg(moved, leg)
            self._dial_current_leg(moved, claimed=True)
        elif isinstance(decision, RetryLater):
            if not self._retry_later(call, decision, view, ended):
                return self._record_only(call, leg, ended, reread=True)
            self._notify_leg(call, leg)
        elif isinstance(decision, Finish):
            return self._finish(call, decision, leg, position, ended)
        return True

    def _record_only(
        self, call: Call, leg: LegRecord, ended: EndedLeg | None, *, reread: bool = False
    ) -> bool:
        """End a leg (``ended``, unless it has ended already) on a call it does not move on
        (ended, or moved on by another leg meanwhile), and report the call if it has ended
        (``reread``: ``call`` may have moved since it was read). False when ``ended`` was given
        and the leg had ended already."""
        if ended is not None:
            moved = self.calls.end_leg(ended)
            if moved is None:
                return False
            call = moved
        elif reread:
            call = self.calls.get(call.phonon_uuid) or call
        self._notify_leg(call, leg)
        if call.status.terminal:
            self._notify_once(call)
        else:
            logger.info("outcome of a leg that is no longer current; call unchanged")
        return True

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
        ended: EndedLeg | None,
    ) -> bool:
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
            # Someone ended it (or its leg) first; or our own write landed and only its answer
            # was lost (a retry then finds the condition gone). Either way the leg is recorded
            # and the ended call reported.
            return self._record_only(call, leg, ended, reread=True)
        count(_ENDED_METRIC[decision.status], 1)
        logger.info("call ended", status=decision.status.value)
        finished = replace(call, status=decision.status)
        self._notify_leg(finished, leg)
        self._notify_once(finished)
        return True

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


def _with(call: Call, leg_id: str, entry: Attempt) -> Call:
    """``call`` with leg ``leg_id``'s entry as ``entry``."""
    return replace(call, legs={**call.legs, leg_id: entry})
