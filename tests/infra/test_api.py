"""The REST API: every contract route to the api function, throttling, logs, tracing, errors."""

from __future__ import annotations

import json
import re
from typing import Any

from infra import constants as c
from outdial.models.codes import Code
from tests.infra.conftest import Synthesized


def _of_type(s: Synthesized, kind: str) -> dict[str, Any]:
    return {k: v for k, v in s.resources.items() if v["Type"] == kind}


def _paths(s: Synthesized) -> dict[str, str]:
    """Resource id -> full path, rebuilt from the PathPart/ParentId chain."""
    resources = _of_type(s, "AWS::ApiGateway::Resource")

    def path(resource_id: str) -> str:
        properties = resources[resource_id]["Properties"]
        parent = properties["ParentId"]
        prefix = path(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{properties['PathPart']}"

    return {resource_id: path(resource_id) for resource_id in resources}


def test_every_contract_route_reaches_the_api_function(synthesized: Synthesized) -> None:
    # Given the methods of the REST API
    paths = _paths(synthesized)
    api_fn = synthesized.logical_id(synthesized.stack.functions["api"])
    routes = set()
    for method in _of_type(synthesized, "AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        routes.add((properties["HttpMethod"], paths[properties["ResourceId"]["Ref"]]))
        # Then each is a Lambda proxy integration of the api function
        integration = properties["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        assert api_fn in json.dumps(integration["Uri"])
        assert properties["AuthorizationType"] == "NONE"  # the contract authenticates itself

    # And the routes are exactly SPEC §2-3 plus the gateways' events
    assert routes == set(c.ROUTES)


def test_one_invoke_permission_scoped_to_this_api(synthesized: Synthesized) -> None:
    api_function = synthesized.logical_id(synthesized.stack.functions["api"])
    (permission,) = [
        p
        for p in _of_type(synthesized, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [api_function, "Arn"]}
    ]
    properties = permission["Properties"]
    assert properties["Principal"] == "apigateway.amazonaws.com"
    assert synthesized.logical_id(synthesized.stack.api.rest_api) in json.dumps(
        properties["SourceArn"]
    )


def test_stage_throttles_traces_and_logs_json(synthesized: Synthesized) -> None:
    # Given the deployed stage
    (stage,) = _of_type(synthesized, "AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    settings = synthesized.stack.settings

    # Then rate and burst come from context, for every method
    assert properties["StageName"] == c.STAGE_NAME
    assert properties["MethodSettings"] == [
        {
            "DataTraceEnabled": False,
            "LoggingLevel": "ERROR",  # execution logs of failures; the access log has the rest
            "HttpMethod": "*",
            "ResourcePath": "/*",
            "ThrottlingBurstLimit": settings.throttle_burst_limit,
            "ThrottlingRateLimit": settings.throttle_rate_limit,
        }
    ]
    # And X-Ray traces it
    assert properties["TracingEnabled"] is True
    # And each request is one JSON access-log line in a log group with a retention
    access = properties["AccessLogSetting"]
    line = json.loads(access["Format"].replace("$context.error.messageString", '"detail"'))
    assert {"requestId", "ip", "status", "integrationLatency", "xrayTraceId"} <= set(line)
    (log_group,) = [
        ref["Ref"]
        for ref in access["DestinationArn"]["Fn::Join"][1]
        if isinstance(ref, dict) and ref.get("Ref", "").startswith("ApiAccessLogs")
    ]
    assert synthesized.resources[log_group]["Properties"]["RetentionInDays"] == 30


def test_access_log_line_is_json_whatever_the_error_says(synthesized: Synthesized) -> None:
    # Given the access-log format, and an error message with quotes, a backslash and a newline
    (stage,) = _of_type(synthesized, "AWS::ApiGateway::Stage").values()
    text = stage["Properties"]["AccessLogSetting"]["Format"]
    message = 'Invalid "body" \\ at\nline 2'
    assert "$context.error.messageString" in text
    assert '"$context.error.message' not in text

    # When API Gateway substitutes its variables (messageString arrives quoted and escaped; the
    # others are plain tokens without quotes)
    line = text.replace("$context.error.messageString", json.dumps(message))
    for variable in set(re.findall(r"\$context\.[A-Za-z.]+", line)):
        line = line.replace(variable, "x-1")

    # Then the line is one JSON object carrying the message intact
    assert json.loads(line)["error"] == message


def test_regional_endpoint_named_by_stack_with_the_account_role(synthesized: Synthesized) -> None:
    # Given the REST API
    (api,) = _of_type(synthesized, "AWS::ApiGateway::RestApi").values()
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    # Then its name carries the stack's (the dashboard and the 5XX alarm select it by name)
    assert api["Properties"]["Name"] == f"{synthesized.stack.stack_name}-api"
    # And the account's API Gateway CloudWatch role comes with the stack, kept on delete, and
    # the stage waits for it: a first deploy in a fresh account does not fail on logging
    ((account_id, account),) = _of_type(synthesized, "AWS::ApiGateway::Account").items()
    assert account["DeletionPolicy"] == "Retain"
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = synthesized.resources[role_id]
    assert role["DeletionPolicy"] == "Retain"
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    (stage_id,) = _of_type(synthesized, "AWS::ApiGateway::Stage")
    deployment = synthesized.resources[stage_id]["Properties"]["DeploymentId"]["Ref"]
    assert account_id in synthesized.resources[deployment].get(
        "DependsOn", []
    ) + synthesized.resources[stage_id].get("DependsOn", [])


def test_gateway_made_answers_speak_the_contract(synthesized: Synthesized) -> None:
    # Given API Gateway's own answers (unknown path, too large, throttled, other 4XX/5XX)
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in _of_type(synthesized, "AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(responses) == {
        "MISSING_AUTHENTICATION_TOKEN",
        "REQUEST_TOO_LARGE",
        "THROTTLED",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
    }
    codes = {code.code: code for code in Code}
    for properties in responses.values():
        # Then every body carries a contract code and its message (SPEC §2)
        text = properties["ResponseTemplates"]["application/json"]
        body = json.loads(text.replace("$context.error.messageString", '"detail"'))
        code = codes[body["api-response-code"]]
        assert body["api-response-message"] == code.message
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"
    assert responses["REQUEST_TOO_LARGE"]["StatusCode"] == "400"  # check 1: body over 1 MiB
    assert responses["THROTTLED"]["StatusCode"] == "429"  # SPEC §12: 429 with code 608
    throttled = json.loads(responses["THROTTLED"]["ResponseTemplates"]["application/json"])
    assert throttled["api-response-code"] == Code.TOO_MANY_REQUESTS.code == 608
    assert responses["THROTTLED"]["ResponseParameters"] == {
        "gatewayresponse.header.Retry-After": "'1'"
    }
    assert responses["DEFAULT_5XX"]["StatusCode"] == "500"
