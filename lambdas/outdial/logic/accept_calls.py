"""``POST /outbound/create``: the checks of SPEC §2 in their order, then persist and enqueue."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from outdial.adapters.calls_store import (
    BalanceTooLow,
    CallsStore,
    call_pk,
    checksum_pk,
    request_pk,
)
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.dial_queue import DIAL_GROUP_SIZE as DIAL_GROUP_SIZE
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
from outdial.logic.authorize import authorize
from outdial.logic.policy import Policy
from outdial.logic.validation import (
    CallRules,
    RejectedCall,
    ValidCall,
    check_api_version,
    check_body_size,
    check_list_size,
    require,
    validate_calls,
)
from outdial.models.calls import CallStatus
from outdial.models.codes import Code, ContractError
from outdial.models.config import FlowView
from outdial.models.requests import CreateCallsBody
from outdial.observability import logger
from outdial.settings import get_settings


@dataclass
class Services:
    """The adapters acceptance talks to (tests hand in their own)."""

    config: ConfigStore = field(default_factory=ConfigStore)
    calls: CallsStore = field(default_factory=CallsStore)
    queue: DialQueue = field(default_factory=DialQueue)
    scheduler: Scheduler = field(default_factory=Scheduler)
    policy: Policy = field(default_factory=Policy)
    rates: FlowRateLimiter = field(default_factory=FlowRateLimiter)


@dataclass(frozen=True)
class Outcome:
    """What the route answers, and what metrics should count."""

    code: Code
    body: dict[str, Any]
    accepted: int = 0
    rejected: tuple[Code, ...] = ()


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
    for call_id, due_at, immediate in calls:
        if immediate:
            soon.append((call_id, None))
        elif not fires_in_time(due_at, now):
            soon.append((call_id, int(due_at.timestamp())))
        else:
            schedules[start_minute(due_at)].append((call_id, due_at))
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


def _check_flow(view: FlowView, api_version: str) -> None:
    """Checks 8-10."""
    if api_version not in view.flow.versions:
        raise ContractError(
            Code.INVALID_FLOW_VERSION, f"flow is not published for api-version {api_version}"
        )
    if not view.gateway_usable:
        raise ContractError(Code.INVALID_GATEWAY_ID, "the flow's gateway is not configured")
    if not view.flow.dids:
        raise ContractError(Code.DID_NOT_MAPPED, "the flow has no DIDs")
    if not view.flow.enabled_dids:
        raise ContractError(Code.NO_MASK_AVAILABLE, "none of the flow's DIDs is enabled")


def create_calls(
    body: CreateCallsBody, raw: bytes, source_ip: str, now: datetime, services: Services
) -> Outcome:
    """Run every check of SPEC §2 in order; accept the valid calls or raise ContractError."""
    return accept(body, raw, admit(body, raw, source_ip, now, services), now, services)


def admit(
    body: CreateCallsBody, raw: bytes, source_ip: str, now: datetime, services: Services
) -> FlowView:
    """Checks 1-7: the request is well formed and comes from the flow's owner, in time."""
    check_body_size(raw)
    require(
        {
            "api-version": body.api_version,
            "security-id": body.security_id,
            "flow-id": body.flow_id,
            "calls": body.calls,
        }
    )
    assert body.api_version and body.security_id and body.flow_id
    check_api_version(body.api_version)
    return authorize(
        body.flow_id, body.security_id, source_ip, now, services.config, services.rates
    )


def request_checksum(flow_id: str, raw: bytes) -> str:
    """The key under which check 12 remembers an accepted body."""
    return checksum_pk(flow_id, hashlib.sha256(raw).hexdigest())


