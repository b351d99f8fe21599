"""The dashboard's widgets and the alarms, all notifying one topic."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import constants as c
from tests.infra.conftest import ALARM_EMAIL, Synthesized


@pytest.fixture(scope="module")
def dashboard(synthesized: Synthesized) -> dict[str, Any]:
    (resource,) = [
        r for r in synthesized.resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    # The body is a Fn::Join of text and tokens: keep the text, mark the tokens.
    parts = resource["Properties"]["DashboardBody"]["Fn::Join"][1]
    body = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    return dict(json.loads(body))


def _graphs(dashboard: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        w["properties"]["title"]: w["properties"].get("metrics", [])
        for w in dashboard["widgets"]
        if w["type"] == "metric"
    }


def _alarms(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical_id: r["Properties"]
        for logical_id, r in synthesized.resources.items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }


def _alarm(synthesized: Synthesized, name: str) -> dict[str, Any]:
    (alarm,) = [p for i, p in _alarms(synthesized).items() if i.startswith(f"Monitoring{name}")]
    return alarm


def test_dashboard_shows_what_the_issue_lists(dashboard: dict[str, Any]) -> None:
    graphs = _graphs(dashboard)
    text = json.dumps(dashboard)
    # API requests, 4XX, 5XX, latency p50/p99
    assert {"API requests and errors", "API latency (ms)"} <= set(graphs)
    for metric in ('"Count"', '"4XXError"', '"5XXError"', '"Latency"', '"p50"', '"p99"'):
        assert metric in text
    # calls accepted and rejected by code (a search over the code dimension)
    assert "CallsAccepted" in text and 'MetricName=\\"CallsRejected\\"' in text
    assert "Dim.code" in text
    # legs by outcome and the connect rate as a math expression over them
    legs = json.dumps(graphs["Legs by outcome"])
    assert all(outcome in legs for outcome in c.LEG_OUTCOMES)
    connect = json.dumps(graphs["Connect rate (% of legs answered)"])
    assert "100 * FILL(answered, 0)" in connect
    # schedule lag p50/p99
    assert "ScheduleLagSeconds" in json.dumps(graphs["Schedule lag (s)"])
    # legs waiting for a gateway's pace, per gateway
    paced = json.dumps(graphs["Legs waiting for pace, by gateway"])
    assert 'MetricName=\\"LegsPaced\\"' in paced and "Dim.gateway_id" in paced
    # queue depth and age, DLQ depth
    assert "ApproximateNumberOfMessagesVisible" in json.dumps(
        graphs["Queue depth (visible messages)"]
    )
    assert "ApproximateAgeOfOldestMessage" in json.dumps(graphs["Oldest message age (s)"])
    assert "Dead-letter queues (messages)" in graphs
    # Lambda errors, throttles, duration; DynamoDB throttles; Scheduler; webhooks
    lambdas = json.dumps(graphs["Lambda errors and throttles"])
    assert '"Errors"' in lambdas and '"Throttles"' in lambdas
    assert '"Duration"' in json.dumps(graphs["Lambda duration p99 (ms)"])
    assert "ThrottleEvents" in json.dumps(graphs["DynamoDB throttle events"])
    assert "TargetErrorCount" in json.dumps(graphs["Scheduler (schedule group)"])
    webhooks = json.dumps(graphs["Webhook deliveries and failures by reason"])
    assert "WebhookDeliveries" in webhooks and 'MetricName=\\"WebhookFailures\\"' in webhooks
    assert "Dim.reason" in webhooks
    # and the alarms' states
    assert any(w["type"] == "alarm" for w in dashboard["widgets"])


def test_business_metrics_use_the_powertools_namespace_and_service(
    dashboard: dict[str, Any],
) -> None:
    text = json.dumps(dashboard)
    for name in ("CallsAccepted", "CallsCompleted", "ScheduleLagSeconds", "WebhookDeliveries"):
        assert f'"outdial", "{name}", "service", "outdial"' in text


def test_every_alarm_notifies_the_topic(synthesized: Synthesized) -> None:
    topic = {"Ref": synthesized.logical_id(synthesized.stack.monitoring.topic)}
    alarms = _alarms(synthesized)
    assert len(alarms) == 12
    for properties in alarms.values():
        assert properties["AlarmActions"] == [topic]
        assert properties["TreatMissingData"] == "notBreaching"


def test_alarm_email_subscribes_when_given(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": ALARM_EMAIL}
    )


def test_dlq_alarms_fire_on_one_message(synthesized: Synthesized) -> None:
    for name in ("Dial", "Outcomes", "Webhooks"):
        alarm = _alarm(synthesized, f"{name}DlqNotEmpty")
        dlq = getattr(synthesized.stack.queues, f"{name.lower()}_dlq")
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0] == synthesized.logical_id(dlq)
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_alarm_names_carry_the_stack_name(synthesized: Synthesized) -> None:
    # Given every alarm / Then its name starts with the stack's: two stacks in one account
    # never share one
    names = [p["AlarmName"] for p in _alarms(synthesized).values()]
    assert all(name.startswith(f"{synthesized.stack.stack_name}-") for name in names)
    assert len(set(names)) == len(names)


def test_api_metrics_select_this_stacks_api(synthesized: Synthesized) -> None:
    alarm = _alarm(synthesized, "Api5xxRate")
    assert alarm["Dimensions"] == [
        {"Name": "ApiName", "Value": f"{synthesized.stack.stack_name}-api"}
    ]


def test_schedule_lag_p99_over_30_seconds(synthesized: Synthesized) -> None:
    alarm = _alarm(synthesized, "ScheduleLagP99")
    assert alarm["Namespace"] == "outdial"
    assert alarm["MetricName"] == "ScheduleLagSeconds"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "outdial"}]
    assert alarm["ExtendedStatistic"] == "p99"
    assert alarm["Threshold"] == 30  # schedules fire a minute early; SQS delays to the second
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_api_5xx_rate(synthesized: Synthesized) -> None:
    alarm = _alarm(synthesized, "Api5xxRate")
    assert alarm["MetricName"] == "5XXError"
    assert alarm["Statistic"] == "Average"  # the 5XXError average is the fraction of requests
    assert alarm["Threshold"] == c.API_5XX_RATE_LIMIT


def test_oldest_dial_message_and_dialer_errors(synthesized: Synthesized) -> None:
    age = _alarm(synthesized, "DialQueueOldestMessageAge")
    assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert age["Threshold"] == c.DIAL_OLDEST_AGE_LIMIT_SECONDS
    errors = _alarm(synthesized, "DialerErrors")
    assert errors["MetricName"] == "Errors"
    dialer = synthesized.logical_id(synthesized.stack.functions["dialer"])
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": dialer}}]


def test_throttle_alarms_cover_every_function_and_table(synthesized: Synthesized) -> None:
    lambdas = _alarm(synthesized, "LambdaThrottles")
    names = [
        m["MetricStat"]["Metric"]["MetricName"] for m in lambdas["Metrics"] if "MetricStat" in m
    ]
    assert names == ["Throttles"] * len(c.HANDLERS)
    tables = _alarm(synthesized, "DynamoDbThrottles")
    names = [
        m["MetricStat"]["Metric"]["MetricName"] for m in tables["Metrics"] if "MetricStat" in m
    ]
    assert sorted(names) == [
        "ReadThrottleEvents",
        "ReadThrottleEvents",
        "WriteThrottleEvents",
        "WriteThrottleEvents",
    ]


def test_dashboard_shows_dispatches_recovered_by_action(dashboard: dict[str, Any]) -> None:
    (graph,) = [m for title, m in _graphs(dashboard).items() if "recovered" in title]
    assert graph == [
        [
            "outdial",
            "DispatchesRecovered",
            "action",
            action,
            "service",
            "outdial",
            {"label": action, "stat": "Sum"},
        ]
        for action in c.DISPATCH_RECOVERY_ACTIONS
    ]


def test_any_recovered_dispatch_alarms(synthesized: Synthesized) -> None:
    # Given the alarm on the sweeper's business metric
    alarm = _alarm(synthesized, "DispatchesRecovered")

    # Then one request finished or rolled back in 5 minutes is enough: the api died mid-request
    (expression,) = [m for m in alarm["Metrics"] if "Expression" in m]
    assert expression["Expression"] == "FILL(m0, 0) + FILL(m1, 0)"
    metrics = [m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert sorted(
        {d["Name"]: d["Value"] for d in m["Metric"]["Dimensions"]}["action"] for m in metrics
    ) == sorted(c.DISPATCH_RECOVERY_ACTIONS)
    for stat in metrics:
        assert stat["Metric"]["Namespace"] == "outdial"
        assert stat["Metric"]["MetricName"] == "DispatchesRecovered"
        assert {"Name": "service", "Value": "outdial"} in stat["Metric"]["Dimensions"]
        assert stat["Stat"] == "Sum"
        assert stat["Period"] == 300
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"


def test_sweeper_errors(synthesized: Synthesized) -> None:
    errors = _alarm(synthesized, "SweeperErrors")
    assert errors["MetricName"] == "Errors"
    sweeper = synthesized.logical_id(synthesized.stack.functions["sweeper"])
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": sweeper}}]
    assert errors["Threshold"] == 1


def test_dashboard_shows_legs_deferred_and_skipped_by_the_dialling_policy(
    dashboard: dict[str, Any],
) -> None:
    # Given the dialling policy's graph (SPEC §9)
    (graph,) = [m for title, m in _graphs(dashboard).items() if title.startswith("Dialling policy")]
    # Then it shows legs deferred by a closed window or a reached cap, and legs skipped as listed
    shown = {(metric[1], metric[3]) for metric in graph}
    assert shown == {
        ("LegsDeferred", "window"),
        ("LegsDeferred", "frequency-cap"),
        ("LegsSkipped", "dnc"),
        ("LegsSkipped", "calling-window"),
    }
    assert all(metric[2] == "reason" and metric[-1]["stat"] == "Sum" for metric in graph)
