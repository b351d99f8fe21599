"""The opt-in WAF web ACL (context outdial:wafRateLimitPerIp): a rate-based rule per source IP
on the stage, answering 429 with code 608; off by default, and cdk-nag's WAF finding answered
either way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra import constants as c
from infra.context import DeploySettings
from infra.stack import build
from outdial.models.codes import Code
from tests.infra.conftest import Synthesized, cdk_json_context

LIMIT = 600


@pytest.fixture(scope="module")
def with_waf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Template, dict[str, Any]]:
    outdir = tmp_path_factory.mktemp("cdk.out.waf")
    app = App(
        context=cdk_json_context() | {c.CTX_WAF_RATE_LIMIT: LIMIT},
        outdir=str(outdir),
        builtin_cloud_formation_validation=False,
    )
    stack = build(app)
    template = Template.from_stack(stack)  # synthesizes: cdk-nag raises on an open finding
    report = _nag_report(outdir)
    return template, report


def _nag_report(outdir: Path) -> dict[str, Any]:
    reports = json.loads((outdir / "validation-report.json").read_text())["pluginReports"]
    (plugin,) = [p for p in reports if p["pluginName"] == "AwsSolutions"]
    return dict(plugin)


def test_off_by_default(synthesized: Synthesized) -> None:
    assert not synthesized.template.find_resources("AWS::WAFv2::WebACL")
    assert cdk_json_context()[c.CTX_WAF_RATE_LIMIT] == 0


def test_a_rate_rule_per_source_ip_answers_608(with_waf: tuple[Template, dict[str, Any]]) -> None:
    template, _ = with_waf
    [acl] = template.find_resources("AWS::WAFv2::WebACL").values()
    properties = acl["Properties"]
    assert properties["Scope"] == "REGIONAL" and properties["DefaultAction"] == {"Allow": {}}
    [rule] = properties["Rules"]
    assert rule["Statement"]["RateBasedStatement"] == {"AggregateKeyType": "IP", "Limit": LIMIT}
    response = rule["Action"]["Block"]["CustomResponse"]
    assert response["ResponseCode"] == 429
    body = json.loads(
        properties["CustomResponseBodies"][response["CustomResponseBodyKey"]]["Content"]
    )
    assert body == Code.TOO_MANY_REQUESTS.body()


def test_the_web_acl_guards_the_stage(with_waf: tuple[Template, dict[str, Any]]) -> None:
    template, _ = with_waf
    [association] = template.find_resources("AWS::WAFv2::WebACLAssociation").values()
    [stage_id] = template.find_resources("AWS::ApiGateway::Stage")
    assert stage_id in json.dumps(association["Properties"]["ResourceArn"])


def test_cdk_nag_waf_finding_is_met_not_acknowledged(
    with_waf: tuple[Template, dict[str, Any]],
) -> None:
    _, report = with_waf
    assert report["conclusion"] == "success" and report["violations"] == []
    suppressed = {s["ruleName"] for s in report["suppressedViolations"]}
    assert "AwsSolutions-APIG3" not in suppressed


@pytest.mark.parametrize("limit", [5, 2_000_000_001, -1])
def test_out_of_range_limits_are_refused(limit: int) -> None:
    with pytest.raises(ValueError, match=c.CTX_WAF_RATE_LIMIT):
        DeploySettings.from_context(
            App(context=cdk_json_context() | {c.CTX_WAF_RATE_LIMIT: limit}).node
        )
