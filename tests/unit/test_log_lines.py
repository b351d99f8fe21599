"""Log lines: what CloudWatch Logs ingests for each event, without what every line repeats."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from outdial.local.apigateway import LambdaContext
from outdial.observability import logger


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(out)  # type: ignore[attr-defined]
    yield out
    handler.setStream(previous)  # type: ignore[attr-defined]


def _logged(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_keeps_what_tells_events_apart_and_drops_what_repeats(lines: io.StringIO) -> None:
    # Given a handler invoked with its Lambda context, logging an event with its own keys
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> None:
        logger.info("leg placed", to="+9198*****0")

    handler({}, LambdaContext(function_name="outdial-dialer"))
    handler({}, LambdaContext(function_name="outdial-dialer"))
    # Then each line has its level, message, time, request id and own keys
    first, second = _logged(lines)
    for line in (first, second):
        assert line["level"] == "INFO" and line["message"] == "leg placed"
        assert line["to"] == "+9198*****0" and line["timestamp"] and line["function_request_id"]
        # and none of what the log group already says
        assert not {"function_name", "function_arn", "function_memory_size", "service"} & set(line)
        assert "location" not in line
    # And a warm invocation's line does not say it is not cold
    assert "cold_start" not in second


def test_the_message_id_is_kept_for_warnings_only(lines: io.StringIO) -> None:
    # Given a dialer invocation with its SQS message's id in the logger's keys
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> None:
        logger.thread_safe_append_keys(message_id="m-1")
        logger.info("leg placed")
        logger.warning("leg placement unknown")
        logger.thread_safe_clear_keys()

    handler({}, LambdaContext(function_name="outdial-dialer"))
    # Then the INFO line names its invocation only, the warning also the message
    placed, unknown = _logged(lines)
    assert "message_id" not in placed and placed["function_request_id"]
    assert unknown["message_id"] == "m-1"
