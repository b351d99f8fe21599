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
