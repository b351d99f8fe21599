"""The OpenAPI document served at ``GET /openapi.json`` (the Swagger UI page is ``swagger.py``).

Bodies are parsed by our own code (so the contract's check order holds), which means the resolver
cannot see their models; they are added to its generated document here, with each route's
answers by HTTP status (the contract codes each can carry), the ``x-flow-id``/``x-security-id``
headers as a security scheme, and the server the document was fetched from.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from outdial.handlers.openapi_routes import (
    CREATE_HEADERS,
    HEADER_AUTH,
    LEG_SCHEMA,
    REQUEST_BODIES,
    ROUTES,
    SECURITY_SCHEMES,
    Route,
)
from outdial.models import responses
from outdial.models.codes import Code
from outdial.models.config import ConfigFile
from outdial.models.requests import CallBody

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
    found["Leg"] = LEG_SCHEMA
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
                operation["security"] = HEADER_AUTH
            if (path, method) == ("/outbound/create", "post"):
                operation["parameters"] = [*operation.get("parameters", []), *CREATE_HEADERS]
    return json.dumps(schema)
