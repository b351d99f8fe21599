"""Business metrics are EMF lines the dashboard and alarms read: namespace, name, dimensions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.metrics import MetricUnit

from outdial.contract import Metric
from outdial.observability import count, metrics_batch


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]


def test_a_metric_carries_service_and_its_own_dimensions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    count(Metric.LEGS_DIALLED, outcome="BUSY")
    (line,) = emitted(capsys)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "outdial"
    assert directive["Metrics"] == [{"Name": "LegsDialled", "Unit": "Count"}]
    assert sorted(directive["Dimensions"][0]) == ["outcome", "service"]
    assert (line["service"], line["outcome"], line["LegsDialled"]) == ("outdial", "BUSY", [1.0])


def test_units_and_values_pass_through(capsys: pytest.CaptureFixture[str]) -> None:
    count(Metric.SCHEDULE_LAG_SECONDS, 2.5, MetricUnit.Seconds)
    (line,) = emitted(capsys)
    assert line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] == "Seconds"
    assert line["ScheduleLagSeconds"] == [2.5]


def test_a_batch_writes_one_line_per_metric_and_dimensions_when_it_closes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a handler's batch of metrics open
    with metrics_batch():
        count(Metric.SCHEDULE_LAG_SECONDS, 0.5, MetricUnit.Seconds)
        count(Metric.LEGS_DIALLED, outcome="BUSY")
        count(Metric.SCHEDULE_LAG_SECONDS, 1.5, MetricUnit.Seconds)
        count(Metric.LEGS_DIALLED, outcome="ANSWERED")
        count(Metric.LEGS_DIALLED, outcome="BUSY")
        # Then nothing is written while it is open
        assert emitted(capsys) == []
    # When it closes, Then each metric and dimension set is one line with every value counted
    lines = emitted(capsys)
    by_key = {
        (line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], line.get("outcome")): line
        for line in lines
    }
    assert len(lines) == 3
    assert by_key["ScheduleLagSeconds", None]["ScheduleLagSeconds"] == [0.5, 1.5]
    assert by_key["LegsDialled", "BUSY"]["LegsDialled"] == [1.0, 1.0]
    assert by_key["LegsDialled", "ANSWERED"]["LegsDialled"] == [1.0]
    unit = by_key["ScheduleLagSeconds", None]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]
    assert unit["Unit"] == "Seconds"


def test_a_batch_closed_by_an_error_still_writes_its_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(RuntimeError), metrics_batch():
        count(Metric.LEGS_DIALLED, outcome="BUSY")
        raise RuntimeError("the handler failed")
    (line,) = emitted(capsys)
    assert line["LegsDialled"] == [1.0]


def test_a_large_batch_is_split_into_lines_emf_accepts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with metrics_batch():
        for _ in range(120):
            count(Metric.LEGS_DIALLED, outcome="BUSY")
    lines = emitted(capsys)
    assert [len(line["LegsDialled"]) for line in lines] == [50, 50, 20]
