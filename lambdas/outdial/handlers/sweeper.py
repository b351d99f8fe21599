"""The sweeper Lambda: every minute, settles the requests an api invocation left half-done."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from outdial.logic.accept_calls import Services
from outdial.logic.sweep import SweepIncomplete, sweep
from outdial.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)  # responses may hold numbers
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """Runs on a schedule; the event carries nothing it needs. Answers what it did, by action,
    and fails (so the function's error alarm fires) if any request could not be settled."""
    report = sweep(datetime.now(UTC), Services())
    if report.actions["failed"]:
        raise SweepIncomplete(dict(report.actions))
    return dict(report.actions)
