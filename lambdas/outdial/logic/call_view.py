"""A stored call as the API shows it: the ``<call>`` of SPEC §3 (pull, status, webhooks)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

LEG_FIELDS = ("number", "did", "outcome", "started-at", "ended-at", "duration-seconds")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def render_call(item: dict[str, Any], *, last_attempt_only: bool = False) -> dict[str, Any]:
    """The ``<call>``: identity, status, numbers, and every attempt with its legs in order."""
    legs = sorted(
        (item.get("legs") or {}).values(),
        key=lambda leg: (int(leg["attempt"]), int(leg["number-index"])),
    )
    attempts: dict[int, list[dict[str, Any]]] = {}
    for leg in legs:
        attempts.setdefault(int(leg["attempt"]), []).append(
            {name: _plain(leg.get(name)) for name in LEG_FIELDS}
            # A leg the dialling policy skipped says why (SPEC §9).
            | ({"skip-reason": leg.get("skip-reason")} if leg.get("outcome") == "SKIPPED" else {})
        )
    rendered = [{"attempt": n, "legs": attempts[n]} for n in sorted(attempts)]
    if last_attempt_only:
        rendered = rendered[-1:]
    return {
        "phonon-uuid": item["phonon-uuid"],
        "client-identifier": item["client-identifier"],
        "request-id": item["request-id"],
        "flow-id": item["flow-id"],
        "api-version": item["api-version"],
        "status": item["status"],
        "start-time": item["start-time"],
        # When the next leg is due: only while the call waits for it (SPEC §7).
        **(
            {"next-dial-at": item.get("next-dial-at") or item.get("due-at")}
            if item["status"] == "SCHEDULED"
            else {}
        ),
        "contact-numbers": list(item["contact-numbers"]),
        "attempts": rendered,
        "connected-number": item.get("connected-number"),
        "duration-seconds": _plain(item.get("duration-seconds")),
        "created-at": item.get("created-at"),
        "ended-at": item.get("ended-at"),
        **{k: _plain(item[k]) for k in ("error-code", "error-message") if item.get(k) is not None},
    }


def render_leg(leg: dict[str, Any]) -> dict[str, Any]:
    """One leg as a ``leg.ended`` event shows it: its id and attempt, and the ``<call>``'s leg
    fields."""
    return {
        "leg-id": leg.get("leg-id"),
        "attempt": _plain(leg.get("attempt")),
        **{name: _plain(leg.get(name)) for name in LEG_FIELDS},
    }
