"""Test data built by the code that builds it in production, so tests cannot drift from it.

Calls are the items acceptance writes (``enqueue.accepted_call``, stored as
``call_items.new_call_item``), legs the items a dialer claims (``placing.claimed_leg``, stored
as ``call_items.claim_item``), events the ``LegEvent`` a gateway reports. Each writer helper
stores what it builds in the calls table (the ``configured`` fixture must be active).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from outdial.adapters.call_items import call_from_item, claim_item, new_call_item
from outdial.adapters.calls_store import CallsStore
from outdial.adapters.config_store import ConfigStore
from outdial.contract import CALL_RETENTION_DAYS
from outdial.logic.enqueue import accepted_call
from outdial.logic.placing import claimed_leg, iso, leg_id_of
from outdial.logic.validation import ValidCall
from outdial.models.calls import CallStatus
from outdial.models.legs import LegEvent, LegOutcome, LegState
from tests.conftest import FLOW_ID

NUMBERS = ("+919812345670", "+919812345671")
DID = "+918030000001"
RETENTION = timedelta(days=CALL_RETENTION_DAYS)


def call(
    status: CallStatus = CallStatus.QUEUED,
    *,
    numbers: tuple[str, ...] = NUMBERS,
    flow_id: str = FLOW_ID,
    now: datetime | None = None,
    **values: Any,
) -> dict[str, Any]:
    """A call item as acceptance writes it (due now), then put in ``status`` with ``values``."""
    now = now or datetime.now(UTC)
    view = ConfigStore().get_flow_view(flow_id)
    assert view is not None, f"flow {flow_id} is not configured"
    accepted = ValidCall(
        client_identifier="order-1182",
        start_time=now,
        due_at=now,
        contact_numbers=numbers,
        immediate=True,
        keys=(("$flow.key.name", "Asha"),),
    )
    accepted_as = accepted_call(str(uuid.uuid4()), accepted, str(uuid.uuid4()), view, "1.0", now)
    item = new_call_item(replace(accepted_as, cost=Decimal(1)), RETENTION)
    return item | {"status": status.value, **values}


def leg(
    item: dict[str, Any],
    *,
    attempt: int = 1,
    index: int = 0,
    state: LegState = LegState.CLAIMED,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The leg item of ``item``'s ``attempt`` and number ``index``, in ``state``."""
    current = call_from_item(item | {"attempt": attempt, "number-index": index})
    claimed = claim_item(claimed_leg(current, DID, now or datetime.now(UTC)))
    return claimed | {"state": state.value}


def ended(
    item: dict[str, Any],
    status: CallStatus = CallStatus.COMPLETED,
    outcome: LegOutcome = LegOutcome.ANSWERED,
    seconds: int = 5,
) -> dict[str, Any]:
    """``item`` as the dialer leaves it after its first leg ended with ``outcome``."""
    started = datetime.fromisoformat(item["due-at"]) + timedelta(seconds=1)
    leg_id = leg_id_of(item["phonon-uuid"], 1, 0)
    record = {
        "attempt": 1,
        "number-index": 0,
        "number": item["contact-numbers"][0],
        "did": DID,
        "outcome": outcome.value,
        "started-at": iso(started),
        "ended-at": iso(started + timedelta(seconds=seconds)),
        "duration-seconds": seconds if outcome is LegOutcome.ANSWERED else 0,
        "placed": True,
    }
    values: dict[str, Any] = {
        "status": status.value,
        "current-leg": leg_id,
        "legs": {leg_id: record},
        "ended-at": record["ended-at"],
    }
    if status is CallStatus.COMPLETED:
        values |= {"connected-number": record["number"], "duration-seconds": seconds}
    return item | values


def event(
    leg_id: str, outcome: LegOutcome = LegOutcome.ANSWERED, gateway_id: str = "sim"
) -> LegEvent:
    """A gateway's report that ``leg_id`` ended with ``outcome`` just now."""
    now = datetime.now(UTC)
    seconds = 5 if outcome is LegOutcome.ANSWERED else 0
    return LegEvent(
        gateway_id=gateway_id,
        leg_id=leg_id,
        outcome=outcome,
        duration_seconds=seconds,
        started_at=now - timedelta(seconds=seconds),
        ended_at=now,
        event_id=str(uuid.uuid4()),
    )


def stored(*items: dict[str, Any]) -> None:
    """Write ``items`` to the calls table."""
    CallsStore().put_items(list(items))
