"""The sweeper: finish or undo the requests an api invocation left half-done.

Accepting a request writes, in order: the balance reservation, the checksum claim (marked pending
dispatch), the call items, the request item; then it enqueues the calls and clears the mark. An
invocation killed in between (a timeout, an out-of-memory), or one whose queueing failed after a
message may have gone out, leaves the mark. Once a mark is older than the grace period, far
longer than any live invocation, the sweeper settles its request:

- **forward** when the request item and every call item exist: the calls still waiting are
  enqueued (again, perhaps: schedules are created idempotently and the dialer takes a call once),
  so a retry of the same body, answered 201 with this request's ids, tells the truth;
- **back** otherwise (no message was sent before every row was written): the calls that still
  wait are deleted, then the claim is released and what is still reserved refunded in one
  transaction, so a retry is accepted afresh (``roll_back``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from outdial.contract import PENDING_PARTITION_KEY, Metric
from outdial.logic.enqueue import Services, plan_enqueue, roll_back
from outdial.models.calls import WAITING, Call, CallStatus
from outdial.observability import count, logger
from outdial.settings import get_settings

# Marks settled per run; the rest wait a minute for the next run.
SWEEP_LIMIT = 25


class SweepIncomplete(Exception):
    """Some pending request could not be settled this run (it stays pending for the next)."""


@dataclass
class SweepReport:
    """What one run did, by action (``forward``, ``back``, ``failed``)."""

    actions: Counter[str] = field(default_factory=Counter)


def sweep(now: datetime, services: Services) -> SweepReport:
    """Settle every request pending dispatch for longer than the grace period (up to a limit)."""
    report = SweepReport()
    claimed_before = int(now.timestamp()) - get_settings().dispatch_grace_seconds
    for checksum in services.checksums.pending_dispatches(claimed_before, SWEEP_LIMIT):
        try:
            action = settle(checksum, now, services)
        except Exception:
            # One request that cannot be settled must not hold up the others: it stays marked,
            # moves to the back of the index, and is tried again a grace period on (the handler
            # then fails, for the error alarm).
            logger.exception("could not settle a pending request", checksum=checksum)
            try:
                services.checksums.postpone_dispatch(checksum, int(now.timestamp()))
            except Exception:
                logger.exception("could not postpone it either", checksum=checksum)
            action = "failed"
        if action:
            report.actions[action] += 1
    return report


def settle(checksum: str, now: datetime, services: Services) -> str | None:
    """Finish or undo one pending request; the action taken, or None if it was settled already."""
    claim = services.calls.get(checksum)
    if claim is None or PENDING_PARTITION_KEY not in claim:
        return None  # settled since the index was read
    response = json.loads(claim["response"])
    request_id = response["request-id"]
    call_ids = [d["phonon-uuid"] for d in response["call-details"] if "phonon-uuid" in d]
    request = services.reads.request(request_id)
    calls = services.reads.calls(call_ids)
    if request is not None and len(calls) == len(call_ids):
        _forward(request_id, calls, now, services)
        services.checksums.mark_dispatched(checksum, request_id)
        action = "forward"
    else:
        amount = Decimal(str(claim["amount"]))
        if not roll_back(services, checksum, request_id, call_ids, claim["account-id"], amount):
            return None  # another run settled it first
        action = "back"
    count(Metric.DISPATCHES_RECOVERED, action=action)
    logger.warning(
        "settled a request an api invocation left pending",
        request_id=request_id,
        action=action,
        calls=len(call_ids),
        found=len(calls),
    )
    return action


def _forward(request_id: str, calls: list[Call], now: datetime, services: Services) -> None:
    """Enqueue the calls still waiting, as acceptance would have (late ones go straight to the
    queue: their moment has passed)."""
    waiting = [
        (call.phonon_uuid, call.due_at, call.status == CallStatus.QUEUED)
        for call in calls
        if call.status in WAITING
    ]
    plan = plan_enqueue(waiting, now)
    services.scheduler.create_all(plan.planned(request_id))
    services.queue.send(plan.messages)
