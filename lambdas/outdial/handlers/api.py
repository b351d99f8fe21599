"""The api Lambda: ``POST /outbound/create``, ``GET /health``, ``GET /openapi.json``."""

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from outdial.handlers.http import (
    JSON,
    parse_body,
    raw_body,
    register_error_handlers,
    respond,
    source_ip,
)
from outdial.handlers.openapi import openapi_document
from outdial.logic.accept_calls import Outcome, Services, create_calls
from outdial.models.codes import Code, ContractError
from outdial.models.requests import CreateCallsBody
from outdial.observability import SERVICE, logger, metrics, tracer

app = APIGatewayRestResolver()
register_error_handlers(app)


@lru_cache(maxsize=1)
def services() -> Services:
    """The adapters, made on first use (their boto3 clients on first call)."""
    return Services()


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


@app.get("/health", summary="Liveness")
def health() -> Response[str]:
    return respond(Code.SUCCESS, Code.SUCCESS.body(status="ok"))


@app.get("/openapi.json", summary="This API's OpenAPI document")
def openapi() -> Response[str]:
    return Response(200, JSON, _openapi_json())


@lru_cache(maxsize=1)
def _openapi_json() -> str:
    return openapi_document(app)


def _count(outcome: Outcome) -> None:
    if outcome.accepted:
        metrics.add_metric(name="CallsAccepted", unit=MetricUnit.Count, value=outcome.accepted)
    by_code: dict[int, int] = {}
    for code in outcome.rejected:
        by_code[code.code] = by_code.get(code.code, 0) + 1
    for code_number, count in by_code.items():
        with single_metric(
            name="CallsRejected", unit=MetricUnit.Count, value=count, namespace=SERVICE
        ) as metric:
            metric.add_dimension(name="code", value=str(code_number))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
