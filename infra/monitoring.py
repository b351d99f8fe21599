"""Monitoring: one dashboard to read at a glance, alarms, and the topic they notify."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra import constants as c
from infra.data import Data
from infra.queues import Queues
from infra.scheduling import Scheduling

PERIOD = Duration.minutes(5)
FAST = Duration.minutes(1)  # queue depth and age: a minute is the resolution SQS publishes
WIDTH = 8  # three graphs a row


def business_metric(
    name: c.Metric, statistic: str = "Sum", label: str | None = None, **dimensions: str
) -> cloudwatch.Metric:
    """A Powertools EMF metric of the `outdial` namespace (every one carries `service`)."""
    return cloudwatch.Metric(
        namespace=c.METRICS_NAMESPACE,
        metric_name=str(name),
        dimensions_map={**c.METRICS_DIMENSIONS, **dimensions},
        statistic=statistic,
        period=PERIOD,
        label=label,
    )


def by_dimension(name: c.Metric, dimension: str) -> cloudwatch.MathExpression:
    """One line per value of ``dimension`` (a rejection's code, a failure's reason): a search,
    since the values are only known once the code emits them."""
    search = f'Namespace="{c.METRICS_NAMESPACE}" MetricName="{name}"'
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{search}', 'Sum', {int(PERIOD.to_seconds())})",
        using_metrics={},
        label=f"{name} ${{PROP('Dim.{dimension}')}}",
        period=PERIOD,
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigateway.RestApi,
        functions: dict[str, lambda_.Function],
        data: Data,
        queues: Queues,
        scheduling: Scheduling,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "AlarmTopic", display_name="outdial alarms", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self._api, self._functions, self._data = api, functions, data
        self._queues, self._scheduling = queues, scheduling
        self.alarms = self._alarms()
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=Stack.of(self).stack_name,
            default_interval=Duration.hours(3),
            widgets=self._widgets(),
        )

    # --- alarms -------------------------------------------------------------------------------
    def _alarms(self) -> list[cloudwatch.Alarm]:
        queues = self._queues
        dialer, sweeper = self._functions["dialer"], self._functions["sweeper"]
        alarms = [
            self._alarm(
                f"{name}DlqNotEmpty",
                dlq.metric_approximate_number_of_messages_visible(statistic="Maximum", period=FAST),
                threshold=1,
                description=f"A message reached the {name.lower()} dead-letter queue: inspect it, "
                "fix the cause, then redrive it (SQS console: Start DLQ redrive).",
            )
            for name, dlq in queues.dead_letter_queues.items()
        ]
        alarms += [
            self._alarm(
                "Api5xxRate",
                self._api.metric_server_error(statistic="Average", period=PERIOD),
                threshold=c.API_5XX_RATE_LIMIT,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                description="More than 5% of API requests answered 5XX over 5 minutes: see the "
                "api function's errors and logs.",
            ),
            self._alarm(
                "DialQueueOldestMessageAge",
                queues.dial.metric_approximate_age_of_oldest_message(
                    statistic="Maximum", period=FAST
                ),
                threshold=c.DIAL_OLDEST_AGE_LIMIT_SECONDS,
                evaluation_periods=3,
                description="A due call has waited over 5 minutes for a dialer: the dialer is "
                "failing, or its maximum concurrency (the gateway's channels) is too low.",
            ),
            self._alarm(
                "ScheduleLagP99",
                business_metric(c.Metric.SCHEDULE_LAG_SECONDS, statistic="p99"),
                threshold=c.SCHEDULE_LAG_LIMIT_SECONDS,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                description=f"The 99th percentile of calls started over {c.SCHEDULE_LAG_LIMIT_SECONDS} s "
                "after their start-time (schedules fire a minute early and SQS delays the rest to "
                "the second): the dialers are short (maximum concurrency, errors) or Scheduler "
                "is failing; check the dial queue's age and the Scheduler graph.",
            ),
            self._alarm(
                "DialerErrors",
                dialer.metric_errors(statistic="Sum", period=PERIOD),
                threshold=1,
                description="The dialer function failed (crash or timeout): see its logs.",
            ),
            self._alarm(
                "DispatchesRecovered",
                self._sum("Dispatches recovered", self._recovered()),
                threshold=1,
                description="The sweeper finished (forward) or rolled back (back) a request the "
                "api left half-enqueued: an api invocation died mid-request (timeout, memory). "
                "See the sweeper's logs for the request, and the api's for why.",
            ),
            self._alarm(
                "SweeperErrors",
                sweeper.metric_errors(statistic="Sum", period=PERIOD),
                threshold=1,
                description="The sweeper function failed (crash or timeout): half-enqueued "
                "requests wait for a run that succeeds; see its logs.",
            ),
            self._alarm(
                "SchedulerDropped",
                self._scheduling.group.metric_dropped(statistic="Sum", period=PERIOD),
                threshold=1,
                description="EventBridge Scheduler gave up on a schedule: a call was not "
                "enqueued at its time (check the scheduler role and the dial queue).",
            ),
            self._alarm(
                "LambdaThrottles",
                self._sum(
                    "Lambda throttles",
                    {name: fn.metric_throttles() for name, fn in self._functions.items()},
                ),
                threshold=1,
                description="A function was throttled: the account's Lambda concurrency is "
                "exhausted (the api answers 5XX, queues back up).",
            ),
            self._alarm(
                "DynamoDbThrottles",
                self._sum("DynamoDB throttle events", self._table_throttles()),
                threshold=1,
                description="DynamoDB throttled requests (on-demand tables: a hot key or a "
                "sudden jump past the table's previous peak).",
            ),
        ]
        return alarms

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.Metric | cloudwatch.MathExpression,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        ),
    ) -> cloudwatch.Alarm:
        alarm = metric.create_alarm(
            self,
            construct_id,
            # Per stack: a staging stack's alarms never take production's names.
            alarm_name=f"{Stack.of(self).stack_name}-{construct_id}",
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=comparison,
            alarm_description=description,
            # No data is no traffic, not trouble.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        alarm.add_ok_action(actions.SnsAction(self.topic))
        return alarm

    @staticmethod
    def _sum(label: str, metrics: dict[str, cloudwatch.IMetric]) -> cloudwatch.MathExpression:
        ids = {f"m{i}": metric for i, metric in enumerate(metrics.values())}
        return cloudwatch.MathExpression(
            expression=" + ".join(f"FILL({key}, 0)" for key in ids),
            using_metrics=ids,
            label=label,
            period=PERIOD,
        )

    @staticmethod
    def _recovered() -> dict[str, cloudwatch.IMetric]:
        return {
            action: business_metric(c.Metric.DISPATCHES_RECOVERED, label=action, action=action)
            for action in c.DISPATCH_RECOVERY_ACTIONS
        }

    def _table_throttles(self) -> dict[str, cloudwatch.IMetric]:
        return {
            f"{table.node.id} {kind}": table.metric(
                f"{kind}ThrottleEvents", statistic="Sum", period=PERIOD
            )
            for table in self._data.tables
            for kind in ("Read", "Write")
        }

    # --- dashboard ----------------------------------------------------------------------------
    def _widgets(self) -> list[list[cloudwatch.IWidget]]:
        api, queues, group = self._api, self._queues, self._scheduling.group
        working = (
            ("dial", queues.dial),
            ("outcomes", queues.outcomes),
            ("webhooks", queues.webhooks),
        )
        legs = {
            outcome.lower(): business_metric(c.Metric.LEGS_DIALLED, label=outcome, outcome=outcome)
            for outcome in c.LEG_OUTCOMES
        }
        return [
            [
                cloudwatch.TextWidget(
                    markdown="# outdial\nRequests → calls accepted → legs dialled → outcomes → "
                    "webhooks. Alarms notify the stack's AlarmTopic.",
                    width=24,
                    height=2,
                )
            ],
            [
                self._graph(
                    "API requests and errors",
                    [
                        api.metric_count(statistic="Sum", period=PERIOD, label="requests"),
                        api.metric_client_error(statistic="Sum", period=PERIOD, label="4XX"),
                        api.metric_server_error(statistic="Sum", period=PERIOD, label="5XX"),
                    ],
                ),
                self._graph(
                    "API latency (ms)",
                    [
                        api.metric_latency(statistic="p50", period=PERIOD, label="p50"),
                        api.metric_latency(statistic="p99", period=PERIOD, label="p99"),
                    ],
                ),
                self._graph(
                    "Calls accepted and rejected by code",
                    [
                        business_metric(c.Metric.CALLS_ACCEPTED, label="accepted"),
                        by_dimension(c.Metric.CALLS_REJECTED, "code"),
                    ],
                ),
            ],
            [
                self._graph("Legs by outcome", list(legs.values()), stacked=True),
                self._graph(
                    "Connect rate (% of legs answered)",
                    [
                        cloudwatch.MathExpression(
                            expression="100 * FILL(answered, 0) / ("
                            + " + ".join(f"FILL({key}, 0)" for key in legs)
                            + ")",
                            using_metrics=legs,
                            label="connect rate %",
                            period=PERIOD,
                        )
                    ],
                    left_y=cloudwatch.YAxisProps(min=0, max=100),
                ),
                self._graph(
                    "Schedule lag (s)",
                    [
                        business_metric(
                            c.Metric.SCHEDULE_LAG_SECONDS, statistic="p50", label="p50"
                        ),
                        business_metric(
                            c.Metric.SCHEDULE_LAG_SECONDS, statistic="p99", label="p99"
                        ),
                    ],
                    annotations=[
                        cloudwatch.HorizontalAnnotation(
                            value=c.SCHEDULE_LAG_LIMIT_SECONDS, label="alarm"
                        )
                    ],
                ),
            ],
            [
                # Legs put back to wait for a gateway's calls-per-second (over the budget, or
                # turned away by the carrier's rate limit): a wait, never a failure.
                self._graph(
                    "Legs waiting for pace, by gateway",
                    [by_dimension(c.Metric.LEGS_PACED, "gateway_id")],
                ),
            ],
            [
                self._graph(
                    "Calls by final status",
                    [
                        business_metric(c.Metric.CALLS_COMPLETED, label="completed"),
                        business_metric(c.Metric.CALLS_NOT_CONNECTED, label="not connected"),
                        business_metric(c.Metric.CALLS_FAILED, label="failed"),
                    ],
                ),
                self._graph(
                    "Webhook deliveries and failures by reason",
                    [
                        business_metric(c.Metric.WEBHOOK_DELIVERIES, label="delivered"),
                        # retry, deferred, rejected, …
                        by_dimension(c.Metric.WEBHOOK_FAILURES, "reason"),
                    ],
                ),
                self._graph(
                    "Scheduler (schedule group)",
                    [
                        group.metric_target_errors(
                            statistic="Sum", period=PERIOD, label="target errors"
                        ),
                        group.metric_throttled(statistic="Sum", period=PERIOD, label="throttled"),
                        group.metric_dropped(statistic="Sum", period=PERIOD, label="dropped"),
                    ],
                ),
            ],
            [
                self._graph(
                    "Queue depth (visible messages)",
                    [
                        queue.metric_approximate_number_of_messages_visible(
                            statistic="Maximum", period=FAST, label=name
                        )
                        for name, queue in working
                    ],
                ),
                self._graph(
                    "Oldest message age (s)",
                    [
                        queue.metric_approximate_age_of_oldest_message(
                            statistic="Maximum", period=FAST, label=name
                        )
                        for name, queue in working
                    ],
                ),
                self._graph(
                    "Dead-letter queues (messages)",
                    [
                        dlq.metric_approximate_number_of_messages_visible(
                            statistic="Maximum", period=FAST, label=name.lower()
                        )
                        for name, dlq in queues.dead_letter_queues.items()
                    ],
                ),
            ],
            [
                self._graph(
                    "Lambda errors and throttles",
                    [
                        metric
                        for name, fn in self._functions.items()
                        for metric in (
                            fn.metric_errors(
                                statistic="Sum", period=PERIOD, label=f"{name} errors"
                            ),
                            fn.metric_throttles(
                                statistic="Sum", period=PERIOD, label=f"{name} throttles"
                            ),
                        )
                    ],
                ),
                self._graph(
                    "Lambda duration p99 (ms)",
                    [
                        fn.metric_duration(statistic="p99", period=PERIOD, label=name)
                        for name, fn in self._functions.items()
                    ],
                ),
                self._graph(
                    "DynamoDB throttle events",
                    [
                        metric.with_(label=label)
                        for label, metric in self._table_throttles().items()
                        if isinstance(metric, cloudwatch.Metric)
                    ],
                ),
            ],
            [
                self._graph(
                    "Dispatches recovered by the sweeper (api died mid-request)",
                    list(self._recovered().values()),
                    stacked=True,
                ),
                self._graph(
                    "Dialling policy: legs deferred (window, cap) and skipped (do-not-call)",
                    [
                        business_metric(c.Metric.LEGS_DEFERRED, label=f"deferred: {r}", reason=r)
                        for r in c.DEFER_REASONS
                    ]
                    + [
                        business_metric(c.Metric.LEGS_SKIPPED, label=f"skipped: {r}", reason=r)
                        for r in c.SKIP_REASONS
                    ],
                ),
            ],
            [cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=4)],
        ]

    @staticmethod
    def _graph(
        title: str,
        metrics: list[cloudwatch.IMetric],
        *,
        stacked: bool = False,
        left_y: cloudwatch.YAxisProps | None = None,
        annotations: list[cloudwatch.HorizontalAnnotation] | None = None,
    ) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title=title,
            left=metrics,
            width=WIDTH,
            height=6,
            stacked=stacked,
            left_y_axis=left_y,
            left_annotations=annotations,
        )
