"""Business metrics are EMF lines the dashboard and alarms read: namespace, name, dimensions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.metrics import MetricUnit

from outdial.contract import Metric
from outdial.observability import count


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
