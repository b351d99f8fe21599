"""The flow a bulk command speaks for: its security-id (from ``$OUTDIAL_SECURITY_ID``, never
from a flag: flags end up in shell histories and process lists), and what the API's refusal of
a request means for the rest of the run."""

from __future__ import annotations

import os
import re
from typing import Any

from outdial.cli.errors import UsageError
from outdial.contract import FLOW_ID_PATTERN

SECURITY_ID_ENV = "OUTDIAL_SECURITY_ID"
# Request-level answers that every later batch would get too: stop sending.
FATAL_CODES = frozenset({202, 203, 204, 207, 208, 211, 301, 304, 401, 603})


def credentials(flow: str) -> str:
    """The security-id for ``flow`` from the environment; UsageError when either is unusable."""
    if not re.match(FLOW_ID_PATTERN, flow):
        raise UsageError(f"--flow {flow!r} is not a flow-id (8 letters or digits)")
    security_id = os.environ.get(SECURITY_ID_ENV, "").strip()
    if not security_id:
        raise UsageError(f"set {SECURITY_ID_ENV} to the flow's security-id")
    return security_id


def fatal_hint(code: int | None) -> str:
    """What to check when the API refused a request with ``code``."""
    return {
        202: f"check {SECURITY_ID_ENV}: it is the flow's security-id",
        301: "check --flow and --url: this API has no such flow",
        401: "this machine's public IP is not in the account's ip-whitelist",
        211: "the account or flow is past its valid-until",
        304: "the flow is not published for this --api-version",
    }.get(code or 0, "see the message; nothing more was sent")


def message_of(body: dict[str, Any]) -> str:
    """An answer's message and detail, for a person."""
    parts = [str(body.get(k)) for k in ("api-response-message", "error-detail") if body.get(k)]
    return ": ".join(parts) or "no message"