def accept(
    body: CreateCallsBody,
    raw: bytes,
    view: FlowView,
    now: datetime,
    services: Services,
    *,
    dry_run: bool = False,
    idempotency: str | None = None,
) -> Outcome:
    """Checks 8-15 for an admitted request, then persist and enqueue its valid calls.

    ``dry_run`` answers what the request would get now without writing, reserving or enqueueing
    anything; ``idempotency`` (the key's record) is noted on the checksum claim, so a retry with
    that key can tell its own earlier acceptance from someone else's.
    """
    assert body.api_version and body.calls is not None
    _check_flow(view, body.api_version)
    check_list_size(body.calls, "calls")

    account = view.account
    rules = CallRules(
        region=account.region,
        zone=account.zone,
        now=now,
        required_keys=frozenset(view.flow.required_keys),
        phone_whitelist=frozenset(account.phone_whitelist) if body.api_version == "TEST" else None,
    )
    # Check 13, then the account's do-not-call list and caps and the flow's window (SPEC §9).
    results = services.policy.screen(validate_calls(body.calls, rules), view)
    checksum = request_checksum(view.flow.flow_id, raw)
    now_epoch = int(now.timestamp())
    rejected = tuple(r.code for r in results if isinstance(r, RejectedCall))

    valid = [(str(uuid.uuid4()), r) for r in results if isinstance(r, ValidCall)]
    if not valid:
        original = services.calls.get_checksum(checksum, now_epoch)
        if original is not None:
            return _repeated(original)
        details = [r.details() for r in results if isinstance(r, RejectedCall)]
        return Outcome(rejected[0], rejected[0].body(**{"call-details": details}), 0, rejected)

    request_id = str(uuid.uuid4())
    ids = iter(valid)
    details = [
        {"client-identifier": r.client_identifier, "phonon-uuid": next(ids)[0]}
        if isinstance(r, ValidCall)
        else r.details()
        for r in results
    ]
    code = Code.SUCCESS if not rejected else Code.PARTIAL_SUCCESS
    response = code.body(**{"request-id": request_id, "call-details": details})
    amount = account.cost_per_call * len(valid)

    # Every item is built before anything is reserved or claimed: a call that cannot be stored
    # fails here, with nothing to undo.
    plan = plan_enqueue([(call_id, call.due_at, call.immediate) for call_id, call in valid], now)
    planned = plan.planned(request_id)
    schedule_of = {call_id: p.name for p in planned for call_id, _ in p.calls}
    items = [
        _call_item(call_id, call, request_id, view, body.api_version, account.cost_per_call, now)
        | {"schedule": schedule_of.get(call_id)}
        for call_id, call in valid
    ]
    items.append(_request_item(request_id, view, response, [call_id for call_id, _ in valid], now))
    check_storable(items)

    insufficient = ContractError(
        Code.INSUFFICIENT_BALANCE,
        f"{len(valid)} calls at {account.cost_per_call} each exceed the account's balance",
    )
    if dry_run:
        # Checks 12 and 14 as reads: would it be a repeat, would the balance cover it.
        original = services.calls.get_checksum(checksum, now_epoch)
        if original is not None:
            return _repeated(original)
        balance = services.config.get_balance(account.account_id)
        if balance is None or balance < amount:
            raise insufficient
        return Outcome(code, response, accepted=len(valid), rejected=rejected)
    # The reservation and the checksum claim are one transaction: a duplicate that loses the
    # race reserves nothing, and a request refused for balance never stood as "accepted".
    try:
        original = services.calls.reserve_and_claim(
            checksum,
            response,
            now_epoch,
            get_settings().checksum_ttl_seconds,
            account_id=account.account_id,
            amount=amount,
            idempotency=idempotency,
        )
    except BalanceTooLow:
        raise insufficient from None
    except Exception:
        # The transaction may have landed all the same: undo it (claim and reservation) if so.
        services.calls.release_and_refund(checksum, request_id, account.account_id, amount)
        raise
    if original is not None and original.get("request-id") != request_id:
        return _repeated(original)
    # (Our own request-id back means a retried transaction found the claim its first try made.)

    sending = False
    try:
        persist_and_schedule(services, items, planned)
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
        roll_back(services, checksum, request_id, [c for c, _ in valid], account.account_id, amount)
        raise
    try:
        services.calls.mark_dispatched(checksum, request_id)
    except AdapterError:
        # Accepted and enqueued all the same; the sweeper will find the mark and enqueue the
        # calls again, which the dialer takes once.
        logger.warning("could not mark request dispatched", request_id=request_id)
    logger.info(
        "calls accepted",
        request_id=request_id,
        accepted=len(valid),
        rejected=len(rejected),
        schedules=len(plan.schedules),
    )
    return Outcome(code, response, accepted=len(valid), rejected=rejected)


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
    pks = [call_pk(call_id) for call_id in call_ids]
    for pk in pks:
        services.calls.delete_if_waiting(pk)
    services.calls.delete_items([request_pk(request_id)])
    kept = services.calls.get_many(pks)
    dialling = [c["phonon-uuid"] for c in kept if c["status"] != CallStatus.CANCELLED.value]
    if dialling:
        raise RollBackRefused(f"calls already taken by a dialer: {', '.join(dialling)}")
    refund = amount / len(call_ids) * (len(call_ids) - len(kept)) if call_ids else amount
    return services.calls.release_and_refund(checksum, request_id, account_id, refund)


class RollBackRefused(Exception):
    """A request some of whose calls a dialer already holds cannot be taken back."""


def _repeated(original: dict[str, Any]) -> Outcome:
    body = Code.CHECKSUM_REPEATED.body(
        **{"request-id": original["request-id"], "call-details": original["call-details"]}
    )
    return Outcome(Code.CHECKSUM_REPEATED, body)


def _call_item(
    call_id: str,
    call: ValidCall,
    request_id: str,
    view: FlowView,
    api_version: str,
    cost: Any,
    now: datetime,
) -> dict[str, Any]:
    retention = timedelta(days=get_settings().call_retention_days)
    return {
        "pk": call_pk(call_id),
        "phonon-uuid": call_id,
        "request-id": request_id,
        "flow-id": view.flow.flow_id,
        "account-id": view.account.account_id,
        "api-version": api_version,
        "client-identifier": call.client_identifier,
        "start-time": call.start_time.isoformat(),
        "due-at": call.due_at.isoformat(),
        "next-dial-at": call.due_at.isoformat(),
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


def _request_item(
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
