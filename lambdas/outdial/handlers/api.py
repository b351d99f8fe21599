"""The api Lambda: the REST routes, ``GET /health``, ``GET /openapi.json`` and ``GET /docs``."""

import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from outdial.adapters.config_store import ConfigStore
from outdial.handlers.http import (
    JSON,
    parse_body,
    raw_body,
    register_error_handlers,
    respond,
    source_ip,
)
from outdial.handlers.openapi import openapi_document, swagger_page
from outdial.logic.accept_calls import Outcome, Services, create_calls
from outdial.logic.authorize import authorize
from outdial.logic.call_view import render_call
from outdial.logic.gateway_events import GatewayEvents
from outdial.logic.queries import Queries
from outdial.logic.validation import require
from outdial.models.codes import Code, ContractError
from outdial.models.requests import CreateCallsBody, PullBody
from outdial.observability import count, logger, metrics, tracer
from outdial.signatures import GATEWAY_SIGNATURE_HEADER

app = APIGatewayRestResolver()
register_error_handlers(app)


@lru_cache(maxsize=1)
def services() -> Services:
    """The adapters, made on first use (their boto3 clients on first call)."""
    return Services()


@lru_cache(maxsize=1)
def queries() -> Queries:
    return Queries()


@lru_cache(maxsize=1)
def gateway_events() -> GatewayEvents:
    return GatewayEvents()


def config() -> ConfigStore:
    return services().config


@app.post("/outbound/create", summary="Schedule up to 500 outbound calls")
@tracer.capture_method
def create() -> Response[str]:
    raw = raw_body(app)
    body = parse_body(raw, CreateCallsBody)
    try:
        outcome = create_calls(body, raw, source_ip(app), datetime.now(UTC), services())
    except ContractError as error:
        calls = body.calls if isinstance(body.calls, list) else []
        _count(Outcome(error.code, {}, rejected=(error.code,) * max(len(calls), 1)))
        raise
    _count(outcome)
    return respond(outcome.code, outcome.body)


@app.post("/outbound/pull", summary="The calls of up to 500 phonon-uuids (the Pull API)")
@tracer.capture_method
def pull() -> Response[str]:
    body = parse_body(raw_body(app), PullBody)
    require(
        {
            "security-id": body.security_id,
            "flow-id": body.flow_id,
            "phonon-uuids": body.phonon_uuids,
        }
    )
    assert body.security_id and body.flow_id and body.phonon_uuids is not None
    view = authorize(body.flow_id, body.security_id, source_ip(app), datetime.now(UTC), config())
    data = queries().pull(view.flow.flow_id, body.phonon_uuids, body.fetch_attempt == "LAST")
    return respond(Code.SUCCESS, Code.SUCCESS.body(data=data))


def _header_flow() -> str:
    """The REST routes' authentication: ``x-flow-id`` and ``x-security-id``, then checks 4-7."""
    headers = app.current_event.headers
    flow_id, security_id = headers.get("x-flow-id"), headers.get("x-security-id")
    require({"x-flow-id": flow_id, "x-security-id": security_id})
    assert flow_id and security_id
    view = authorize(flow_id, security_id, source_ip(app), datetime.now(UTC), config())
    return view.flow.flow_id


@app.get("/outbound/calls/<phonon_uuid>", summary="One call's status and legs")
def get_call(phonon_uuid: str) -> Response[str]:
    call = queries().call(_header_flow(), phonon_uuid)
    return respond(Code.SUCCESS, Code.SUCCESS.body(call=call))


@app.delete("/outbound/calls/<phonon_uuid>", summary="Cancel a call that is not dialling yet")
def cancel_call(phonon_uuid: str) -> Response[str]:
    cancelled = queries().cancel(_header_flow(), phonon_uuid)
    return respond(Code.SUCCESS, Code.SUCCESS.body(call=render_call(cancelled)))


@app.get("/outbound/requests/<request_id>", summary="A request's calls with their statuses")
def get_request(request_id: str) -> Response[str]:
    request = queries().request(_header_flow(), request_id)
    return respond(Code.SUCCESS, Code.SUCCESS.body(**request))


@app.post("/gateway/events/<gateway_id>", summary="A gateway reports a leg's outcome")
def gateway_event(gateway_id: str) -> Response[str]:
    raw = raw_body(app)
    signature = app.current_event.headers.get(GATEWAY_SIGNATURE_HEADER)
    event = gateway_events().receive(gateway_id, raw, signature, int(time.time()))
    return respond(Code.SUCCESS, Code.SUCCESS.body(**{"event-id": event.event_id}))


@app.get("/health", summary="Liveness")
def health() -> Response[str]:
    return respond(Code.SUCCESS, Code.SUCCESS.body(status="ok"))


@app.get("/openapi.json", summary="This API's OpenAPI document")
def openapi() -> Response[str]:
    return Response(200, JSON, _openapi_json(_server_url()))


@app.get("/docs", include_in_schema=False)
def docs() -> Response[str]:
    """Swagger UI over ``/openapi.json``."""
    return Response(200, "text/html; charset=utf-8", swagger_page())


def _server_url() -> str:
    """Where this request reached the API: its host, plus the stage when the URL carries one
    (an execute-api domain does; a custom domain and `outdial serve` do not)."""
    event = app.current_event
    headers = event.headers
    stage = event.request_context.stage
    prefix = f"/{stage}" if stage and event.request_context.path.startswith(f"/{stage}/") else ""
    host = headers.get("Host") or headers.get("host")
    if not host:
        return prefix or "/"
    scheme = headers.get("X-Forwarded-Proto") or headers.get("x-forwarded-proto") or "http"
    return f"{scheme}://{host}{prefix}"


@lru_cache(maxsize=8)
def _openapi_json(server_url: str) -> str:
    return openapi_document(app, server_url)


def _count(outcome: Outcome) -> None:
    if outcome.accepted:
        metrics.add_metric(name="CallsAccepted", unit=MetricUnit.Count, value=outcome.accepted)
    by_code: dict[int, int] = {}
    for code in outcome.rejected:
        by_code[code.code] = by_code.get(code.code, 0) + 1
    for code_number, rejected in by_code.items():
        count("CallsRejected", rejected, code=str(code_number))


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
