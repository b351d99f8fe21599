"""The api Lambda: the REST routes, ``GET /health``, ``GET /openapi.json`` and ``GET /docs``."""

import time
from datetime import UTC, datetime
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from outdial.adapters.config_store import ConfigStore
from outdial.adapters.idempotency_store import IdempotencyStore
from outdial.adapters.rate_limits import FlowRateLimiter
from outdial.contract import Metric
from outdial.handlers.http import (
    JSON,
    inbound_post,
    parse_body,
    raw_body,
    register_error_handlers,
    respond,
    source_ip,
)
from outdial.handlers.openapi import openapi_document
from outdial.handlers.swagger import swagger_page
from outdial.logic.accept_calls import Outcome, Services
from outdial.logic.authorize import authorize
from outdial.logic.call_view import render_call
from outdial.logic.cancel import Cancellations
from outdial.logic.create_controls import (
    DRY_RUN_HEADER,
    IDEMPOTENCY_HEADER,
    ControlServices,
    parse_dry_run,
)
from outdial.logic.create_controls import create as create_request
from outdial.logic.dnc import DncList, require_bulk
from outdial.logic.gateway_events import GatewayEvents
from outdial.logic.queries import Queries
from outdial.logic.reschedule import Rescheduler
from outdial.logic.validation import require
from outdial.logic.webhook_replay import WebhookReplay
from outdial.models.codes import Code
from outdial.models.config import FlowView
from outdial.models.requests import (
    CreateCallsBody,
    DncBulkBody,
    PullBody,
    ReplayBody,
    RescheduleBody,
)
from outdial.observability import count, logger, metrics, tracer
from outdial.process import process_cached

app = APIGatewayRestResolver()
register_error_handlers(app)


@process_cached
def services() -> Services:
    """The adapters, made on first use (their boto3 clients on first call)."""
    return Services()


@process_cached
def idempotency_keys() -> IdempotencyStore:
    return IdempotencyStore()


def control_services() -> ControlServices:
    return ControlServices(accept=services(), keys=idempotency_keys())


@process_cached
def queries() -> Queries:
    return Queries()


@process_cached
def cancellations() -> Cancellations:
    return Cancellations(queries=queries())


@process_cached
def rescheduler() -> Rescheduler:
    return Rescheduler()


@process_cached
def webhook_replay() -> WebhookReplay:
    return WebhookReplay(queries=queries())


@process_cached
def gateway_events() -> GatewayEvents:
    return GatewayEvents()


@process_cached
def dnc_list() -> DncList:
    return DncList()


def config() -> ConfigStore:
    return services().config


def rates() -> FlowRateLimiter:
    return services().rates


@app.post("/outbound/create", summary="Schedule up to 500 outbound calls")
@tracer.capture_method(capture_response=False)
def create() -> Response[str]:
    headers = app.current_event.headers
    dry_run = parse_dry_run(headers.get(DRY_RUN_HEADER))
    raw = raw_body(app)
    body = parse_body(raw, CreateCallsBody)
    reply = create_request(
        body,
        raw,
        source_ip(app),
        datetime.now(UTC),
        control_services(),
        idempotency_key=headers.get(IDEMPOTENCY_HEADER),
        dry_run=dry_run,
    )
    if reply.counted is not None:
        _count(reply.counted)
    return respond(reply.code, reply.body, headers=reply.headers)


def _uuids_request(body: PullBody | ReplayBody) -> tuple[FlowView, list[Any]]:
    """A body naming calls by phonon-uuid, checked as the Pull API is: 1, 2, then 4-7."""
    require(
        {
            "security-id": body.security_id,
            "flow-id": body.flow_id,
            "phonon-uuids": body.phonon_uuids,
        }
    )
    assert body.security_id and body.flow_id and body.phonon_uuids is not None
    view = authorize(
        body.flow_id, body.security_id, source_ip(app), datetime.now(UTC), config(), rates()
    )
    return view, body.phonon_uuids


@app.post("/outbound/pull", summary="The calls of up to 500 phonon-uuids (the Pull API)")
@tracer.capture_method(capture_response=False)
def pull() -> Response[str]:
    body = parse_body(raw_body(app), PullBody)
    view, uuids = _uuids_request(body)
    data = queries().pull(view.flow.flow_id, uuids, body.fetch_attempt == "LAST")
    return respond(Code.SUCCESS, Code.SUCCESS.body(data=data))


