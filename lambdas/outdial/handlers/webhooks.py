"""The webhooks Lambda, fed by the SQS webhook queue: one signed delivery per terminal call.

Delivery is at least once (SPEC §4); what follows an attempt is decided in
``logic/delivery_policy.py``. A message the receiver could not take now (timeout, 5xx, 408/429)
is reported as a batch item failure after its visibility is stretched to an exponential backoff,
so SQS itself brings it back later. A message the receiver will never take (other 4xx), or one
still failing 24 h after it was sent, is moved to the webhook DLQ here and reported as done: the
queue's own redrive policy is only the safety net for messages this handler keeps
crashing on. It is a queue and a function of its own, so a slow receiver never slows dialling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from outdial.adapters.errors import AdapterError
from outdial.adapters.webhook_client import DELIVERY_DEADLINE_SECONDS
from outdial.adapters.webhook_queue import WebhookMessage, WebhookQueue
from outdial.batching import ConcurrentBatchProcessor
from outdial.contract import WEBHOOK_BATCH_SIZE, Metric
from outdial.logic.delivery_policy import DeadLetter, Done, next_step
from outdial.logic.notify import Notified, NotifyServices, notify
from outdial.observability import count, logger, metrics, metrics_batch, tracer
from outdial.process import process_cached

# Worst case of one message: two deliveries (the second after a security-id rotation), each
# cut off at its wall-clock limit, plus DynamoDB reads. With less than this left, an attempt
# could be cut off by the Lambda timeout, which would fail the whole batch; leaving the record
# for its next receive is cheaper.
DELIVERY_BUDGET_MS = int(2 * DELIVERY_DEADLINE_SECONDS * 1000) + 2_000


class Postponed(Exception):
    """A delivery to try again after the backoff (reported as a batch item failure)."""


class OutOfTime(Exception):
    """Too little of the invocation left to try a delivery (reported as a batch item failure)."""


@dataclass
class WebhookServices:
    """The adapters this handler uses."""

    notify: NotifyServices = field(default_factory=NotifyServices)
    queue: WebhookQueue = field(default_factory=WebhookQueue)
    clock: Callable[[], float] = time.time


@process_cached
def services() -> WebhookServices:
    """The adapters, made on first use (their boto3 clients on first call)."""
    return WebhookServices()


def _failure(reason: str) -> None:
    count(Metric.WEBHOOK_FAILURES, reason=reason)


def _delivered() -> None:
    count(Metric.WEBHOOK_DELIVERIES)


def _dead_letter(record: SQSRecord, reason: str, receive_count: int, sent_ms: int) -> None:
    services().queue.dead_letter(
        record.body, reason=reason, receive_count=receive_count, sent_timestamp_ms=sent_ms
    )
    logger.warning("webhook moved to the DLQ", reason=reason, receive_count=receive_count)
    _failure(reason)


def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    """Handle one webhook message; raising reports it as a batch item failure."""
    if lambda_context is not None and (
        lambda_context.get_remaining_time_in_millis() < DELIVERY_BUDGET_MS
    ):
        raise OutOfTime(record.message_id)
    receive_count = int(record.attributes.approximate_receive_count)
    sent_ms = int(record.attributes.sent_timestamp)
    try:
        message = WebhookMessage.parse(record.body)
    except ValueError as exc:
        logger.error("webhook message malformed", error=str(exc), message_id=record.message_id)
        _dead_letter(record, "rejected", receive_count, sent_ms)
        return
    keys = {"phonon-uuid": message.phonon_uuid, "event-id": message.event_id}
    logger.thread_safe_append_keys(**keys)
    try:
        _handle(record, message, receive_count, sent_ms)
    finally:
        logger.thread_safe_remove_keys(keys)


def _handle(record: SQSRecord, message: WebhookMessage, receive_count: int, sent_ms: int) -> None:
    current = services()
    try:
        outcome = notify(message, current.notify)
    except AdapterError as exc:
        logger.warning("webhook not attempted", error=str(exc))
        outcome = Notified.RETRY
    step = next_step(outcome, receive_count, current.clock() - sent_ms / 1000)
    if isinstance(step, Done):
        if step.delivered:
            _delivered()
        return
    if isinstance(step, DeadLetter):
        _dead_letter(record, step.reason, receive_count, sent_ms)
        return
    delay = step.seconds
    try:
        current.queue.postpone(record.receipt_handle, delay)
    except AdapterError as exc:
        # It still comes back, after the queue's own visibility timeout instead.
        logger.warning("webhook backoff not applied", error=str(exc))
    logger.info("webhook postponed", receive_count=receive_count, retry_in_seconds=delay)
    _failure("retry" if outcome is Notified.RETRY else "deferred")
    raise Postponed(message.event_id)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)  # responses may hold numbers
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Deliver each message's webhook; report the ones to try again as batch item failures."""
    # A processor per invocation: it holds the batch's results, and the local runtime runs
    # several invocations of this handler at once. A batch that fails whole (a receiver down) is
    # an expected outcome here, not a function error. The batch's deliveries wait on their
    # receivers together.
    processor = ConcurrentBatchProcessor(
        event_type=EventType.SQS,
        raise_on_entire_batch_failure=False,
        concurrency=WEBHOOK_BATCH_SIZE,
    )
    with metrics_batch():  # the batch's deliveries counted in one line
        return dict(
            process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
        )
