"""The one place where calls and legs turn into the calls table's items and back.

Logic sees ``Call`` and its legs' ``Attempt`` entries; only the repositories see the items, and
only through these functions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from outdial.adapters.calls_table import call_pk, request_pk
from outdial.adapters.tables import MAX_ITEM_BYTES, item_bytes
from outdial.contract import DEADLINE_SORT_KEY
from outdial.models.calls import (
    Attempt,
    Call,
    CallRequest,
    CallStatus,
    Ending,
    LegEntry,
    Wait,
)
from outdial.models.legs import LegState, parse_leg_id


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
            leg_id: attempt_from_item(leg_id, record, item["contact-numbers"])
            for leg_id, record in (item.get("legs") or {}).items()
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


def new_call_item(call: Call, retention: timedelta) -> dict[str, Any]:
    """The item an accepted call is written as (kept ``retention`` after it is due)."""
    return {
        "pk": call_pk(call.phonon_uuid),
        "phonon-uuid": call.phonon_uuid,
        "request-id": call.request_id,
        "flow-id": call.flow_id,
        "account-id": call.account_id,
        "api-version": call.api_version,
        "client-identifier": call.client_identifier,
        "start-time": call.start_time,
        "due-at": call.due_at.isoformat(),  # also its next-dial-at until a dialer moves it
        "contact-numbers": list(call.contact_numbers),
        "keys": [{"name": name, "value": value} for name, value in call.keys],
        "status": call.status.value,
        "cost": call.cost,
        "attempt": call.attempt,
        "number-index": call.number_index,
        "legs": {leg_id: attempt_to_item(record) for leg_id, record in call.legs.items()},
        "created-at": call.created_at,
        "expires-at": int((call.due_at + retention).timestamp()),
        "schedule": call.schedule,
    }


def request_to_item(request: CallRequest, retention: timedelta) -> dict[str, Any]:
    """The item a create request is written as (its answer kept as JSON text), kept
    ``retention`` after it came."""
    created = datetime.fromisoformat(str(request.created_at))
    return {
        "pk": request_pk(request.request_id),
        "request-id": request.request_id,
        "flow-id": request.flow_id,
        "call-ids": list(request.call_ids),
        "call-details": json.dumps(request.call_details),
        "created-at": request.created_at,
        "expires-at": int((created + retention).timestamp()),
    }


@dataclass(frozen=True)
class AcceptedItems:
    """The items of an accepted request, built before anything is reserved: its calls, then
    the request."""

    items: tuple[dict[str, Any], ...]

    def oversized(self) -> tuple[str, int] | None:
        """The first item DynamoDB would not take, as (``call`` or ``request``, its size)."""
        for item in self.items:
            size = item_bytes(item)
            if size > MAX_ITEM_BYTES:
                return item["pk"].split("#")[0].lower(), size
        return None


def accepted_items(
    calls: Sequence[Call], request: CallRequest, retention: timedelta
) -> AcceptedItems:
    """The items of ``calls`` and their ``request``, each kept ``retention``."""
    return AcceptedItems(
        (*(new_call_item(call, retention) for call in calls), request_to_item(request, retention))
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


# A leg's entry on its call (``legs.<leg-id>``), its only record: short names, for every write to
# the call bills its whole size by the kilobyte. Its attempt and number index are in its id, its
# number among the call's; what it does not know (yet, or any more) is left out, not stored null.
ENTRY_NAMES = {
    "did": "d",
    "outcome": "o",
    "started_at": "s",
    "ended_at": "e",
    "duration_seconds": "t",
    "placed": "p",
    "reason": "r",
    "state": "k",
    "claimed_epoch": "c",
    "gateway_id": "g",
    "gateway_ref": "f",
    "deadline_at": "x",
    "notified": "w",
}
# Until it ends, a placed leg's ``s`` is when it was placed; ``u`` marks one counted as placed
# whose placing time nobody knows (its dialer died asking a carrier).
PLACING_UNKNOWN = "u"
LEG_STATE_CODES: dict[LegState, str] = {
    LegState.CLAIMED: "C",
    LegState.PACED: "W",
    LegState.PLACED: "P",
    LegState.ENDED: "E",
}
_STATES = {code: state for state, code in LEG_STATE_CODES.items()}


def attempt_from_item(leg_id: str, record: dict[str, Any], numbers: Sequence[str]) -> Attempt:
    """The entry of leg ``leg_id`` on a call dialling ``numbers``."""
    parsed = parse_leg_id(leg_id)
    if parsed is None:
        raise ValueError(f"{leg_id!r} is no leg id")
    _, attempt, index = parsed
    n = ENTRY_NAMES
    state = _STATES[record[n["state"]]]
    placed = record.get(n["placed"])
    known = state is LegState.PLACED and PLACING_UNKNOWN not in record
    return Attempt(
        attempt=attempt,
        number_index=index,
        number=numbers[index],
        did=record.get(n["did"]),
        outcome=record.get(n["outcome"]),
        started_at=record.get(n["started_at"]),
        ended_at=record.get(n["ended_at"]),
        duration_seconds=_int(record.get(n["duration_seconds"])),
        placed=None if placed is None else bool(placed),
        reason=record.get(n["reason"]),
        state=state,
        claimed_epoch=_int(record.get(n["claimed_epoch"])) or 0,
        gateway_id=record.get(n["gateway_id"]),
        gateway_ref=record.get(n["gateway_ref"]),
        deadline_at=_int(record.get(n["deadline_at"])),
        placed_at=record.get(n["started_at"]) if known else None,
        notified=bool(record.get(n["notified"])),
    )


def attempt_to_item(attempt: Attempt) -> dict[str, Any]:
    """A leg's entry on its call (what ``<call>`` renders of it, and its state)."""
    n = ENTRY_NAMES
    record: dict[str, Any] = {
        n["did"]: attempt.did,
        n["outcome"]: attempt.outcome,
        n["started_at"]: attempt.placed_at or attempt.started_at,
        n["ended_at"]: attempt.ended_at,
        n["duration_seconds"]: attempt.duration_seconds,
        n["placed"]: attempt.placed,
        n["reason"]: attempt.reason,
        n["state"]: LEG_STATE_CODES[attempt.state],
        n["claimed_epoch"]: attempt.claimed_epoch or None,
        n["gateway_id"]: attempt.gateway_id,
        n["gateway_ref"]: attempt.gateway_ref,
        n["deadline_at"]: attempt.deadline_at,
        n["notified"]: attempt.notified or None,
    }
    return {name: value for name, value in record.items() if value is not None}


