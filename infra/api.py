"""Api: the REST API in front of the api function (every route of SPEC §2-3 + gateway events)."""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra import constants as c
from infra.context import DeploySettings
from infra.credentials import Credentials
from infra.data import Data
from infra.nag import acknowledge
from infra.queues import Queues
from infra.scheduling import Scheduling
from outdial.contract import Code

_F = apigateway.AccessLogField

# One JSON object per request: enough to follow a request from the client to the function.
ACCESS_LOG_FORMAT = {
    "requestId": _F.context_request_id(),
    "ip": _F.context_identity_source_ip(),
    "requestTime": _F.context_request_time(),
    "method": _F.context_http_method(),
    "resourcePath": _F.context_resource_path(),
    "path": _F.context_path(),
    "status": _F.context_status(),
    "protocol": _F.context_protocol(),
    "responseLength": _F.context_response_length(),
    "responseLatency": _F.context_response_latency(),
    "integrationStatus": _F.context_integration_status(),
    "integrationLatency": _F.context_integration_latency(),
    "errorType": _F.context_error_response_type(),
    "userAgent": _F.context_identity_user_agent(),
    "xrayTraceId": _F.context_xray_trace_id(),
}


def access_log_format() -> str:
    """ACCESS_LOG_FORMAT as one JSON line, plus the error message as
    ``$context.error.messageString``: API Gateway quotes and escapes that one itself, so a
    message with quotes in it still makes a valid line (``"$context.error.message"`` would not;
    the integration's raw error text has no quoted form and is left out for the same reason)."""
    fields = json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":"))
    return fields[:-1] + f',"error":{_F.context_error_message_string()}}}'


def _contract_body(code: Code, detail: str | None = None) -> str:
    """A gateway-made response in the contract's shape (SPEC §2: every body carries the code)."""
    body = json.dumps({"api-response-code": code.code, "api-response-message": code.message})
    # $context.error.messageString is already a quoted JSON string.
    return body[:-1] + f',"error-detail":{detail}}}' if detail else body


# Answers API Gateway gives before the function runs, rewritten into the contract's shape.
GATEWAY_RESPONSES = (
    # An unknown path: the function's own answer for unknown routes.
    (apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN, Code.NOT_FOUND, Code.NOT_FOUND.http),
    # Over API Gateway's 10 MB payload limit: SPEC check 1, as the function answers anything over
    # 1 MiB. (Between Lambda's 6 MB invoke limit and 10 MB the invoke fails: DEFAULT_5XX below.)
    (apigateway.ResponseType.REQUEST_TOO_LARGE, Code.INVALID_FORMAT, Code.INVALID_FORMAT.http),
    # Stage throttling (SPEC §12): 429 with the contract's own code, so clients back off.
    (apigateway.ResponseType.THROTTLED, Code.TOO_MANY_REQUESTS, Code.TOO_MANY_REQUESTS.http),
    (apigateway.ResponseType.DEFAULT_4_XX, Code.INVALID_FORMAT, None),
    # Integration failures and timeouts: SPEC "unexpected faults -> 500 FAILURE".
    (apigateway.ResponseType.DEFAULT_5_XX, Code.FAILURE, Code.FAILURE.http),
)


