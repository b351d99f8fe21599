"""Persisting and enqueueing an accepted request, and taking back one that could not be.

Acceptance (``accept_calls.py``) first has every item built here (``prepare``: nothing is
reserved for a request that could not be stored), then reserves the balance and claims the
request's checksum (marked pending dispatch); ``dispatch`` writes the calls and the request,
creates the schedules of later calls, sends the due ones to the dial queue, then clears the
mark. A failure before any message may have gone out takes the request back (``roll_back``);
after, the request stands and the sweeper finishes it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from outdial.adapters.call_repository import DynamoCallRepository
from outdial.adapters.calls_store import CallsStore, call_pk, request_pk
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.dial_queue import DialMessage, DialQueue, delayed_messages
from outdial.adapters.errors import AdapterError, EnqueueError
from outdial.adapters.parallel import each, first_error
from outdial.adapters.rate_limits import FlowRateLimiter
from outdial.adapters.scheduler import (
    PlannedSchedule,
    Scheduler,
    fires_in_time,
    schedule_name,
    start_minute,
)
from outdial.adapters.tables import MAX_ITEM_BYTES, item_bytes
from outdial.logic.policy import Policy
from outdial.logic.ports import CallRepository, ChecksumStore
from outdial.logic.validation import ValidCall
from outdial.models.calls import CallStatus
from outdial.models.codes import Code, ContractError
from outdial.models.config import FlowView
from outdial.observability import logger
from outdial.settings import get_settings


@dataclass
class Services:
    """The adapters acceptance talks to (tests hand in their own)."""

    config: ConfigStore = field(default_factory=ConfigStore)
    calls: CallsStore = field(default_factory=CallsStore)
    checksums: ChecksumStore = field(default_factory=CallsStore)
    repository: CallRepository = field(default_factory=DynamoCallRepository)
    queue: DialQueue = field(default_factory=DialQueue)
    scheduler: Scheduler = field(default_factory=Scheduler)
    policy: Policy = field(default_factory=Policy)
    rates: FlowRateLimiter = field(default_factory=FlowRateLimiter)


@dataclass(frozen=True)
class EnqueuePlan:
    messages: list[DialMessage]
    schedules: dict[datetime, list[tuple[str, datetime]]]  # start minute (UTC) -> (id, due at)

    def planned(self, request_id: str) -> list[PlannedSchedule]:
        """The request's schedules: one per start minute, named after the request."""
        return [
            PlannedSchedule(schedule_name(request_id, minute), tuple(calls))
            for minute, calls in self.schedules.items()
        ]


def plan_enqueue(calls: Sequence[tuple[str, datetime, bool]], now: datetime) -> EnqueuePlan:
    """Place each ``(call id, due at, immediate)``: calls due now go to the queue, up to
    DIAL_GROUP_SIZE per message; calls due within a few minutes too, delayed by SQS to their
    second; later ones share one schedule per start minute (Scheduler's precision)."""
    soon: list[tuple[str, int | None]] = []
    schedules: dict[datetime, list[tuple[str, datetime]]] = defaultdict(list)
    for phonon_uuid, due_at, immediate in calls:
        if immediate:
            soon.append((phonon_uuid, None))
        elif not fires_in_time(due_at, now):
            soon.append((phonon_uuid, int(due_at.timestamp())))
        else:
            schedules[start_minute(due_at)].append((phonon_uuid, due_at))
    return EnqueuePlan(delayed_messages(soon, now.timestamp()), dict(schedules))


def persist_and_schedule(
    services: Services, items: list[dict[str, Any]], planned: Sequence[PlannedSchedule]
) -> None:
    """Write the items and create the schedules at the same time: a schedule fires a minute
    ahead at the earliest, long after the items are in (or, if either fails, undone)."""
    steps = [lambda: services.calls.put_items(items)]
    if planned:
        steps.append(lambda: services.scheduler.create_all(planned))
    error = first_error(each(lambda step: step(), steps))
    if error is not None:
        raise error


@dataclass(frozen=True)
class Prepared:
    """An accepted request ready to be written: its plan and every item (calls, then the
    request), checked storable."""

    request_id: str
    call_ids: list[str]
    plan: EnqueuePlan
    items: list[dict[str, Any]]


def prepare(
    request_id: str,
    valid: list[tuple[str, ValidCall]],
    view: FlowView,
    api_version: str,
    response: dict[str, Any],
    now: datetime,
) -> Prepared:
    """Build every item of the request before anything is reserved or claimed: a call that
    cannot be stored fails here (400), with nothing to undo."""
    plan = plan_enqueue(
        [(phonon_uuid, call.due_at, call.immediate) for phonon_uuid, call in valid], now
    )
    schedule_of = {c: p.name for p in plan.planned(request_id) for c, _ in p.calls}
    cost = view.account.cost_per_call
    items = [
        call_item(phonon_uuid, call, request_id, view, api_version, cost, now)
        | {"schedule": schedule_of.get(phonon_uuid)}
        for phonon_uuid, call in valid
    ]
    call_ids = [phonon_uuid for phonon_uuid, _ in valid]
    items.append(request_item(request_id, view, response, call_ids, now))
    check_storable(items)
    return Prepared(request_id, call_ids, plan, items)


