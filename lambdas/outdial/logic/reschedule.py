"""``PATCH /outbound/calls/{phonon-uuid}``: move a call that is not dialling yet (SPEC §7).

A reschedule gives the call a new dispatch token and a wake-up (schedule or message) carrying
it; the dialer drops any wake-up whose token is not the call's, so the old schedule or message
can never dial it. The wake-up is made first and the call moved second, with one conditional
write (still waiting, still the dispatch that was read): it races the dialer's own conditional
move to DIALING, and exactly one of them wins. A reschedule that loses deletes its wake-up.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from outdial.adapters.call_reads import CallReads
from outdial.adapters.call_repository import DynamoCallRepository
from outdial.adapters.dial_queue import DialMessage, DialQueue
from outdial.adapters.scheduler import Scheduler
from outdial.logic.call_view import render_call
from outdial.logic.policy import opening
from outdial.logic.ports import CallReader, CallRepository
from outdial.logic.validation import CallRules, parse_start_time, require
from outdial.models.calls import WAITING, Call, CallStatus, Wait
from outdial.models.codes import Code, ContractError
from outdial.models.config import FlowView
from outdial.models.requests import RescheduleBody
from outdial.observability import logger
from outdial.settings import get_settings

# A message for a call moved to "now" waits this long, so it cannot reach a dialer before the
# move that makes its token the call's has been written.
MIN_MESSAGE_DELAY_SECONDS = 2
_ATTEMPTS = 3  # another reschedule may win the write between our read and our write


def _name(phonon_uuid: str, token: str) -> str:
    return f"move-{phonon_uuid}-{token}"  # at most 5 + 36 + 1 + 12 = 54 characters


@dataclass
class Rescheduler:
    calls: CallRepository = field(default_factory=DynamoCallRepository)
    reads: CallReader = field(default_factory=CallReads)
    queue: DialQueue = field(default_factory=DialQueue)
    scheduler: Scheduler = field(default_factory=Scheduler)

    def reschedule(
        self,
        view: FlowView,
        phonon_uuid: str,
        body: RescheduleBody,
        now: datetime | None = None,
    ) -> Call:
        """Move the flow's call to the body's start-time (210 without one, 400 when bad): the
        moved call, or 606 with the call when it is dialling or ended."""
        now = now or datetime.now(UTC)
        require({"start-time": body.start_time})
        start_time = body.start_time
        account = view.account
        rules = CallRules(
            region=account.region,
            zone=account.zone,
            now=now,
            required_keys=frozenset(),
            phone_whitelist=None,
        )
        start, due, immediate = parse_start_time(start_time, rules)
        call: Call | None = None
        for _ in range(_ATTEMPTS):
            call = self.reads.call(phonon_uuid)
            if call is None or call.flow_id != view.flow.flow_id:
                raise ContractError(Code.NO_DATA_AVAILABLE, f"no call {phonon_uuid} for this flow")
            if call.status not in WAITING:
                raise _too_late(call)
            # Not before the flow's calling window opens for the number dialled next (SPEC §9).
            opens = opening(view.flow.calling_window, call.number, account.zone, due)
            due_at = opens if opens is not None and opens > due else due
            moved = self._move(call, start, due_at, immediate and due_at == due, now)
            if moved is not None:
                return moved
        assert call is not None
        raise _too_late(call)

    def _move(
        self,
        call: Call,
        start: datetime,
        due: datetime,
        immediate: bool,
        now: datetime,
    ) -> Call | None:
        phonon_uuid = call.phonon_uuid
        token = uuid.uuid4().hex[:12]
        lead = (due - now).total_seconds()
        schedule = None
        if lead >= get_settings().schedule_min_lead_seconds:
            schedule = _name(phonon_uuid, token)
            self.scheduler.create(schedule, due, [phonon_uuid], {phonon_uuid: token})
        else:
            delay = max(round(lead), MIN_MESSAGE_DELAY_SECONDS)
            self.queue.send([DialMessage((phonon_uuid,), delay, dispatch=((phonon_uuid, token),))])
        status = CallStatus.QUEUED if immediate else CallStatus.SCHEDULED
        moved = self.calls.reschedule(
            phonon_uuid, call.dispatch_id, Wait(status, start, due, token, schedule)
        )
        if moved is None:
            # Lost to a dialer, a cancel or another reschedule: our wake-up must not linger
            # (its token is not the call's, so it could not dial the call anyway).
            if schedule:
                self._forget(schedule)
            logger.info("reschedule lost the race", phonon_uuid=phonon_uuid)
            return None
        logger.info("call rescheduled", phonon_uuid=phonon_uuid, due_at=moved.next_dial_at)
        self._drop_own_schedule(call.schedule, phonon_uuid)
        return moved

    def _forget(self, schedule: str) -> None:
        try:
            self.scheduler.delete(schedule)
        except Exception:
            logger.exception("could not delete an unused schedule", schedule=schedule)

    def _drop_own_schedule(self, name: str | None, phonon_uuid: str) -> None:
        """Delete the call's old schedule if it wakes nothing else (a retry's, an earlier
        reschedule's); a request's shared schedule stays for the others."""
        if not name:
            return
        try:
            if self.scheduler.call_ids(name) == [phonon_uuid]:
                self.scheduler.delete(name)
        except Exception:
            logger.exception("could not delete the old schedule", schedule=name)


def _too_late(call: Call) -> ContractError:
    return ContractError(
        Code.RESCHEDULE_TOO_LATE,
        f"the call is {call.status.value}; only SCHEDULED or QUEUED calls can be rescheduled",
        call=render_call(call),
    )
