"""What each route of the OpenAPI document takes and answers: the request bodies the resolver
cannot see (our own code parses them), each route's answer and the contract codes it may carry,
the leg schema, the create headers and the ``x-flow-id``/``x-security-id`` security scheme."""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel

from outdial.models import responses
from outdial.models.codes import Code
from outdial.models.requests import (
    CreateCallsBody,
    DncBulkBody,
    PullBody,
    ReplayBody,
    RescheduleBody,
)

REQUEST_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("/outbound/create", "post"): CreateCallsBody,
    ("/outbound/pull", "post"): PullBody,
    ("/outbound/calls/{phonon_uuid}", "patch"): RescheduleBody,
    ("/outbound/webhooks/replay", "post"): ReplayBody,
    ("/outbound/dnc", "post"): DncBulkBody,
}

# The checks every authenticated route runs (SPEC §2 checks 2, 4-7), then a fault.
_AUTH = (
    Code.INVALID_MANDATORY_PARAMETERS,
    Code.INVALID_FLOW_ID,
    Code.INVALID_SECURITY_ID,
    Code.IP_NOT_WHITELISTED,
    Code.VALIDITY_EXPIRED,
    Code.TOO_MANY_REQUESTS,
)
_CREATE = (
    Code.SUCCESS,
    Code.PARTIAL_SUCCESS,
    Code.CHECKSUM_REPEATED,
    Code.INVALID_FORMAT,
    *_AUTH,
    Code.INVALID_API_VERSION,
    Code.INVALID_FLOW_VERSION,
    Code.INVALID_GATEWAY_ID,
    Code.DID_NOT_MAPPED,
    Code.NO_MASK_AVAILABLE,
    Code.EMPTY_CALL_LIST,
    Code.MAX_DATA_LIST_SIZE_EXCEEDED,
    Code.INVALID_CONTACT_NUMBER,
    Code.PHONE_NOT_WHITELISTED,
    Code.INSUFFICIENT_BALANCE,
    Code.IDEMPOTENCY_KEY_REUSED,
    Code.IDEMPOTENCY_KEY_IN_USE,
    Code.NUMBER_ON_DNC,
    Code.FREQUENCY_CAP_EXCEEDED,
)
_PULL = (
    Code.SUCCESS,
    Code.INVALID_FORMAT,
    *_AUTH,
    Code.EMPTY_CALL_LIST,
    Code.MAX_DATA_LIST_SIZE_EXCEEDED,
    Code.NO_DATA_AVAILABLE,
)
_ONE_CALL = (Code.SUCCESS, *_AUTH, Code.NO_DATA_AVAILABLE)


class Route(NamedTuple):
    """What a route answers: its shape, the codes it may carry (FAILURE is added to every
    route), whether the x-flow-id/x-security-id headers authenticate it, and the HTTP status of
    its success."""

    answer: type[BaseModel]
    codes: tuple[Code, ...]
    header_auth: bool = False
    success_status: int = 200


# (path as the resolver writes it, method) -> its Route.
ROUTES: dict[tuple[str, str], Route] = {
    ("/outbound/create", "post"): Route(responses.CreateResponse, _CREATE),
    ("/outbound/pull", "post"): Route(responses.PullResponse, _PULL),
    ("/outbound/webhooks/replay", "post"): Route(
        responses.ReplayResponse, (*_PULL[1:], Code.SUCCESS), success_status=202
    ),
    ("/outbound/calls/{phonon_uuid}", "get"): Route(responses.CallResponse, _ONE_CALL, True),
    ("/outbound/calls/{phonon_uuid}", "delete"): Route(
        responses.CallResponse, (*_ONE_CALL, Code.CANCEL_TOO_LATE), True
    ),
    ("/outbound/calls/{phonon_uuid}", "patch"): Route(
        responses.CallResponse, (*_ONE_CALL, Code.INVALID_FORMAT, Code.RESCHEDULE_TOO_LATE), True
    ),
    ("/outbound/requests/{request_id}", "get"): Route(responses.RequestResponse, _ONE_CALL, True),
    ("/gateway/events/{gateway_id}", "post"): Route(
        responses.GatewayEventResponse,
        (Code.SUCCESS, Code.INVALID_FORMAT, Code.INVALID_GATEWAY_ID, Code.INVALID_SECURITY_ID),
    ),
    ("/outbound/dnc/{number}", "put"): Route(
        responses.DncResponse, (Code.SUCCESS, *_AUTH, Code.INVALID_CONTACT_NUMBER), True
    ),
    ("/outbound/dnc/{number}", "delete"): Route(
        responses.DncResponse, (Code.SUCCESS, *_AUTH, Code.INVALID_CONTACT_NUMBER), True
    ),
    ("/outbound/dnc/{number}", "get"): Route(
        responses.DncResponse,
        (Code.SUCCESS, *_AUTH, Code.INVALID_CONTACT_NUMBER, Code.NO_DATA_AVAILABLE),
        True,
    ),
    ("/outbound/dnc", "post"): Route(
        responses.DncResponse,
        (*_PULL[:-1], Code.INVALID_CONTACT_NUMBER),
    ),
    ("/health", "get"): Route(responses.HealthResponse, (Code.SUCCESS,)),
}

# A leg of a ``<call>``'s attempts (SPEC §3, §9): what a status query, the pull API and the
# webhooks show of each dial.
LEG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "number": {"type": "string", "description": "E.164"},
        "did": {"type": ["string", "null"]},
        "outcome": {
            "type": ["string", "null"],
            "enum": ["ANSWERED", "NO_ANSWER", "BUSY", "FAILED", "SKIPPED", "UNKNOWN", None],
            "description": "null while ringing; SKIPPED: never placed (see skip-reason)",
        },
        "skip-reason": {
            "type": "string",
            "enum": ["dnc", "calling-window"],
            "description": "only on a SKIPPED leg: the number is on the account's do-not-call "
            "list, or the flow's calling-window never opens in every zone of the number",
        },
        "started-at": {"type": ["string", "null"], "format": "date-time"},
        "ended-at": {"type": ["string", "null"], "format": "date-time"},
        "duration-seconds": {"type": ["integer", "null"]},
    },
}

# Request headers of POST /outbound/create beside its body.
CREATE_HEADERS = [
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "1-255 printable ASCII: the same key and body within 24 h get the first "
        "answer again (Idempotent-Replayed: true); another body 603, still processing 607",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    },
    {
        "name": "Outdial-Dry-Run",
        "in": "header",
        "required": False,
        "description": "true: every check runs, nothing is written; ids are null",
        "schema": {"type": "string", "enum": ["true", "false"]},
    },
]

SECURITY_SCHEMES = {
    "flowId": {
        "type": "apiKey",
        "in": "header",
        "name": "x-flow-id",
        "description": "The flow's id (8 letters or digits)",
    },
    "securityId": {
        "type": "apiKey",
        "in": "header",
        "name": "x-security-id",
        "description": "The flow's secret",
    },
}
HEADER_AUTH: list[dict[str, list[str]]] = [{"flowId": [], "securityId": []}]
