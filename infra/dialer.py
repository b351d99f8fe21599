"""Dialer: the dial queue's and the outcome queue's consumer, paced by its event sources'
maximum concurrency."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from constructs import Construct

from infra import constants as c
from infra.credentials import Credentials
from infra.data import Data
from infra.queues import Queues
from infra.scheduling import Scheduling


class Dialer(Construct):
    """Dials due calls leg by leg, records outcomes, schedules retries, hands webhooks on."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        data: Data,
        queues: Queues,
        scheduling: Scheduling,
        credentials: Credentials,
        max_concurrency: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = function
        self.event_source = event_sources.SqsEventSource(
            queues.dial,
            batch_size=c.DIAL_BATCH_SIZE,
            # At most this many dialer invocations at once, each working a batch of dial
            # messages; beyond it messages wait in the queue instead of being throttled back to
            # it. A leg is handed to the gateway and the dialer moves on while it rings, so this
            # bounds the load on DynamoDB and the gateways, not the calls in progress.
            max_concurrency=max_concurrency,
            report_batch_item_failures=True,  # one failed call does not redeliver the batch
        )
        function.add_event_source(self.event_source)
        # Leg outcomes, up to ten per invocation: each is a few conditional writes, and one
        # failing outcome is reported on its own.
        self.outcome_source = event_sources.SqsEventSource(
            queues.outcomes,
            batch_size=c.OUTCOME_BATCH_SIZE,
            max_concurrency=max_concurrency,
            report_batch_item_failures=True,
        )
        function.add_event_source(self.outcome_source)
        data.grant_read_write(function)
        queues.dial.grant_send_messages(function)  # fan-out of large messages, next legs
        queues.outcomes.grant_send_messages(function)  # the simulator's leg outcomes
        queues.webhooks.grant_send_messages(function)  # terminal outcomes to report
        scheduling.grant_manage_schedules(function)  # later attempts (retry-after-seconds)
        credentials.grant_gateway_secrets(function)
