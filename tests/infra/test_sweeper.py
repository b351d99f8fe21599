"""The sweeper: every minute, no retries of a missed minute, a grace the api cannot outlive."""

from __future__ import annotations

from typing import Any

from infra import constants as c
from outdial.settings import Settings
from tests.infra.conftest import Synthesized

# Between the api's timeout and the grace period: the claim's time comes from the api's clock,
# the sweeper's cut-off from its own, and a request the api is still handling must never look
# abandoned.
GRACE_MARGIN_SECONDS = 60


def _of_type(s: Synthesized, kind: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in s.resources.items() if v["Type"] == kind}


def _sweeper_arn(s: Synthesized) -> dict[str, Any]:
    return {"Fn::GetAtt": [s.logical_id(s.stack.functions["sweeper"]), "Arn"]}


def test_a_rule_runs_the_sweeper_every_minute_without_retries(synthesized: Synthesized) -> None:
    # Given the stack's one EventBridge rule
    (rule,) = _of_type(synthesized, "AWS::Events::Rule").values()

    # Then it fires every minute, at the sweeper only
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    assert target["Arn"] == _sweeper_arn(synthesized)
    # And a failed delivery is not retried: the next minute's run sweeps again
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}


def test_a_failed_run_is_not_retried_by_lambda(synthesized: Synthesized) -> None:
    (config,) = _of_type(synthesized, "AWS::Lambda::EventInvokeConfig").values()
    assert config["FunctionName"] == {
        "Ref": synthesized.logical_id(synthesized.stack.functions["sweeper"])
    }
    assert config["MaximumRetryAttempts"] == 0
    assert config["MaximumEventAgeInSeconds"] == 60


def test_only_the_rule_may_invoke_the_sweeper(synthesized: Synthesized) -> None:
    (rule_id,) = _of_type(synthesized, "AWS::Events::Rule")
    (permission,) = [
        p
        for p in _of_type(synthesized, "AWS::Lambda::Permission").values()
        if p["FunctionName"] == _sweeper_arn(synthesized)
    ]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_grace_period_outlasts_any_api_invocation(synthesized: Synthesized) -> None:
    # Given the grace the sweeper runs with: the code's default, unless the stack sets it
    (field,) = [
        f for f in Settings.model_fields.values() if f.alias == "OUTDIAL_DISPATCH_GRACE_SECONDS"
    ]
    function = synthesized.stack.functions["sweeper"]
    variables = synthesized.resources[synthesized.logical_id(function)]["Properties"][
        "Environment"
    ]["Variables"]
    grace = int(variables.get("OUTDIAL_DISPATCH_GRACE_SECONDS", field.default))

    # Then a request is only swept once the api invocation that accepted it is surely over
    assert grace > c.API_TIMEOUT.to_seconds() + GRACE_MARGIN_SECONDS
