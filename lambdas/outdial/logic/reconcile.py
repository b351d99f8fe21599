"""The reconciler: no call stays DIALING past its current leg's deadline (SPEC §11).

Every call that is DIALING sits in the dialing-deadlines index: a few minutes after it was taken
(or moved on to its next number), then under the moment its current leg's outcome is due:
ring-seconds + max-call-seconds + grace-seconds after the leg was claimed (the leg's entry on the
call holds it from its claim; the call's index entry moves there when the reconciler first finds
it). The sweeper runs ``reconcile`` every minute; for each overdue call:

- its current leg was never claimed, or never placed (the dialer that took the call died): dial
  it now, as a redelivery of its message would;
- the leg ended but the call never moved on (a crash in between): move it on now;
- the leg has no outcome: ask the gateway (``Gateway.status``) and apply what it says as if its
  event had come; when it cannot say, the leg ends UNKNOWN and the call FAILED 206, refunded,
  with its webhook;
- the leg's outcome is not due yet: the call's entry moves to the leg's deadline.

Each of these is the dialer's own conditional step, so a run racing a late event, a redelivered
message or another run changes nothing twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from outdial.contract import DEADLINE_SHARDS, Metric
from outdial.logic.dial import CLAIM_TIMEOUT_SECONDS, Dialer, leg_id_of
from outdial.models.calls import CallStatus, leg_of
from outdial.models.legs import Leg, LegState
from outdial.observability import count, logger

# Overdue calls handled per shard and run; the rest wait for the next run.
RECONCILE_LIMIT = 50
# A call taken with its leg claimed, found before that leg's deadline: the leg's record on the
# call rode on the write that took it (due a few minutes on), and the index entry moves to the
# leg's deadline now, for the few legs that outlast those minutes, not at every claim.
WAITING = "waiting"


def stale_claims(now: datetime) -> int:
    """Claims made before this (epoch seconds) at ``now`` are held by dialers that died."""
    return int(now.timestamp()) - CLAIM_TIMEOUT_SECONDS


def reconcile(now: datetime, dialer: Dialer) -> Counter[str]:
    """Handle every call overdue at ``now`` (up to a limit per shard); counts by action."""
    actions: Counter[str] = Counter()
    before = int(now.timestamp())
    for shard in range(DEADLINE_SHARDS):
        for phonon_uuid in dialer.calls.overdue_calls(str(shard), before, RECONCILE_LIMIT):
            try:
                action = reconcile_call(phonon_uuid, now, dialer)
            except Exception:
                # One call must not hold up the others: it stays in the index for the next run.
                logger.exception("could not reconcile an overdue call", phonon_uuid=phonon_uuid)
                action = "failed"
            if action == WAITING:
                continue  # nothing done to the call itself
            actions[action] += 1
            if action != "failed":
                count(Metric.CALLS_RECONCILED, 1, action=action)
    return actions


def reconcile_call(phonon_uuid: str, now: datetime, dialer: Dialer) -> str:
    """Bring one overdue call forward; the action taken."""
    call = dialer.calls.get(phonon_uuid)
    if call is not None and call.status.terminal:
        dialer.report_ended(call)  # its dialer died before reporting it
        return "reported-end"
    if call is None or call.status is not CallStatus.DIALING:
        return "settled"  # moved on since the index was read
    leg_id = leg_id_of(phonon_uuid, call.attempt, call.number_index)
    leg = leg_of(call, leg_id)
    if leg is None:
        logger.warning("overdue call with no leg claimed; dialling it", phonon_uuid=phonon_uuid)
        dialer.dial(phonon_uuid)
        return "dialled"
    if leg.state is LegState.ENDED:
        logger.warning("overdue call whose leg ended; moving it on", leg_id=leg_id)
        dialer.advance(call, leg)
        return "advanced"
    if leg.state is not LegState.PLACED and leg.claimed_epoch < stale_claims(dialer.clock()):
        # Claimed by the write that took the call to it, by a dialer that died before placing
        # it (or set aside for pace, its wake-up lost): dialled as a redelivery would, the
        # claim stale by the clock the dialer that takes it over reads.
        logger.warning("overdue call whose leg was never placed; dialling it", leg_id=leg_id)
        dialer.dial(phonon_uuid)
        return "dialled"
    if leg.deadline_at is not None and leg.deadline_at > int(now.timestamp()):
        # Taken and claimed, its outcome not due yet: the call waits in the index until then.
        dialer.calls.extend_deadline(
            phonon_uuid, call.position, datetime.fromtimestamp(leg.deadline_at, UTC)
        )
        return WAITING
    gateway_config = dialer.config.get_gateway(leg.gateway_id or "")
    event = None
    if gateway_config is not None:
        event = dialer.gateway(gateway_config).status(
            Leg(
                leg_id=leg_id,
                phonon_uuid=phonon_uuid,
                attempt=leg.attempt,
                number_index=leg.number_index,
                from_did=leg.did or "",
                to_number=leg.number,
                variables={},
                ring_seconds=float(getattr(gateway_config, "ring_seconds", 0)),
                placed_at=datetime.fromtimestamp(leg.claimed_epoch, UTC),
                gateway_ref=leg.gateway_ref,
            )
        )
    if event is not None:
        logger.warning("overdue leg: the gateway told its outcome", outcome=event.outcome.value)
        dialer.apply_event(event)
        return "reported"
    logger.warning("overdue leg: its gateway cannot say; the call fails", leg_id=leg_id)
    dialer.end_unknown(leg_id)
    return "unknown"
