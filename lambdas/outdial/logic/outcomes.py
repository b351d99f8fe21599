"""Applying outcomes: a leg ends once, and its end moves the call on (next number, a retry
later, or the call's end with its balance settled and its webhook queued)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from outdial.adapters.dial_queue import DialMessage, DialQueue
from outdial.adapters.scheduler import Scheduler
from outdial.adapters.webhook_queue import WebhookQueue
from outdial.contract import Metric
from outdial.logic.placing import NO_MASK, iso
from outdial.logic.ports import CallRepository
from outdial.logic.transitions import REFUSED, DialNext, Finish, LegResult, RetryLater, decide
from outdial.models.calls import CallStatus
from outdial.models.codes import Code
from outdial.models.config import FlowView
from outdial.models.legs import LegEvent, LegOutcome
from outdial.observability import count, logger
from outdial.settings import get_settings

_ENDED_METRIC = {
    CallStatus.COMPLETED: Metric.CALLS_COMPLETED,
    CallStatus.NOT_CONNECTED: Metric.CALLS_NOT_CONNECTED,
    CallStatus.FAILED: Metric.CALLS_FAILED,
}


class ApplyingOutcomes:
    """The dialer's second half (mixed into ``Dialer``, which holds the adapters)."""

    calls: CallRepository
    queue: DialQueue
    scheduler: Scheduler
    webhooks: WebhookQueue
    clock: Callable[[], datetime]

    if TYPE_CHECKING:  # provided by ``Dialer`` and ``PlacingLegs``

        def _flow_view(self, flow_id: str) -> FlowView | None: ...

        def _dial_current_leg(self, call: dict[str, Any]) -> None: ...

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
        outcome: LegOutcome,
        started: datetime,
        ended: datetime,
        duration: int,
        *,
        placed: bool,
        event_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        leg = self.calls.get_leg(leg_id)
        if leg is None:
            logger.warning("outcome for an unknown leg dropped", outcome=outcome.value)
            return
        ended_leg = self.calls.end_leg(
            leg_id,
            {
                "outcome": outcome.value,
                "placed": placed,
                "reason": reason,
                "event-id": event_id,
                "started-at": iso(started),
                "ended-at": iso(ended),
                "duration-seconds": duration,
            },
        )
        if ended_leg is None:
            # Ended before: a repeated event. Carry on only to finish what a crash may have
            # interrupted; every later step is conditional, so nothing happens twice.
            ended_leg = leg
            logger.info("repeated outcome for an ended leg")
        else:
            count(Metric.LEGS_DIALLED, 1, outcome=outcome.value)
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
        }
        call = self.calls.record_leg(phonon_uuid, leg_id, record, current=False)
        if call is None:
            return
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
        outcome = LegOutcome(leg["outcome"])
        decision = decide(
            LegResult(
                attempt=int(leg["attempt"]),
                number_index=int(leg["number-index"]),
                numbers=len(call["contact-numbers"]),
                max_attempts=view.flow.max_attempts if view else 1,
                retry_after_seconds=view.flow.retry_after_seconds if view else 900,
                outcome=outcome if leg.get("placed", True) else REFUSED,
                placed_before=placed_before,
                now=self.clock(),
            )
        )
        if isinstance(decision, DialNext):
            moved = self.calls.advance_to(phonon_uuid, leg_id, decision.number_index)
            if moved is not None:
                self._dial_current_leg(moved)
        elif isinstance(decision, RetryLater):
            self._retry_later(call, leg_id, decision)
        elif isinstance(decision, Finish):
            self._finish(call, decision, leg)

    def _retry_later(self, call: dict[str, Any], leg_id: str, decision: RetryLater) -> None:
        phonon_uuid = call["phonon-uuid"]
        lead = (decision.at - self.clock()).total_seconds()
        scheduled = lead >= get_settings().schedule_min_lead_seconds
        schedule = f"retry-{phonon_uuid}-{decision.attempt}"
        # The wake-up first: a call left SCHEDULED with nothing to wake it would never dial.
        if not scheduled:
            self.queue.send([DialMessage((phonon_uuid,), delay_seconds=max(0, round(lead)))])
        else:
            self.scheduler.create(schedule, decision.at, [phonon_uuid])
        self.calls.schedule_retry(
            phonon_uuid, leg_id, decision.attempt, decision.at, schedule if scheduled else None
        )
        logger.info("attempt connected nowhere; next attempt scheduled", at=iso(decision.at))

    def _finish(self, call: dict[str, Any], decision: Finish, leg: dict[str, Any]) -> None:
        values: dict[str, Any] = {"ended-at": iso(self.clock())}
        if decision.status is CallStatus.FAILED:
            code = (
                Code.NO_MASK_AVAILABLE
                if leg.get("reason") == NO_MASK
                else Code.FAILURE_FROM_GATEWAY
            )
            values["error-code"], values["error-message"] = code.code, code.message
        refund: Decimal | None = Decimal(str(call.get("cost", 0)))
        if decision.status is CallStatus.COMPLETED:
            values["connected-number"] = leg["number"]
            values["duration-seconds"] = int(leg.get("duration-seconds") or 0)
            refund = None  # the reservation becomes the charge: nothing to move
        if not self.calls.finish(call, leg["leg-id"], decision.status, values, refund):
            return
        count(_ENDED_METRIC[decision.status], 1)
        logger.info("call ended", status=decision.status.value)
        self._notify_once(call | values | {"status": decision.status.value})

    def _notify_once(self, call: dict[str, Any]) -> None:
        """Queue the customer's webhook for a terminal call, until that has been recorded."""
        if call.get("notified"):
            return
        self.webhooks.send(call["phonon-uuid"], f"{call['phonon-uuid']}:{call['status']}")
        self.calls.mark_notified(call["phonon-uuid"])