class Api(Construct):
    """The contract's front door: validates nothing itself, throttles, logs, traces."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        data: Data,
        queues: Queues,
        scheduling: Scheduling,
        credentials: Credentials,
        settings: DeploySettings,
    ) -> None:
        super().__init__(scope, construct_id)
        data.grant_read_write(function)  # transactions, batches, conditional balance updates
        queues.dial.grant_send_messages(function)  # calls whose start-time is now or past
        queues.outcomes.grant_send_messages(function)  # gateway events (leg outcomes)
        queues.webhooks.grant_send_messages(function)  # a cancelled call's webhook
        scheduling.grant_manage_schedules(function)  # start-time ahead; cancellation
        credentials.grant_gateway_secrets(function)  # gateway outcome events' HMAC
        access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=c.LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,  # bounded by retention anyway
        )
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            description="outdial: the vendor-compatible Outbound Make Call API",
            # Regional: clients call from their own servers, not browsers worldwide; a
            # CloudFront hop (EDGE) would add latency and nothing else.
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            # Per stack: the dashboard and alarms select the API by this name.
            rest_api_name=f"{Stack.of(self).stack_name}-api",
            # A stage that logs needs the account's API Gateway CloudWatch role: created with the
            # stack (AWS::ApiGateway::Account, a regional singleton), so the first deploy in a
            # fresh account succeeds; kept on delete, since every other API in the account and
            # region relies on the same setting.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigateway.StageOptions(
                stage_name=c.STAGE_NAME,
                throttling_rate_limit=settings.throttle_rate_limit,
                throttling_burst_limit=settings.throttle_burst_limit,
                tracing_enabled=True,
                # Execution logs of failures only: the access log already has every request.
                logging_level=apigateway.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                access_log_destination=apigateway.LogGroupLogDestination(access_logs),
                access_log_format=apigateway.AccessLogFormat.custom(access_log_format()),
            ),
        )
        # The stack outputs the URL as ApiUrl; RestApi's own unnamed copy would only confuse.
        self.rest_api.node.try_remove_child("Endpoint")
        # One integration and one invoke permission for every route: the function routes.
        integration = apigateway.LambdaIntegration(function, scope_permission_to_method=False)
        for method, path in c.ROUTES:
            self.rest_api.root.resource_for_path(path).add_method(method, integration)
        for response_type, code, status in GATEWAY_RESPONSES:
            detail = "$context.error.messageString" if status != code.http else None
            self.rest_api.add_gateway_response(
                f"{response_type.response_type}Response",
                type=response_type,
                status_code=str(status) if status else None,
                templates={"application/json": _contract_body(code, detail)},
                # A throttled client may try again in the next second, as the function says.
                response_headers=(
                    {"Retry-After": "'1'"} if code is Code.TOO_MANY_REQUESTS else None
                ),
            )
        self.web_acl = (
            self._rate_limit_per_ip(settings.waf_rate_limit) if settings.waf_rate_limit else None
        )
        self._acknowledge()

    def _rate_limit_per_ip(self, limit: int) -> wafv2.CfnWebACL:
        """The opt-in web ACL: a rate-based rule per source IP, answered like the stage's own
        throttle (429, code 608), in front of the stage. Per IP rather than per flow: it stops a
        single source (authenticated or not) before it reaches the function; per-flow limits
        are the function's (flow ``requests-per-second``)."""
        name = f"{Stack.of(self).stack_name}-api"
        body_key = "too-many-requests"
        visibility = wafv2.CfnWebACL.VisibilityConfigProperty
        acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            custom_response_bodies={
                body_key: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type="APPLICATION_JSON",
                    content=_contract_body(Code.TOO_MANY_REQUESTS),
                )
            },
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="rate-per-source-ip",
                    priority=0,
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=limit, aggregate_key_type="IP"
                        )
                    ),
                    action=wafv2.CfnWebACL.RuleActionProperty(
                        block=wafv2.CfnWebACL.BlockActionProperty(
                            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                                response_code=Code.TOO_MANY_REQUESTS.http,
                                custom_response_body_key=body_key,
                            )
                        )
                    ),
                    visibility_config=visibility(
                        cloud_watch_metrics_enabled=True,
                        metric_name=f"{name}-rate-per-ip",
                        sampled_requests_enabled=True,
                    ),
                )
            ],
            visibility_config=visibility(
                cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
            ),
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.rest_api.deployment_stage.stage_arn,
            web_acl_arn=acl.attr_arn,
        )
        return acl

    @property
    def url(self) -> str:
        return self.rest_api.url

    @property
    def base_url(self) -> str:
        """The stage's URL built from the API's id alone: the functions' environment can carry
        it without depending on the deployment (which depends on their integrations)."""
        stack = Stack.of(self)
        return (
            f"https://{self.rest_api.rest_api_id}.execute-api.{stack.region}."
            f"{stack.url_suffix}/{c.STAGE_NAME}"
        )

    def _acknowledge(self) -> None:
        reason_auth = (
            "The contract (SPEC §2-3) authenticates every call itself, as the vendor's API does: "
            "the flow's security-id (compared in constant time against a stored hash) and the "
            "account's IP whitelist, checked by the function in the contract's order with the "
            "contract's error codes; gateway events carry an HMAC of their shared secret; "
            "GET /health and GET /openapi.json are public by contract. Clients switch to "
            "outdial by changing a base URL, so no IAM, Cognito or API-key scheme can be "
            "imposed on them."
        )
        acknowledge(self.rest_api, "APIG4", reason_auth)
        acknowledge(self.rest_api, "COG4", reason_auth)
        acknowledge(
            self.rest_api,
            "APIG2",
            "API Gateway request validation would answer malformed requests with its own "
            "{message} bodies; the contract fixes both the order of the checks and their codes "
            "(SPEC §2 checks 1-13), so the function validates every request itself.",
        )
        if self.web_acl is None:
            acknowledge(
                self.rest_api,
                "APIG3",
                "No WAF web ACL unless the deployment opts in (context outdial:wafRateLimitPerIp,"
                " a rate-based rule per source IP answering 429/608): who may call is decided "
                "per account (IP whitelist CIDRs and the flow's security-id, in the function), "
                "the stage's rate and burst limits bound all traffic, and each flow's "
                "requests-per-second bounds one tenant. WAF bills per web ACL and request.",
            )
        role = self.rest_api.node.try_find_child("CloudWatchRole")
        assert role is not None
        acknowledge(
            role,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "The API Gateway account's CloudWatch role is the one role API Gateway itself assumes "
            "to write execution and access logs for every API of the account; AWS's managed "
            "policy is the documented one for it and follows API Gateway's needs.",
        )
