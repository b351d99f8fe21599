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


def samples(lines: list[dict[str, Any]]) -> dict[tuple[str, str | None], tuple[str, list[float]]]:
    """(metric, outcome) -> (unit, values), from every metric directive of ``lines``."""
    found: dict[tuple[str, str | None], tuple[str, list[float]]] = {}
    for line in lines:
        for directive in line["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "outdial"
            (dimensions,) = directive["Dimensions"]
            (metric,) = directive["Metrics"]
            outcome = line["outcome"] if "outcome" in dimensions else None
            key = (metric["Name"], outcome)
            assert key not in found
            found[key] = (metric["Unit"], line[metric["Name"]])
    return found


def test_a_batch_writes_its_metrics_together_when_it_closes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a handler's batch of metrics open
    with metrics_batch():
        count(Metric.SCHEDULE_LAG_SECONDS, 0.5, MetricUnit.Seconds)
        count(Metric.LEGS_DIALLED, outcome="BUSY")
        count(Metric.SCHEDULE_LAG_SECONDS, 1.5, MetricUnit.Seconds)
        count(Metric.LEGS_DIALLED, outcome="ANSWERED")
        count(Metric.LEGS_DIALLED, outcome="BUSY")
        count(Metric.CALLS_COMPLETED)
        # Then nothing is written while it is open
        assert emitted(capsys) == []
    # When it closes, Then each metric and dimension set has every value counted, with its unit
    lines = emitted(capsys)
    assert samples(lines) == {
        ("ScheduleLagSeconds", None): ("Seconds", [0.5, 1.5]),
        ("LegsDialled", "BUSY"): ("Count", [1.0, 1.0]),
        ("LegsDialled", "ANSWERED"): ("Count", [1.0]),
        ("CallsCompleted", None): ("Count", [1.0]),
    }
    # And in two lines, not four: one can hold one outcome of LegsDialled only
    assert len(lines) == 2


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
