"""The OpenAPI document served at ``GET /openapi.json``, and the Swagger UI page at ``GET /docs``.

Bodies are parsed by our own code (so the contract's check order holds), which means the resolver
cannot see their models; they are added to its generated document here, with each route's
answers by HTTP status (the contract codes each can carry), the ``x-flow-id``/``x-security-id``
headers as a security scheme, and the server the document was fetched from.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from pydantic import BaseModel

from outdial.models import responses
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
_HEADER_AUTH: list[dict[str, list[str]]] = [{"flowId": [], "securityId": []}]
_DOCUMENT_RESPONSE = {
    "200": {
        "description": "This document (OpenAPI 3.1)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def _responses(route: Route) -> dict[str, Any]:
    """One OpenAPI response per HTTP status, listing the contract codes that travel with it."""
    model = route.answer
    by_status: dict[int, list[Code]] = {}
    for code in (*route.codes, Code.FAILURE):
        status = route.success_status if code is Code.SUCCESS else code.http
        by_status.setdefault(status, []).append(code)
    answers: dict[str, Any] = {}
    for status, group in sorted(by_status.items()):
        answers[str(status)] = {
            "description": ", ".join(f"{c.code} {c.name} ({c.message})" for c in group),
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [
                            {"$ref": f"#/components/schemas/{model.__name__}"},
                            {
                                "type": "object",
                                "properties": {
                                    "api-response-code": {"enum": [c.code for c in group]}
                                },
                            },
                        ]
                    }
                }
            },
        }
    return answers


def openapi_document(app: APIGatewayRestResolver, server_url: str = "/") -> str:
    """The document, its ``servers`` naming ``server_url`` (where it was fetched from)."""
    schema = json.loads(app.get_openapi_json_schema(title="outdial", version="1.0"))
    schema["info"]["description"] = (
        "Outbound-call API: schedule calls, follow them, cancel them. Every answer carries "
        "api-response-code and api-response-message."
    )
    schema["servers"] = [{"url": server_url, "description": "this deployment"}]
    components = schema.setdefault("components", {})
    found = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        found.pop(unused, None)  # the resolver's own 422, which this API never answers
    found["CallBody"] = CallBody.model_json_schema(by_alias=True)
    found.update(
        responses.schemas([responses.ApiResponse, *(route.answer for route in ROUTES.values())])
    )
    found["ApiResponse"]["properties"]["api-response-code"]["enum"] = sorted(c.code for c in Code)
    found["Leg"] = _LEG_SCHEMA
    # The configuration file of SPEC §5 and §9 (accounts, flows, gateways), for reference: its
    # keys decide what the routes do (calling-window, retry-on, max-calls-per-number-per-day...).
    config = ConfigFile.model_json_schema(
        by_alias=True, ref_template="#/components/schemas/{model}"
    )
    found.update(config.pop("$defs", {}))
    found["ConfigFile"] = config
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            model = REQUEST_BODIES.get((path, method))
            if model is not None:
                found[model.__name__] = model.model_json_schema(by_alias=True)
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                        }
                    },
                }
            if (path, method) == ("/openapi.json", "get"):
                operation["responses"] = _DOCUMENT_RESPONSE
                continue
            route = ROUTES.get((path, method), Route(responses.ApiResponse, (Code.SUCCESS,)))
            operation["responses"] = _responses(route)
            if route.header_auth:
                operation["security"] = _HEADER_AUTH
            if (path, method) == ("/outbound/create", "post"):
                operation["parameters"] = [*operation.get("parameters", []), *CREATE_HEADERS]
    return json.dumps(schema)


@cache
def _swagger_assets() -> tuple[str, str]:
    """Swagger UI's script and style, as Powertools ships them (no CDN: the page works offline)."""
    package = resources.files("aws_lambda_powertools.event_handler.openapi.swagger_ui")
    return (
        (package / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (package / "swagger-ui.min.css").read_text(encoding="utf-8"),
    )


def swagger_page(document_url: str = "openapi.json") -> str:
    """A Swagger UI page that loads the document from ``document_url`` (relative to the page, so
    it works under an API Gateway stage path too)."""
    script, style = _swagger_assets()
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>outdial API</title>
  <style>{style}</style>
</head>
<body>
  <div id="swagger-ui">Loading…</div>
  <script>{script}</script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: new URL({json.dumps(document_url)}, window.location.href).href,
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
      layout: "BaseLayout"
    }});
  </script>
</body>
</html>
"""
