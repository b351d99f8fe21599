"""The one place where calls and legs turn into the calls table's items and back.

Logic sees ``Call``, ``Attempt`` and ``LegRecord``; only the repositories see the items, and only
through these functions.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from outdial.adapters.calls_table import leg_pk
from outdial.contract import DEADLINE_SORT_KEY, LEG_RETENTION_DAYS, TTL_ATTRIBUTE
from outdial.models.calls import Attempt, Call, CallRequest, CallStatus, Ending
from outdial.models.legs import LegEnding, LegRecord, LegState

# When a leg's outcome is due, on its item until it ends (not in the dialing-deadlines index: a
# leg item has no shard).
LEG_DEADLINE = "deadline-at"


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def call_from_item(item: dict[str, Any]) -> Call:
    """A stored call as the dialer sees it."""
    return Call(
        phonon_uuid=item["phonon-uuid"],
        request_id=item["request-id"],
        flow_id=item["flow-id"],
        account_id=item["account-id"],
        status=CallStatus(item["status"]),
        attempt=int(item["attempt"]),
        number_index=int(item["number-index"]),
        contact_numbers=tuple(item["contact-numbers"]),
        due_at=datetime.fromisoformat(item["due-at"]),
        cost=Decimal(str(item.get("cost", 0))),
        keys=tuple((str(k["name"]), str(k["value"])) for k in item.get("keys") or []),
        dispatch_id=item.get("dispatch-id"),
        notified=bool(item.get("notified")),
        overdue_at=_int(item.get(DEADLINE_SORT_KEY)),
        legs={
            leg_id: attempt_from_item(record) for leg_id, record in (item.get("legs") or {}).items()
        },
        client_identifier=item.get("client-identifier", ""),
        api_version=item.get("api-version", ""),
        start_time=item.get("start-time", ""),
        next_dial_at=item.get("next-dial-at") or item.get("due-at"),
        created_at=item.get("created-at"),
        ended_at=item.get("ended-at"),
        connected_number=item.get("connected-number"),
        duration_seconds=_int(item.get("duration-seconds")),
        error_code=_int(item.get("error-code")),
        error_message=item.get("error-message"),
        schedule=item.get("schedule"),
    )


def request_from_item(item: dict[str, Any]) -> CallRequest:
    """A stored create request (its answer is kept as JSON text)."""
    return CallRequest(
        request_id=item["request-id"],
        flow_id=item["flow-id"],
        created_at=item.get("created-at"),
        call_details=json.loads(item["call-details"]),
        call_ids=tuple(item["call-ids"]),
    )


def attempt_from_item(record: dict[str, Any]) -> Attempt:
    return Attempt(
        attempt=int(record["attempt"]),
        number_index=int(record["number-index"]),
        number=record["number"],
        did=record.get("did"),
        outcome=record.get("outcome"),
        started_at=record.get("started-at"),
        ended_at=record.get("ended-at"),
        duration_seconds=_int(record.get("duration-seconds")),
        placed=None if record.get("placed") is None else bool(record["placed"]),
        skip_reason=record.get("skip-reason"),
    )


def attempt_to_item(attempt: Attempt) -> dict[str, Any]:
    """The call's record of a leg (what ``<call>`` renders). What it does not know yet (its
    outcome and end while it is out) is left out rather than stored as nulls: every write to
    the call bills its whole size, by the kilobyte."""
    record: dict[str, Any] = {
        "attempt": attempt.attempt,
        "number-index": attempt.number_index,
        "number": attempt.number,
        "did": attempt.did,
        "outcome": attempt.outcome,
        "started-at": attempt.started_at,
        "ended-at": attempt.ended_at,
        "duration-seconds": attempt.duration_seconds,
        "placed": attempt.placed,
        "skip-reason": attempt.skip_reason,
    }
    return {name: value for name, value in record.items() if value is not None}


def leg_from_item(item: dict[str, Any]) -> LegRecord:
    """A stored leg."""
    return LegRecord(
        leg_id=item["leg-id"],
        phonon_uuid=item["phonon-uuid"],
        attempt=int(item["attempt"]),
        number_index=int(item["number-index"]),
        number=item["number"],
        did=item.get("did"),
        state=LegState(item["state"]),
        claimed_epoch=int(item["claimed-epoch"]),
        gateway_id=item.get("gateway-id"),
        placed_at=item.get("placed-at"),
        gateway_ref=item.get("gateway-ref"),
        outcome=item.get("outcome"),
        placed=bool(item.get("placed", True)),
        reason=item.get("reason"),
        started_at=item.get("started-at"),
        ended_at=item.get("ended-at"),
        duration_seconds=int(item.get("duration-seconds") or 0),
        notified=bool(item.get("notified")),
        deadline_at=_int(item.get(LEG_DEADLINE)),
    )


def claim_item(leg: LegRecord) -> dict[str, Any]:
    """The item a dialer creates to claim ``leg`` (kept LEG_RETENTION_DAYS after the claim)."""
    return {
        "pk": leg_pk(leg.leg_id),
        "leg-id": leg.leg_id,
        "phonon-uuid": leg.phonon_uuid,
        "attempt": leg.attempt,
        "number-index": leg.number_index,
        "number": leg.number,
        "did": leg.did,
        "gateway-id": leg.gateway_id,
        "state": leg.state.value,
        "claimed-epoch": leg.claimed_epoch,
        LEG_DEADLINE: leg.deadline_at,
        TTL_ATTRIBUTE: leg.claimed_epoch + LEG_RETENTION_DAYS * 24 * 3600,
    }


def ending_values(ending: Ending) -> dict[str, Any]:
    """What a call's end writes beside its status."""
    values: dict[str, Any] = {"status": ending.status.value, "ended-at": _iso(ending.ended_at)}
    if ending.error_code is not None:
        values["error-code"], values["error-message"] = ending.error_code, ending.error_message
    if ending.connected_number is not None:
        values["connected-number"] = ending.connected_number
        values["duration-seconds"] = ending.duration_seconds or 0
    return values


def leg_ending_values(ending: LegEnding) -> dict[str, Any]:
    """What a leg's end writes beside its state."""
    return {
        "outcome": ending.outcome,
        "placed": ending.placed,
        "reason": ending.reason,
        "event-id": ending.event_id,
        "started-at": ending.started_at,
        "ended-at": ending.ended_at,
        "duration-seconds": ending.duration_seconds,
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
