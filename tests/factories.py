"""Test data built by the code that builds it in production, so tests cannot drift from it.

Calls are the items acceptance writes (``enqueue.accepted_call``, stored as
``call_items.new_call_item``), legs the entries a dialer claims on them (``placing.leg_entry``,
stored as ``call_items.attempt_to_item``), events the ``LegEvent`` a gateway reports. Each writer helper
stores what it builds in the calls table (the ``configured`` fixture must be active).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from outdial.adapters.call_items import attempt_to_item, call_from_item, new_call_item
from outdial.adapters.calls_store import CallsStore
from outdial.adapters.config_store import ConfigStore
from outdial.contract import CALL_RETENTION_DAYS
from outdial.logic.enqueue import accepted_call
from outdial.logic.placing import iso, leg_entry, leg_id_of
from outdial.logic.validation import ValidCall
from outdial.models.calls import Attempt, CallStatus
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
    gateway_id: str | None = None,
) -> dict[str, Any]:
    """``item`` DIALING its ``attempt``'s number ``index``, with that leg's entry on it in
    ``state``, claimed at ``now`` (through ``gateway_id``, by default its flow's)."""
    position = {"attempt": attempt, "number-index": index}
    current = call_from_item(item | position)
    leg_id, record = leg_entry(
        current, ConfigStore().get_flow_view(current.flow_id), now or datetime.now(UTC)
    )
    record = replace(record, state=state, did=DID, gateway_id=gateway_id or record.gateway_id)
    legs = {**(item.get("legs") or {}), leg_id: attempt_to_item(record)}
    return item | position | {"status": CallStatus.DIALING.value, "legs": legs}


def ended(
    item: dict[str, Any],
    status: CallStatus = CallStatus.COMPLETED,
    outcome: LegOutcome = LegOutcome.ANSWERED,
    seconds: int = 5,
) -> dict[str, Any]:
    """``item`` as the dialer leaves it after its first leg ended with ``outcome``."""
    started = datetime.fromisoformat(item["due-at"]) + timedelta(seconds=1)
    leg_id = leg_id_of(item["phonon-uuid"], 1, 0)
    ended_at = iso(started + timedelta(seconds=seconds))
    record = Attempt(
        attempt=1,
        number_index=0,
        number=item["contact-numbers"][0],
        did=DID,
        outcome=outcome.value,
        started_at=iso(started),
        ended_at=ended_at,
        duration_seconds=seconds if outcome is LegOutcome.ANSWERED else 0,
        placed=True,
    )
    values: dict[str, Any] = {
        "status": status.value,
        "legs": {leg_id: attempt_to_item(record)},
        "ended-at": ended_at,
    }
    if status is CallStatus.COMPLETED:
        values |= {"connected-number": item["contact-numbers"][0], "duration-seconds": seconds}
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
