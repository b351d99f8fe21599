"""cdk-nag's AwsSolutions checks: nothing open, and every acknowledgement deliberate."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import Synthesized

# Each accepted finding, and why, lives next to the resource (grep `acknowledge(`). This list
# makes a new acknowledgement a visible change to review.
EXPECTED_ACKNOWLEDGEMENTS = {
    "AwsSolutions-APIG2",  # the contract's own validation order and codes
    "AwsSolutions-APIG3",  # no WAF: per-account IP whitelist + security-id, stage throttling
    "AwsSolutions-APIG4",  # the contract authenticates (security-id, IP whitelist, HMAC)
    "AwsSolutions-COG4",  # idem
    "AwsSolutions-IAM4[API Gateway account role]",  # AWS's policy for API Gateway's own role
    "AwsSolutions-IAM5[Resource::*]",  # X-Ray
    "AwsSolutions-IAM5[schedules of outdial's group]",
    "AwsSolutions-IAM5[secret:outdial/<stack>/gateways/*]",
    "AwsSolutions-IAM5[secret:outdial/<stack>/flows/*]",
    "AwsSolutions-IAM5[secret:outdial/<stack>/accounts/*]",
    "AwsSolutions-L1",  # Python pinned with the wheels
    "AwsSolutions-SMG4",  # gateway credentials rotate with the vendor
}


@pytest.fixture(scope="module")
def report(synthesized: Synthesized) -> dict[str, Any]:
    (plugin,) = [
        p
        for p in json.loads((synthesized.outdir / "validation-report.json").read_text())[
            "pluginReports"
        ]
        if p["pluginName"] == "AwsSolutions"
    ]
    return dict(plugin)


def _short(rule: str) -> str:
    if ":schedule/" in rule:
        return "AwsSolutions-IAM5[schedules of outdial's group]"
    if ":secret:" in rule:
        kind = rule.split(":secret:")[1].split("/")[2]
        return f"AwsSolutions-IAM5[secret:outdial/<stack>/{kind}/*]"
    if "AmazonAPIGatewayPushToCloudWatchLogs" in rule:
        return "AwsSolutions-IAM4[API Gateway account role]"
    return rule


def test_cdk_nag_reports_nothing_open(report: dict[str, Any]) -> None:
    # Given the stack synthesized with AwsSolutionsChecks (synthesis would have raised otherwise)
    # Then the pack concluded success with no violation left
    assert report["conclusion"] == "success"
    assert report["violations"] == []


def test_every_acknowledgement_is_expected_and_reasoned(report: dict[str, Any]) -> None:
    suppressed = report["suppressedViolations"]
    assert {_short(s["ruleName"]) for s in suppressed} == EXPECTED_ACKNOWLEDGEMENTS
    for suppression in suppressed:
        assert len(suppression["reason"]) > 60, suppression["ruleName"]


def test_acknowledgements_stay_on_their_constructs(report: dict[str, Any]) -> None:
    # Never a blanket acknowledgement on the stack or the app
    for suppression in report["suppressedViolations"]:
        assert suppression["acknowledgedAt"].count("/") >= 1, suppression["ruleName"]
