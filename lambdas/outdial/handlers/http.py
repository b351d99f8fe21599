"""The HTTP edge shared by REST routes: body parsing, responses, and the one place errors map."""

from __future__ import annotations

import base64
import json
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from pydantic import BaseModel, ValidationError

from outdial.adapters.gateways import Callback
from outdial.logic.validation import check_body_size
from outdial.models import safe_json
from outdial.models.codes import Code, ContractError
from outdial.observability import logger

Body = TypeVar("Body", bound=BaseModel)
JSON = "application/json"


# A throttled client may try again in the next second (flow budgets are per second).
RETRY_AFTER = {Code.TOO_MANY_REQUESTS: "1"}


def respond(
    code: Code,
    body: dict[str, Any] | None = None,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response[str]:
    """A contract response: the body already carries ``api-response-code`` and its message.
    The HTTP status is the code's own unless ``status`` says otherwise (202 for queued work)."""
    retry_after = RETRY_AFTER.get(code)
    if retry_after:
        headers = {"Retry-After": retry_after, **(headers or {})}
    return Response(
        status_code=status or code.http,
        content_type=JSON,
        body=json.dumps(body if body is not None else code.body(), separators=(",", ":")),
        headers=headers or None,
    )


def raw_body(app: APIGatewayRestResolver) -> bytes:
    """The request body exactly as the client sent it (the checksum is over these bytes)."""
    event = app.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body)
        except ValueError:
            raise ContractError(Code.INVALID_FORMAT, "body is not valid base64") from None
    return body.encode()


def inbound_post(app: APIGatewayRestResolver) -> Callback:
    """A post as a gateway sent it: decoded query, headers (lowercase names), raw body."""
    event = app.current_event
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    query = event.multi_value_query_string_parameters or {}
    return Callback(
        query={name: list(values) for name, values in query.items()},
        headers=headers,
        body=raw_body(app),
        content_type=headers.get("content-type", ""),
    )


def parse_body(raw: bytes, model: type[Body]) -> Body:
    """Check 1: the body is a JSON object of at most 1 MiB whose top-level fields have the right
    JSON types. Whatever the Content-Type says, the body is read as JSON, as the vendor does."""
    check_body_size(raw)
    try:
        data = safe_json.loads(raw)
    except safe_json.UnsafeJson as error:
        raise ContractError(Code.INVALID_FORMAT, f"body: {error}") from None
    if not isinstance(data, dict):
        raise ContractError(Code.INVALID_FORMAT, "body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(str(error["loc"][0]) for error in exc.errors() if error["loc"])
        raise ContractError(Code.INVALID_FORMAT, f"wrong JSON type for: {fields}") from None


def source_ip(app: APIGatewayRestResolver) -> str:
    return app.current_event.request_context.identity.source_ip or ""


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    """Every failure becomes a contract response here and nowhere else."""

    @app.exception_handler(ContractError)
    def _contract(error: ContractError) -> Response[str]:
        logger.info("request refused", code=error.code.code, detail=error.detail)
        return respond(error.code, error.body())

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[str]:
        return respond(Code.NOT_FOUND)

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        logger.exception("unexpected fault")
        return respond(Code.FAILURE)
