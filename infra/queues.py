"""Queues: the dial queue, the outcome queue and the webhook queue, each with its dead-letter
queue."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import constants as c


class Queues(Construct):
    """SSE-SQS encrypted, TLS-only queues whose visibility timeouts follow their consumers."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dial_consumer_timeout: Duration,
        webhook_consumer_timeout: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dial_dlq, self.dial = self._with_dlq(
            "Dial", _times(dial_consumer_timeout, c.DIAL_VISIBILITY_FACTOR), c.DIAL_MAX_RECEIVES
        )
        # Leg outcomes, read by the same dialer (its timeout, hence the same visibility).
        self.outcomes_dlq, self.outcomes = self._with_dlq(
            "Outcomes",
            _times(dial_consumer_timeout, c.DIAL_VISIBILITY_FACTOR),
            c.OUTCOME_MAX_RECEIVES,
        )
        self.webhooks_dlq, self.webhooks = self._with_dlq(
            "Webhooks",
            _times(webhook_consumer_timeout, c.WEBHOOK_VISIBILITY_FACTOR),
            c.WEBHOOK_MAX_RECEIVES,
        )

    @property
    def dead_letter_queues(self) -> dict[str, sqs.Queue]:
        return {
            "Dial": self.dial_dlq,
            "Outcomes": self.outcomes_dlq,
            "Webhooks": self.webhooks_dlq,
        }

    def _with_dlq(
        self, name: str, visibility: Duration, max_receives: int
    ) -> tuple[sqs.Queue, sqs.Queue]:
        dlq = sqs.Queue(
            self,
            f"{name}Dlq",
            retention_period=c.DLQ_RETENTION,
            # SSE-SQS rather than a KMS key: EventBridge Scheduler can send to it with nothing
            # but sqs:SendMessage, and there is no key policy to keep in step.
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        queue = sqs.Queue(
            self,
            name,
            visibility_timeout=visibility,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=max_receives),
        )
        return dlq, queue


def _times(duration: Duration, factor: int) -> Duration:
    return Duration.seconds(duration.to_seconds() * factor)
