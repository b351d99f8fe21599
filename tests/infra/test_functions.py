"""Every function: arm64, Python, X-Ray, JSON logs with retention, the settings' environment."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Template

from infra import constants as c
from outdial.settings import Settings
from tests.infra.conftest import Synthesized

FUNCTION = "AWS::Lambda::Function"
SIZES = {
    "api": (c.API_MEMORY_MB, c.API_TIMEOUT.to_seconds()),
    "dialer": (c.DIALER_MEMORY_MB, c.DIALER_TIMEOUT.to_seconds()),
    "webhooks": (c.WEBHOOKS_MEMORY_MB, c.WEBHOOKS_TIMEOUT.to_seconds()),
    "sweeper": (c.SWEEPER_MEMORY_MB, c.SWEEPER_TIMEOUT.to_seconds()),
}


def test_one_function_per_handler(template: Template) -> None:
    # Given the synthesized stack / Then there is one function per handler, no more
    template.resource_count_is(FUNCTION, len(c.HANDLERS))
    for handler in c.HANDLERS.values():
        template.has_resource_properties(FUNCTION, {"Handler": handler})


@pytest.mark.parametrize("name", sorted(c.HANDLERS))
def test_function_runtime_tracing_logging(synthesized: Synthesized, name: str) -> None:
    # Given one function
    function = synthesized.stack.functions[name]
    properties = synthesized.resources[synthesized.logical_id(function)]["Properties"]
    memory, timeout = SIZES[name]

    # Then it runs arm64 Python with X-Ray on and JSON logs in its own log group
    assert properties["Architectures"] == ["arm64"]
    assert properties["Runtime"] == f"python{c.PYTHON_VERSION}"
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["LoggingConfig"]["LogFormat"] == "JSON"
    assert properties["MemorySize"] == memory
    assert properties["Timeout"] == timeout
    log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
    assert synthesized.resources[log_group]["Properties"]["RetentionInDays"] == 30


@pytest.mark.parametrize("name", sorted(c.HANDLERS))
def test_environment_carries_every_setting(synthesized: Synthesized, name: str) -> None:
    # Given every setting the handlers parse (lambdas/outdial/settings.py): a new one fails this
    # test until the stack sets it
    aliases = {field.alias for field in Settings.model_fields.values()}
    assert len(aliases) == len(Settings.model_fields)
    function = synthesized.stack.functions[name]

    # When reading the function's environment
    variables = synthesized.resources[synthesized.logical_id(function)]["Properties"][
        "Environment"
    ]["Variables"]

    # Then every setting is set, and Powertools names the service and namespace
    assert aliases <= set(variables)
    assert variables["POWERTOOLS_SERVICE_NAME"] == "outdial"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "outdial"
    # And no response body (a <call> holds phone numbers) goes into X-Ray
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert variables["OUTDIAL_CHECKSUM_TTL_SECONDS"] == "86400"
    assert variables["OUTDIAL_IDEMPOTENCY_TTL_SECONDS"] == "86400"
    assert variables["OUTDIAL_IDEMPOTENCY_LEASE_SECONDS"] == "50"  # twice the api's timeout
    # the code's knobs at values the settings model accepts (the stack states them)
    assert (
        Settings.model_validate(
            {k: v for k, v in variables.items() if isinstance(v, str)}
        ).dispatch_grace_seconds
        > c.API_TIMEOUT.to_seconds()
    )
    # secrets under this stack's own prefix
    assert variables["OUTDIAL_SECRET_PREFIX"] == f"outdial/{synthesized.stack.stack_name}/"
    assert variables["OUTDIAL_CALL_RETENTION_DAYS"] == str(
        synthesized.stack.settings.call_retention_days
    )
    assert variables["OUTDIAL_CONFIG_TABLE"] == {
        "Ref": synthesized.logical_id(synthesized.stack.data.config)
    }
    assert variables["OUTDIAL_CALLS_TABLE"] == {
        "Ref": synthesized.logical_id(synthesized.stack.data.calls)
    }
    # gateways' callbacks: this API's stage URL, built without depending on the deployment
    base_url = variables["OUTDIAL_PUBLIC_BASE_URL"]["Fn::Join"][1]
    assert base_url[0] == "https://"
    assert base_url[1] == {"Ref": synthesized.logical_id(synthesized.stack.api.rest_api)}
    assert base_url[-1].endswith(f"/{c.STAGE_NAME}")


def test_one_asset_for_all_functions(template: Template) -> None:
    keys = {
        resource["Properties"]["Code"]["S3Key"]
        for resource in template.find_resources(FUNCTION).values()
    }
    assert len(keys) == 1


def test_only_the_dialer_may_feed_its_own_queue(synthesized: Synthesized) -> None:
    # Lambda's loop detection would cut the dialer's own fan-out and next-leg messages.
    loops = {
        name: synthesized.resources[synthesized.logical_id(fn)]["Properties"]["RecursiveLoop"]
        for name, fn in synthesized.stack.functions.items()
    }
    assert loops == {
        "api": "Terminate",
        "dialer": "Allow",
        "webhooks": "Terminate",
        "sweeper": "Terminate",
    }


def test_roles_carry_no_managed_policies(synthesized: Synthesized) -> None:
    # The functions' roles may write their own log group only, not AWSLambdaBasicExecutionRole
    for function in synthesized.stack.functions.values():
        role = synthesized.resources[synthesized.logical_id(function.role)]
        assert "ManagedPolicyArns" not in role["Properties"]
