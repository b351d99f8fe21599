"""Queues: DLQ redrive, encryption, TLS, visibility vs. consumers; the SQS event sources."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from infra import constants as c
from outdial.contract import WEBHOOK_MAX_AGE_SECONDS as MAX_AGE_SECONDS
from outdial.logic.delivery_policy import backoff_seconds
from tests.infra.conftest import Synthesized

CASES = {
    # queue attribute, its DLQ attribute, max receives, consumer, visibility / consumer timeout
    "dial": ("dial", "dial_dlq", c.DIAL_MAX_RECEIVES, "dialer", 2),
    "outcomes": ("outcomes", "outcomes_dlq", c.OUTCOME_MAX_RECEIVES, "dialer", 2),
    "webhooks": ("webhooks", "webhooks_dlq", c.WEBHOOK_MAX_RECEIVES, "webhooks", 6),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_queue_redrives_to_its_dlq(synthesized: Synthesized, case: str) -> None:
    # Given a work queue and its dead-letter queue
    queue_attr, dlq_attr, max_receives, consumer, factor = CASES[case]
    queues = synthesized.stack.queues
    queue = synthesized.resources[synthesized.logical_id(getattr(queues, queue_attr))]
    dlq_id = synthesized.logical_id(getattr(queues, dlq_attr))

    # Then a message moves to the DLQ after a few receives
    assert queue["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": max_receives,
    }
    # And a message stays invisible while its consumer may still run it (a multiple of its timeout)
    consumer_id = synthesized.logical_id(synthesized.stack.functions[consumer])
    timeout = synthesized.resources[consumer_id]["Properties"]["Timeout"]
    assert queue["Properties"]["VisibilityTimeout"] == factor * timeout
    # And the DLQ keeps messages for the 14 days SQS allows
    assert synthesized.resources[dlq_id]["Properties"]["MessageRetentionPeriod"] == 14 * 86400


def test_dial_poison_messages_leave_after_a_few_receives() -> None:
    assert 5 <= c.DIAL_MAX_RECEIVES <= 10


def test_webhook_redrive_outlasts_the_handlers_24_hours_of_backoff() -> None:
    # Given the handler's own backoff (it dead-letters a delivery itself after 24 h)
    receives, waited = 1, 0.0
    while waited < MAX_AGE_SECONDS:
        waited += backoff_seconds(receives, MAX_AGE_SECONDS - waited)
        receives += 1

    # Then SQS's redrive never cuts those retries short
    assert receives < c.WEBHOOK_MAX_RECEIVES


def test_every_queue_is_encrypted_and_tls_only(template: Template) -> None:
    template.resource_count_is("AWS::SQS::Queue", 6)
    template.all_resources_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})
    template.resource_count_is("AWS::SQS::QueuePolicy", 6)
    template.all_resources_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


@pytest.mark.parametrize(
    ("queue", "batch_size"), [("dial", c.DIAL_BATCH_SIZE), ("outcomes", c.OUTCOME_BATCH_SIZE)]
)
def test_dialer_event_sources_pace_and_report_failures(
    synthesized: Synthesized, queue: str, batch_size: int
) -> None:
    # Given the dial queue's event source (a dial group an invocation), or the outcome queue's
    # (ten leg outcomes an invocation) / Then its concurrency is the context's pacing knob
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {
                "Fn::GetAtt": [
                    synthesized.logical_id(getattr(synthesized.stack.queues, queue)),
                    "Arn",
                ]
            },
            "FunctionName": {"Ref": synthesized.logical_id(synthesized.stack.functions["dialer"])},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {
                "MaximumConcurrency": synthesized.stack.settings.dialer_max_concurrency
            },
            "BatchSize": batch_size,
        },
    )
    assert synthesized.stack.settings.dialer_max_concurrency >= 2


def test_webhook_event_source_reports_failures(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {
                "Fn::GetAtt": [synthesized.logical_id(synthesized.stack.queues.webhooks), "Arn"]
            },
            "FunctionName": {
                "Ref": synthesized.logical_id(synthesized.stack.functions["webhooks"])
            },
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "ScalingConfig": {"MaximumConcurrency": c.WEBHOOK_MAX_CONCURRENCY},
        },
    )


def test_only_the_consumers_have_event_sources(template: Template) -> None:
    # The dial and outcome queues feed the dialer; the webhook queue the webhook sender.
    template.resource_count_is("AWS::Lambda::EventSourceMapping", 3)
