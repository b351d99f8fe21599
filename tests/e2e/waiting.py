"""A call's view read from a running ``outdial serve``, and waiting for its end (helpers, not
tests)."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import FLOW_ID, SECURITY_ID
from tests.e2e.conftest import Served, http

HEADERS = {"x-flow-id": FLOW_ID, "x-security-id": SECURITY_ID}
ENDED = ("COMPLETED", "NOT_CONNECTED", "FAILED", "CANCELLED")


def call_of(served: Served, phonon_uuid: str) -> dict[str, Any]:
    """``GET /outbound/calls/{phonon-uuid}``'s ``call``, asserting it answered 200."""
    status, body = http("GET", f"{served.url}/outbound/calls/{phonon_uuid}", headers=HEADERS)
    assert status == 200, body
    return body["call"]  # type: ignore[no-any-return]


def wait_for_end(served: Served, phonon_uuid: str, timeout: float = 40) -> dict[str, Any]:
    """The call's view once its status is a final one; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = call_of(served, phonon_uuid)
        if view["status"] in ENDED:
            return view
        time.sleep(0.3)
    raise AssertionError(f"call {phonon_uuid} did not end: {call_of(served, phonon_uuid)}")
