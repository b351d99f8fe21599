"""The deployment knobs from CDK context: parsed, checked, refused when out of range."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App

from infra import constants as c
from infra.context import DeploySettings
from tests.infra.conftest import cdk_json_context


def _settings(**overrides: Any) -> DeploySettings:
    return DeploySettings.from_context(App(context=cdk_json_context() | overrides).node)


def test_cdk_json_holds_every_knob() -> None:
    settings = _settings()
    assert settings.dialer_max_concurrency >= c.MIN_DIALER_CONCURRENCY
    assert settings.throttle_rate_limit > 0 and settings.throttle_burst_limit > 0
    assert settings.call_retention_days >= 1
    assert settings.alarm_email is None
    assert settings.gateway_secrets == ()


def test_command_line_values_arrive_as_strings() -> None:
    # `cdk deploy -c outdial:dialerMaxConcurrency=20 -c outdial:gatewaySecrets=a,b`
    settings = _settings(
        **{
            c.CTX_DIALER_MAX_CONCURRENCY: "20",
            c.CTX_GATEWAY_SECRETS: "a, b",
            c.CTX_ALARM_EMAIL: " ops@example.com ",
        }
    )
    assert settings.dialer_max_concurrency == 20
    assert settings.gateway_secrets == ("a", "b")
    assert settings.alarm_email == "ops@example.com"
    assert _settings(**{c.CTX_GATEWAY_SECRETS: '["x"]'}).gateway_secrets == ("x",)


@pytest.mark.parametrize(
    "overrides",
    [
        {c.CTX_DIALER_MAX_CONCURRENCY: 1},  # SQS event sources allow 2..1000
        {c.CTX_DIALER_MAX_CONCURRENCY: 1001},
        {c.CTX_THROTTLE_RATE: 0},
        {c.CTX_CALL_RETENTION_DAYS: 0},
        {c.CTX_GATEWAY_SECRETS: ["bad/name"]},
        {c.CTX_THROTTLE_BURST: ""},
    ],
)
def test_out_of_range_knobs_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="CDK context"):
        _settings(**overrides)
