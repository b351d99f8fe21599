"""A call as the API shows it: the ``<call>`` of SPEC §3 (pull, status, webhooks)."""

from __future__ import annotations

from typing import Any

from outdial.models.calls import Attempt, Call, CallStatus
from outdial.models.legs import LegRecord


def _leg_fields(leg: Attempt | LegRecord) -> dict[str, Any]:
    """What ``<call>`` shows of each dial."""
    return {
        "number": leg.number,
        "did": leg.did,
        "outcome": leg.outcome,
        "started-at": leg.started_at,
        "ended-at": leg.ended_at,
        "duration-seconds": leg.duration_seconds,
    }


def render_call(call: Call, *, last_attempt_only: bool = False) -> dict[str, Any]:
    """The ``<call>``: identity, status, numbers, and every attempt with its legs in order."""
    legs = sorted(call.legs.values(), key=lambda leg: (leg.attempt, leg.number_index))
    attempts: dict[int, list[dict[str, Any]]] = {}
    for leg in legs:
        attempts.setdefault(leg.attempt, []).append(
            _leg_fields(leg)
            # A leg the dialling policy skipped says why (SPEC §9).
            | ({"skip-reason": leg.skip_reason} if leg.outcome == "SKIPPED" else {})
        )
    rendered = [{"attempt": n, "legs": attempts[n]} for n in sorted(attempts)]
    if last_attempt_only:
        rendered = rendered[-1:]
    return {
        "phonon-uuid": call.phonon_uuid,
        "client-identifier": call.client_identifier,
        "request-id": call.request_id,
        "flow-id": call.flow_id,
        "api-version": call.api_version,
        "status": call.status.value,
        "start-time": call.start_time,
        # When the next leg is due: only while the call waits for it (SPEC §7).
        **({"next-dial-at": call.next_dial_at} if call.status is CallStatus.SCHEDULED else {}),
        "contact-numbers": list(call.contact_numbers),
        "attempts": rendered,
        "connected-number": call.connected_number,
        "duration-seconds": call.duration_seconds,
        "created-at": call.created_at,
        "ended-at": call.ended_at,
        **({"error-code": call.error_code} if call.error_code is not None else {}),
        **({"error-message": call.error_message} if call.error_message is not None else {}),
    }


def render_leg(leg: LegRecord) -> dict[str, Any]:
    """One leg as a ``leg.ended`` event shows it: its id and attempt, and the ``<call>``'s leg
    fields."""
    return {"leg-id": leg.leg_id, "attempt": leg.attempt, **_leg_fields(leg)}
