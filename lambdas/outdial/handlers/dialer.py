"""The dialer Lambda: consumes the dial queue (one dial group per invocation) and the outcome
queue (up to ten leg outcomes per invocation, applied together), reporting each failed message
on its own."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from outdial.batching import ConcurrentBatchProcessor
from outdial.contract import OUTCOME_BATCH_SIZE
from outdial.logic.dial import Dialer
from outdial.observability import logger, metrics, tracer
from outdial.process import process_cached


@process_cached
def dialer() -> Dialer:
    return Dialer()


def handle_record(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    logger.thread_safe_append_keys(message_id=record.message_id)
    remaining = (
        lambda_context.get_remaining_time_in_millis() / 1000 if lambda_context is not None else None
    )
    dialer().handle(json.loads(record.body), remaining)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)  # responses may hold numbers
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # A processor per invocation: `outdial serve` runs several invocations at once in threads.
    # A dial-queue invocation holds one record; an outcome-queue one up to ten, applied together
    # (each mostly waits on DynamoDB), each failure reported on its own.
    processor = ConcurrentBatchProcessor(event_type=EventType.SQS, concurrency=OUTCOME_BATCH_SIZE)
    return process_partial_response(
        event=event, record_handler=handle_record, processor=processor, context=context
    )