def check_storable(items: list[dict[str, Any]]) -> None:
    """Refuse, before anything is reserved, a request one of whose items DynamoDB would not
    take (the per-call limits on keys keep every call far below it)."""
    for item in items:
        size = item_bytes(item)
        if size > MAX_ITEM_BYTES:
            raise ContractError(
                Code.INVALID_FORMAT,
                f"{item['pk'].split('#')[0].lower()} would take {size} bytes to store; "
                f"at most {MAX_ITEM_BYTES}",
            )


def dispatch(
    services: Services, prepared: Prepared, checksum: str, account_id: str, amount: Decimal
) -> int:
    """Write, schedule and enqueue the prepared calls, then clear the request's pending mark;
    returns how many schedules were made. Raises (after taking the request back, when no
    message may have gone out) if that fails."""
    request_id, plan = prepared.request_id, prepared.plan
    planned = plan.planned(request_id)
    sending = False
    try:
        persist_and_schedule(services, prepared.items, planned)
        sending = True
        services.queue.send(plan.messages)
    except Exception as exc:
        maybe_sent = not isinstance(exc, EnqueueError) or exc.maybe_sent
        if sending and maybe_sent:
            # A dialer may already hold some of these calls: taking them back could dial them
            # twice (once now, once for the retry). The request stands; its claim stays marked
            # and the sweeper queues whatever was not.
            logger.exception(
                "queueing failed part-way; the sweeper finishes it", request_id=request_id
            )
            raise
        logger.exception("accepting request failed; undoing it", request_id=request_id)
        if planned:
            services.scheduler.delete_all([p.name for p in planned])
        roll_back(services, checksum, request_id, prepared.call_ids, account_id, amount)
        raise
    try:
        services.checksums.mark_dispatched(checksum, request_id)
    except AdapterError:
        # Accepted and enqueued all the same; the sweeper will find the mark and enqueue the
        # calls again, which the dialer takes once.
        logger.warning("could not mark request dispatched", request_id=request_id)
    return len(plan.schedules)


def roll_back(
    services: Services,
    checksum: str,
    request_id: str,
    call_ids: list[str],
    account_id: str,
    amount: Decimal,
) -> bool:
    """Take back a request no dialer has seen: delete its calls that still wait (each only while
    it waits: a cancel may be taking it) and its request row, then release its claim and refund
    what is still reserved, in one transaction. Calls no longer waiting keep their own
    settlement (a cancel refunded its call). Idempotent; False if the claim was already gone.

    Dial messages already sent for deleted calls are dropped by the dialer.
    """
    pks = [call_pk(phonon_uuid) for phonon_uuid in call_ids]
    for phonon_uuid in call_ids:
        services.repository.withdraw(phonon_uuid)
    services.calls.delete_items([request_pk(request_id)])
    kept = services.calls.get_many(pks)
    dialling = [c["phonon-uuid"] for c in kept if c["status"] != CallStatus.CANCELLED.value]
    if dialling:
        raise RollBackRefused(f"calls already taken by a dialer: {', '.join(dialling)}")
    refund = amount / len(call_ids) * (len(call_ids) - len(kept)) if call_ids else amount
    return services.checksums.release_and_refund(checksum, request_id, account_id, refund)


class RollBackRefused(Exception):
    """A request some of whose calls a dialer already holds cannot be taken back."""


def call_item(
    phonon_uuid: str,
    call: ValidCall,
    request_id: str,
    view: FlowView,
    api_version: str,
    cost: Any,
    now: datetime,
) -> dict[str, Any]:
    retention = timedelta(days=get_settings().call_retention_days)
    return {
        "pk": call_pk(phonon_uuid),
        "phonon-uuid": phonon_uuid,
        "request-id": request_id,
        "flow-id": view.flow.flow_id,
        "account-id": view.account.account_id,
        "api-version": api_version,
        "client-identifier": call.client_identifier,
        "start-time": call.start_time.isoformat(),
        "due-at": call.due_at.isoformat(),  # also its next-dial-at until a dialer moves it
        "contact-numbers": list(call.contact_numbers),
        "keys": [{"name": name, "value": value} for name, value in call.keys],
        "status": (CallStatus.QUEUED if call.immediate else CallStatus.SCHEDULED).value,
        "cost": cost,
        "attempt": 1,
        "number-index": 0,
        "legs": {},
        "created-at": now.isoformat(),
        "expires-at": int((call.due_at + retention).timestamp()),
    }


def request_item(
    request_id: str, view: FlowView, response: dict[str, Any], call_ids: list[str], now: datetime
) -> dict[str, Any]:
    return {
        "pk": request_pk(request_id),
        "request-id": request_id,
        "flow-id": view.flow.flow_id,
        "call-ids": call_ids,
        "call-details": json.dumps(response["call-details"]),
        "created-at": now.isoformat(),
        "expires-at": int((now + timedelta(days=get_settings().call_retention_days)).timestamp()),
    }
