"""Sweeper: every minute, finishes or rolls back requests the api left half-enqueued."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import constants as c
from infra.credentials import Credentials
from infra.data import Data
from infra.queues import Queues
from infra.scheduling import Scheduling


class Sweeper(Construct):
    """The api writes an accepted request, then enqueues its calls; an api killed in between (its
    timeout) leaves the request's checksum in the calls table's pending index. The sweeper queries
    that index for marks older than its grace period and either enqueues what is left (dial queue,
    schedules) or rolls the request back (calls, checksum, and the account's balance refunded)."""

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
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = function
        # The marks older than the grace period; the calls whose current leg is overdue.
        data.grant_query_pending(function)
        # The marked checksum and its request's calls; a roll-back deletes the calls and the
        # checksum and refunds the account's balance in one transaction across both tables.
        data.grant_read_write(function)
        queues.dial.grant_send_messages(function)  # calls due now (SendMessageBatch)
        # An overdue call is brought forward with the dialer's own steps: asking the gateway
        # how the leg went (its credentials), dialling a leg nobody claimed, the webhook of a
        # call it ends, a later attempt's schedule; a simulated leg it places sends its outcome.
        queues.outcomes.grant_send_messages(function)
        queues.webhooks.grant_send_messages(function)
        credentials.grant_gateway_secrets(function)
        # Calls due later; it never reads or deletes a schedule (cancellation is the api's).
        scheduling.grant_manage_schedules(function, actions=c.SWEEPER_SCHEDULE_ACTIONS)
        # (The dialer's retry schedules are created with CreateSchedule, which it already has.)
        self.rule = events.Rule(
            self,
            "EveryMinute",
            description="outdial sweeper: half-enqueued requests, overdue legs",
            schedule=events.Schedule.rate(c.SWEEPER_RATE),
        )
        # A missed or failed run is not retried: the next run, a minute later, sweeps again.
        self.rule.add_target(
            targets.LambdaFunction(
                function, retry_attempts=0, max_event_age=c.SWEEPER_MAX_EVENT_AGE
            )
        )
        function.configure_async_invoke(retry_attempts=0, max_event_age=c.SWEEPER_MAX_EVENT_AGE)
