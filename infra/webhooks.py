"""Webhooks: the webhook queue's consumer, which signs and posts terminal outcomes."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from constructs import Construct

from infra import constants as c
from infra.credentials import Credentials
from infra.data import Data
from infra.queues import Queues


class Webhooks(Construct):
    """At-least-once delivery: a failed post stays on the queue (backoff) for up to 24 h, then the
    handler moves it to the DLQ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        data: Data,
        queues: Queues,
        credentials: Credentials,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = function
        self.event_source = event_sources.SqsEventSource(
            queues.webhooks,
            batch_size=c.WEBHOOK_BATCH_SIZE,
            max_concurrency=c.WEBHOOK_MAX_CONCURRENCY,
            report_batch_item_failures=True,
        )
        function.add_event_source(self.event_source)
        data.grant_read(function)  # the call to report, its flow's view (the webhook URL)
        data.grant_webhook_backoff(function)  # a failing receiver holds back its own account
        # Postponing (ChangeMessageVisibility) comes with consuming; a delivery that will never
        # succeed, or is still failing after 24 h, is moved to the DLQ by the handler itself.
        queues.webhooks_dlq.grant_send_messages(function)
        credentials.grant_flow_secrets(function)
        credentials.grant_account_secrets(function)