def leg_entry_values(entry: LegEntry | None) -> dict[str, Any]:
    """What records a leg (claimed, or ended) on its call: nothing without one."""
    if entry is None:
        return {}
    leg_id, record = entry
    return {entry_path(leg_id): attempt_to_item(record)}


def entry_path(leg_id: str, field: str | None = None) -> str:
    """Where leg ``leg_id``'s entry (or its ``field``, an ``Attempt`` field) is on its call,
    dotted."""
    path = f"legs.{leg_id}"
    return f"{path}.{ENTRY_NAMES[field]}" if field else path


def ending_values(ending: Ending) -> dict[str, Any]:
    """What a call's end writes beside its status."""
    values: dict[str, Any] = {"status": ending.status.value, "ended-at": _iso(ending.ended_at)}
    if ending.error_code is not None:
        values["error-code"], values["error-message"] = ending.error_code, ending.error_message
    if ending.connected_number is not None:
        values["connected-number"] = ending.connected_number
        values["duration-seconds"] = ending.duration_seconds or 0
    return values


def due_values(at: datetime, schedule: str | None) -> dict[str, Any]:
    """When a waiting call is due next, and the schedule that wakes it (None: a message)."""
    return {"due-at": _iso(at), "next-dial-at": _iso(at), "schedule": schedule}


def wait_values(wait: Wait) -> dict[str, Any]:
    """What a reschedule writes: the call's new status, times, dispatch token and schedule."""
    return {
        "status": wait.status.value,
        "start-time": wait.start_time.isoformat(),
        "dispatch-id": wait.dispatch_id,
    } | due_values(wait.due_at, wait.schedule)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