@app.post("/outbound/webhooks/replay", summary="Queue the call.ended webhooks of ended calls again")
def replay_webhooks() -> Response[str]:
    view, uuids = _uuids_request(parse_body(raw_body(app), ReplayBody))
    queued = webhook_replay().replay(view.flow.flow_id, uuids)
    return respond(Code.SUCCESS, Code.SUCCESS.body(queued=queued), status=HTTPStatus.ACCEPTED)


def _header_view() -> FlowView:
    """The REST routes' authentication: ``x-flow-id`` and ``x-security-id``, then checks 4-7."""
    headers = app.current_event.headers
    flow_id, security_id = headers.get("x-flow-id"), headers.get("x-security-id")
    require({"x-flow-id": flow_id, "x-security-id": security_id})
    assert flow_id and security_id
    return authorize(flow_id, security_id, source_ip(app), datetime.now(UTC), config(), rates())


def _header_flow() -> str:
    return _header_view().flow.flow_id


@app.get("/outbound/calls/<phonon_uuid>", summary="One call's status and legs")
def get_call(phonon_uuid: str) -> Response[str]:
    call = queries().call(_header_flow(), phonon_uuid)
    return respond(Code.SUCCESS, Code.SUCCESS.body(call=call))


@app.delete("/outbound/calls/<phonon_uuid>", summary="Cancel a call that is not dialling yet")
def cancel_call(phonon_uuid: str) -> Response[str]:
    cancelled = cancellations().cancel(_header_flow(), phonon_uuid)
    return respond(Code.SUCCESS, Code.SUCCESS.body(call=render_call(cancelled)))


@app.patch("/outbound/calls/<phonon_uuid>", summary="Move a call that is not dialling yet")
def reschedule_call(phonon_uuid: str) -> Response[str]:
    view = _header_view()
    body = parse_body(raw_body(app), RescheduleBody)
    moved = rescheduler().reschedule(view, phonon_uuid, body)
    return respond(Code.SUCCESS, Code.SUCCESS.body(call=render_call(moved)))


@app.get("/outbound/requests/<request_id>", summary="A request's calls with their statuses")
def get_request(request_id: str) -> Response[str]:
    request = queries().request(_header_flow(), request_id)
    return respond(Code.SUCCESS, Code.SUCCESS.body(**request))


@app.put("/outbound/dnc/<number>", summary="Put a number on the account's do-not-call list")
def dnc_add(number: str) -> Response[str]:
    entry = dnc_list().add(_header_view(), number, datetime.now(UTC))
    return respond(Code.SUCCESS, Code.SUCCESS.body(**entry))


@app.delete("/outbound/dnc/<number>", summary="Take a number off the do-not-call list")
def dnc_remove(number: str) -> Response[str]:
    entry = dnc_list().remove(_header_view(), number)
    return respond(Code.SUCCESS, Code.SUCCESS.body(**entry))


@app.get("/outbound/dnc/<number>", summary="Whether a number is on the do-not-call list")
def dnc_lookup(number: str) -> Response[str]:
    entry = dnc_list().lookup(_header_view(), number)
    return respond(Code.SUCCESS, Code.SUCCESS.body(**entry))


@app.post("/outbound/dnc", summary="Add or remove up to 500 numbers on the do-not-call list")
def dnc_bulk() -> Response[str]:
    body = parse_body(raw_body(app), DncBulkBody)
    require_bulk(body)
    assert body.security_id and body.flow_id
    now = datetime.now(UTC)
    view = authorize(body.flow_id, body.security_id, source_ip(app), now, config())
    changed = dnc_list().bulk(view, body, now)
    return respond(Code.SUCCESS, Code.SUCCESS.body(count=changed))


@app.post("/gateway/events/<gateway_id>", summary="A gateway reports a leg's outcome")
def gateway_event(gateway_id: str) -> Response[str]:
    event = gateway_events().receive(gateway_id, inbound_post(app), int(time.time()))
    extra = {"event-id": event.event_id} if event is not None else {}
    return respond(Code.SUCCESS, Code.SUCCESS.body(**extra))


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
        metrics.add_metric(
            name=Metric.CALLS_ACCEPTED, unit=MetricUnit.Count, value=outcome.accepted
        )
    by_code: dict[int, int] = {}
    for code in outcome.rejected:
        by_code[code.code] = by_code.get(code.code, 0) + 1
    for code_number, rejected in by_code.items():
        count(Metric.CALLS_REJECTED, rejected, code=str(code_number))


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)  # responses may hold numbers
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
