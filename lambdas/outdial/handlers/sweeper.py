"""The sweeper Lambda: every minute, settles the requests an api invocation left half-done and
brings forward the calls whose current leg is overdue (SPEC §11)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from outdial.logic.accept_calls import Services
from outdial.logic.dial import Dialer
from outdial.logic.reconcile import reconcile
from outdial.logic.sweep import SweepIncomplete, sweep
from outdial.observability import logger, metrics, tracer


@lru_cache(maxsize=1)
def dialer() -> Dialer:
    return Dialer()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)  # responses may hold numbers
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """Runs on a schedule; the event carries nothing it needs. Answers what it did, by action,
    and fails (so the function's error alarm fires) if anything could not be settled."""
    now = datetime.now(UTC)
    report = sweep(now, Services())
    reconciled = reconcile(now, dialer())
    actions = dict(report.actions) | {f"calls-{k}": v for k, v in reconciled.items()}
    if report.actions["failed"] or reconciled["failed"]:
        raise SweepIncomplete(actions)
    return actions
