"""The reconciler: no call stays DIALING past its current leg's deadline (SPEC §11).

Every call that is DIALING sits in the dialing-deadlines index under the moment its current
leg's outcome is due: ring-seconds + max-call-seconds + grace-seconds after the leg was claimed
(or a few minutes after the call was taken, or moved on to its next number, until that leg is
claimed). The sweeper runs ``reconcile`` every minute; for each overdue call:

- its current leg was never claimed (the dialer that took the call died): dial it now;
- the leg ended but the call never moved on (a crash in between): move it on now;
- the leg has no outcome: ask the gateway (``Gateway.status``) and apply what it says as if its
  event had come; when it cannot say, the leg ends UNKNOWN and the call FAILED 206, refunded,
  with its webhook.

Each of these is the dialer's own conditional step, so a run racing a late event, a redelivered
message or another run changes nothing twice.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from outdial.adapters.calls_store import leg_pk
from outdial.adapters.gateways import Leg
from outdial.adapters.tables import DEADLINE_SHARDS
from outdial.logic.dial import ENDED, Dialer, leg_id_of
from outdial.models.calls import CallStatus
from outdial.observability import count, logger

# Overdue calls handled per shard and run; the rest wait for the next run.
RECONCILE_LIMIT = 50


def reconcile(now: datetime, dialer: Dialer) -> Counter[str]:
    """Handle every call overdue at ``now`` (up to a limit per shard); counts by action."""
    actions: Counter[str] = Counter()
    before = int(now.timestamp())
    for shard in range(DEADLINE_SHARDS):
        for pk in dialer.calls.overdue_calls(str(shard), before, RECONCILE_LIMIT):
            phonon_uuid = pk.removeprefix("CALL#")
            try:
                action = reconcile_call(phonon_uuid, now, dialer)
            except Exception:
                # One call must not hold up the others: it stays in the index for the next run.
                logger.exception("could not reconcile an overdue call", phonon_uuid=phonon_uuid)
                action = "failed"
            actions[action] += 1
            if action != "failed":
                count("CallsReconciled", 1, action=action)
    return actions


def reconcile_call(phonon_uuid: str, now: datetime, dialer: Dialer) -> str:
    """Bring one overdue call forward; the action taken."""
    call = dialer.calls.get_call(phonon_uuid)
    if call is not None and CallStatus(call["status"]).terminal:
        dialer.report_ended(call)  # its dialer died before reporting it
        return "reported-end"
    if call is None or call["status"] != CallStatus.DIALING.value:
        return "settled"  # moved on since the index was read
    leg_id = leg_id_of(phonon_uuid, int(call["attempt"]), int(call["number-index"]))
    leg = dialer.calls.get(leg_pk(leg_id))
    if leg is None:
        logger.warning("overdue call with no leg claimed; dialling it", phonon_uuid=phonon_uuid)
        dialer.dial(phonon_uuid)
        return "dialled"
    if leg.get("state") == ENDED:
        logger.warning("overdue call whose leg ended; moving it on", leg_id=leg_id)
        dialer.advance(leg)
        return "advanced"
    gateway_config = dialer.config.get_gateway(str(leg.get("gateway-id") or ""))
    event = None
    if gateway_config is not None:
        placed = leg.get("claimed-epoch")
        event = dialer.gateway(gateway_config).status(
            Leg(
                leg_id=leg_id,
                call_id=phonon_uuid,
                attempt=int(leg["attempt"]),
                number_index=int(leg["number-index"]),
                from_did=str(leg.get("did") or ""),
                to_number=str(leg["number"]),
                variables={},
                ring_seconds=float(getattr(gateway_config, "ring_seconds", 0)),
                placed_at=datetime.fromtimestamp(int(placed), UTC) if placed is not None else None,
                gateway_ref=leg.get("gateway-ref"),
            )
        )
    if event is not None:
        logger.warning("overdue leg: the gateway told its outcome", outcome=event.outcome.value)
        dialer.apply_event(event)
        return "reported"
    logger.warning("overdue leg: its gateway cannot say; the call fails", leg_id=leg_id)
    dialer.end_unknown(leg_id)
    return "unknown"
