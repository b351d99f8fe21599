"""Waiting: a call that may not be dialled now goes back to SCHEDULED (or its leg aside) with a
wake-up that brings its dial message back when it may: a closed calling window or a frequency
cap (SPEC §9), the gateway's pace, or the next attempt after a retry delay."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from outdial.adapters.dial_queue import MAX_DELAY_SECONDS, DialMessage, DialQueue
from outdial.adapters.scheduler import Scheduler, fires_in_time
from outdial.contract import Metric
from outdial.logic.placing import iso
from outdial.logic.policy import Wait, opening
from outdial.logic.ports import CallRepository
from outdial.logic.transitions import RetryLater
from outdial.models.calls import Call, EndedLeg
from outdial.models.config import FlowView
from outdial.observability import count, logger


class Waiting:
    """The dialer's wake-ups (mixed into ``Dialer``, which holds the adapters)."""

    calls: CallRepository
    queue: DialQueue
    scheduler: Scheduler
    clock: Callable[[], datetime]

    @staticmethod
    def _wake_up(call: Call, delay_seconds: int = 0) -> DialMessage:
        """A dial message for this call, carrying its dispatch token if it has one."""
        token = call.dispatch_id
        return DialMessage(
            (call.phonon_uuid,),
            delay_seconds=delay_seconds,
            dispatch=((call.phonon_uuid, token),) if token else (),
        )

    def _wake(self, call: Call, at: datetime, schedule: str) -> str | None:
        """Have the call's dial message come back at ``at``, with its dispatch token: an SQS
        delay when that is soon, a one-time schedule otherwise (returned, so a cancel can drop
        it)."""
        now = self.clock()
        if not fires_in_time(at, now):  # its schedule would fire too soon: an SQS delay
            lead = (at - now).total_seconds()
            self.queue.send([self._wake_up(call, min(max(0, math.ceil(lead)), MAX_DELAY_SECONDS))])
            return None
        token = call.dispatch_id
        dispatch = {call.phonon_uuid: token} if token else None
        self.scheduler.create(schedule, at, [call.phonon_uuid], dispatch)
        return schedule

    def _defer(self, call: Call, leg_id: str, wait: Wait, now: datetime) -> None:
        """The leg may not be placed before ``wait.until``: let the call wait, SCHEDULED with
        ``next-dial-at`` and without the leg's entry (it was not dialled: its claim goes with
        it), for a wake-up then (SPEC §9)."""
        phonon_uuid = call.phonon_uuid
        # At least a second on: the wake-up must not find the call before it is SCHEDULED.
        until = max(wait.until, now + timedelta(seconds=1))
        schedule = self._wake(call, until, f"defer-{phonon_uuid}-{int(until.timestamp())}")
        if self.calls.defer(phonon_uuid, call.position, until, schedule, unrecord=leg_id):
            count(Metric.LEGS_DEFERRED, 1, reason=wait.reason)
            logger.info("leg waits", reason=wait.reason, until=iso(until))

    def _wait_for_pace(self, phonon_uuid: str, leg_id: str, wait: int) -> None:
        """The leg was not placed (over the gateway's pace, or turned away by its rate limit):
        its claim is set aside, for the next dialer to reach it to take at once, and the call
        comes back to the queue ``wait`` seconds later."""
        self.calls.set_aside(leg_id)
        delay = min(max(1, wait), MAX_DELAY_SECONDS)
        self.queue.send([DialMessage((phonon_uuid,), delay_seconds=delay)])

    def _retry_later(
        self,
        call: Call,
        decision: RetryLater,
        view: FlowView | None,
        ended: EndedLeg | None = None,
    ) -> bool:
        """Every number of this attempt tried: the next attempt waits for its time (and the
        flow's calling window for its first number); ``ended`` is recorded by the same write.
        False when the call was no longer that leg's to move."""
        phonon_uuid = call.phonon_uuid
        at = decision.at
        if view is not None:  # not before the flow's calling window opens for the first number
            number = call.contact_numbers[decision.number_index]
            at = opening(view.flow.calling_window, number, view.account.zone, at) or at
        # The wake-up first: a call left SCHEDULED with nothing to wake it would never dial.
        schedule = self._wake(call, at, f"retry-{phonon_uuid}-{decision.attempt}")
        if not self.calls.schedule_retry(
            phonon_uuid,
            call.position,
            decision.attempt,
            decision.number_index,
            at,
            schedule,
            ended=ended,
        ):
            return False
        logger.info("attempt connected nowhere; next attempt scheduled", at=iso(at))
        return True
