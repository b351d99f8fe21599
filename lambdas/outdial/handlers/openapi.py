"""The OpenAPI document served at ``GET /openapi.json``.

Bodies are parsed by our own code (so the contract's check order holds), which means the resolver
cannot see their models; they are added to its generated document here.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import BaseModel

from outdial.models.codes import Code
from outdial.models.config import ConfigFile
from outdial.models.requests import (
    CallBody,
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

_AUTH_HEADERS = [
    {"name": "x-flow-id", "in": "header", "required": True, "schema": {"type": "string"}},
    {"name": "x-security-id", "in": "header", "required": True, "schema": {"type": "string"}},
]

# Headers the resolver cannot see (our code reads them), and what each operation adds to the
# contract's codes.
HEADERS: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("/outbound/create", "post"): [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "1-255 printable ASCII characters, per flow. The first answer that is "
            "not a 5xx is kept 24 h and replayed (response header Idempotent-Replayed: true) to "
            "the same body; another body gets 603, a request while the first is still being "
            "processed 607.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        },
        {
            "name": "Outdial-Dry-Run",
            "in": "header",
            "required": False,
            "description": "true: run every check and answer as the real request would, with "
            "null request-id and phonon-uuids; nothing is written, reserved or scheduled "
            "(response header Outdial-Dry-Run: true). Anything but true/false is 400.",
            "schema": {"type": "string", "enum": ["true", "false"]},
        },
    ],
    ("/outbound/calls/{phonon_uuid}", "patch"): _AUTH_HEADERS,
    ("/outbound/calls/{phonon_uuid}", "get"): _AUTH_HEADERS,
    ("/outbound/calls/{phonon_uuid}", "delete"): _AUTH_HEADERS,
    ("/outbound/requests/{request_id}", "get"): _AUTH_HEADERS,
}

DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("/outbound/calls/{phonon_uuid}", "patch"): "Moves a SCHEDULED or QUEUED call to the body's "
    "start-time (rules of a call's start-time on create): 200 with the call. A call dialling or "
    "ended: 606 (HTTP 409) with the call; a bad start-time: 400; missing: 210.",
    ("/outbound/webhooks/replay", "post"): "Queues the call.ended webhook of each ended call "
    "again, with its original event-id: HTTP 202, api-response-code 200, queued: n. None ended: "
    "213. Body checked like the Pull API (at most 500 phonon-uuids, else 303).",
}

_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["api-response-code", "api-response-message"],
    "properties": {
        "api-response-code": {"type": "integer", "enum": sorted({c.code for c in Code})},
        "api-response-message": {"type": "string"},
    },
    "additionalProperties": True,
}


# A leg of a ``<call>``'s attempts (SPEC §3, §9): what a status query, the pull API and the
# webhooks show of each dial.
_LEG_SCHEMA: dict[str, Any] = {
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


def openapi_document(app: APIGatewayRestResolver) -> str:
    schema = json.loads(app.get_openapi_json_schema(title="outdial", version="1.0"))
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["CallBody"] = CallBody.model_json_schema(by_alias=True)
    components["ApiResponse"] = _RESPONSE_SCHEMA
    components["Leg"] = _LEG_SCHEMA
    # The configuration file of SPEC §5 and §9 (accounts, flows, gateways), for reference: its
    # keys decide what the routes do (calling-window, retry-on, max-calls-per-number-per-day...).
    config = ConfigFile.model_json_schema(
        by_alias=True, ref_template="#/components/schemas/{model}"
    )
    components.update(config.pop("$defs", {}))
    components["ConfigFile"] = config
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            parameters = [*operation.get("parameters", []), *HEADERS.get((path, method), [])]
            if parameters:
                operation["parameters"] = parameters
            if (path, method) in DESCRIPTIONS:
                operation["description"] = DESCRIPTIONS[(path, method)]
            model = REQUEST_BODIES.get((path, method))
            if model is not None:
                components[model.__name__] = model.model_json_schema(by_alias=True)
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                        }
                    },
                }
            operation["responses"] = {
                "default": {
                    "description": "Every answer carries api-response-code and its message",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ApiResponse"}}
                    },
                }
            }
    return json.dumps(schema)
