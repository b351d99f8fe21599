"""The outdial stack: one thin composition of constructs, one per capability."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, CfnOutput, Duration, RemovalPolicy, Stack, Tags, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra import constants as c
from infra.api import Api
from infra.asset import lambda_code
from infra.context import DeploySettings
from infra.credentials import Credentials
from infra.data import Data
from infra.dialer import Dialer
from infra.monitoring import Monitoring
from infra.nag import acknowledge
from infra.queues import Queues
from infra.scheduling import Scheduling
from infra.sweeper import Sweeper
from infra.webhooks import Webhooks
from outdial.contract import STACK_OUTPUTS


class OutdialStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description=c.STACK_DESCRIPTION, **kwargs)
        settings = DeploySettings.from_context(self.node)
        self._code = lambda_code()

        data = Data(self, "Data")
        queues = Queues(
            self,
            "Queues",
            dial_consumer_timeout=c.DIALER_TIMEOUT,
            webhook_consumer_timeout=c.WEBHOOKS_TIMEOUT,
        )
        scheduling = Scheduling(self, "Scheduling", dial_queue=queues.dial)
        credentials = Credentials(self, "Credentials", gateway_ids=settings.gateway_secrets)

        # Every function reads the same settings (lambdas/outdial/settings.py).
        self._environment = {
            "OUTDIAL_CONFIG_TABLE": data.config.table_name,
            "OUTDIAL_CALLS_TABLE": data.calls.table_name,
            "OUTDIAL_DIAL_QUEUE_URL": queues.dial.queue_url,
            "OUTDIAL_DIAL_QUEUE_ARN": queues.dial.queue_arn,
            "OUTDIAL_OUTCOME_QUEUE_URL": queues.outcomes.queue_url,
            "OUTDIAL_SCHEDULE_GROUP": scheduling.group.schedule_group_name,
            "OUTDIAL_SCHEDULER_ROLE_ARN": scheduling.role.role_arn,
            "OUTDIAL_WEBHOOK_QUEUE_URL": queues.webhooks.queue_url,
            "OUTDIAL_WEBHOOK_DLQ_URL": queues.webhooks_dlq.queue_url,
            "OUTDIAL_SECRET_PREFIX": credentials.prefix,
            "OUTDIAL_CHECKSUM_TTL_SECONDS": str(c.CHECKSUM_TTL_SECONDS),
            "OUTDIAL_IDEMPOTENCY_TTL_SECONDS": str(c.IDEMPOTENCY_TTL_SECONDS),
            "OUTDIAL_IDEMPOTENCY_LEASE_SECONDS": str(c.IDEMPOTENCY_LEASE_SECONDS),
            "OUTDIAL_CALL_RETENTION_DAYS": str(settings.call_retention_days),
            **{name: str(value) for name, value in c.CODE_SETTINGS.items()},
            "POWERTOOLS_SERVICE_NAME": c.METRICS_DIMENSIONS["service"],
            "POWERTOOLS_METRICS_NAMESPACE": c.METRICS_NAMESPACE,
            # Responses carry phone numbers (a <call>): traces keep timings, never bodies.
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        }
        functions = {
            "api": self._function(
                "api",
                "Validates and accepts calls, answers status queries, takes gateway events",
                memory_mb=c.API_MEMORY_MB,
                timeout=c.API_TIMEOUT,
            ),
            "dialer": self._function(
                "dialer",
                "Dials due calls leg by leg and settles their outcome",
                memory_mb=c.DIALER_MEMORY_MB,
                timeout=c.DIALER_TIMEOUT,
                # It feeds its own queue by design (fan-out, next legs), a chain bounded by a
                # call's legs; Lambda's loop detection would drop those after 16 hops.
                recursive_loop=lambda_.RecursiveLoop.ALLOW,
            ),
            "webhooks": self._function(
                "webhooks",
                "Signs and delivers terminal call outcomes to customers' webhook URLs",
                memory_mb=c.WEBHOOKS_MEMORY_MB,
                timeout=c.WEBHOOKS_TIMEOUT,
            ),
            "sweeper": self._function(
                "sweeper",
                "Finishes half-enqueued requests; ends the calls whose leg is overdue",
                memory_mb=c.SWEEPER_MEMORY_MB,
                timeout=c.SWEEPER_TIMEOUT,
            ),
        }

        api = Api(
            self,
            "Api",
            function=functions["api"],
            data=data,
            queues=queues,
            scheduling=scheduling,
            credentials=credentials,
            settings=settings,
        )
        for function in functions.values():  # where gateways post leg outcomes back
            function.add_environment("OUTDIAL_PUBLIC_BASE_URL", api.base_url)
        dialer = Dialer(
            self,
            "Dialer",
            function=functions["dialer"],
            data=data,
            queues=queues,
            scheduling=scheduling,
            credentials=credentials,
            max_concurrency=settings.dialer_max_concurrency,
        )
        webhooks = Webhooks(
            self,
            "Webhooks",
            function=functions["webhooks"],
            data=data,
            queues=queues,
            credentials=credentials,
        )
        sweeper = Sweeper(
            self,
            "Sweeper",
            function=functions["sweeper"],
            data=data,
            queues=queues,
            scheduling=scheduling,
            credentials=credentials,
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            api=api.rest_api,
            functions=functions,
            data=data,
            queues=queues,
            scheduling=scheduling,
            alarm_email=settings.alarm_email,
        )

        # What the infra tests (and anyone composing this stack) reach for.
        self.settings, self.data, self.queues = settings, data, queues
        self.scheduling, self.credentials, self.functions = scheduling, credentials, functions
        self.api, self.dialer, self.webhooks, self.sweeper = api, dialer, webhooks, sweeper
        self.monitoring = monitoring

        # The resources the command line works on (`outdial --stack Outdial ...` reads these).
        for key, variable in STACK_OUTPUTS.items():
            self._outputs(**{key: (self._environment[variable], f"{variable} of the functions")})
        self._outputs(
            ApiUrl=(api.url, "Base URL of the API (append outbound/create, health, ...)"),
            DialDlqUrl=(queues.dial_dlq.queue_url, "Dial messages that kept failing"),
            AlarmTopicArn=(monitoring.topic.topic_arn, "Subscribe to receive the alarms"),
            DashboardUrl=(
                f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region="
                f"{self.region}#dashboards/dashboard/{monitoring.dashboard.dashboard_name}",
                "The CloudWatch dashboard",
            ),
        )

    def _function(
        self,
        name: str,
        description: str,
        *,
        memory_mb: int,
        timeout: Duration,
        recursive_loop: lambda_.RecursiveLoop = lambda_.RecursiveLoop.TERMINATE,
    ) -> lambda_.Function:
        """One outdial function: the shared asset, arm64, JSON logs to its own log group with a
        retention, X-Ray active, and a role that may write only its own logs until granted more."""
        scope = Construct(self, f"{name.capitalize()}Function")
        log_group = logs.LogGroup(
            scope,
            "Logs",
            retention=c.LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,  # bounded by retention anyway
        )
        # Our own role instead of AWSLambdaBasicExecutionRole (logs:* on every log group).
        role = iam.Role(
            scope,
            "Role",
            description=f"outdial {name} function",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            scope,
            "Handler",
            description=f"outdial {name}: {description}",
            code=self._code,
            handler=c.HANDLERS[name],
            runtime=c.LAMBDA_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,  # cheaper per GB-s; the wheels match it
            memory_size=memory_mb,
            timeout=timeout,
            environment=self._environment,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=log_group,
            role=role,
            recursive_loop=recursive_loop,
        )
        acknowledge(
            role,
            "IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level "
            "permissions (tracing is active on every function).",
        )
        acknowledge(
            function,
            "L1",
            f"Pinned to Python {c.PYTHON_VERSION}: the runtime closest to the 3.11 the tests "
            "run on, and the version the bundled wheels (pydantic_core is compiled) are "
            "fetched for; moving runtime is a deliberate change of constants.PYTHON_VERSION.",
        )
        return function

    def _outputs(self, **outputs: tuple[str, str]) -> None:
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description)


def build(app: App) -> OutdialStack:
    """The stack on ``app``, with cdk-nag's AwsSolutions checks run on every synth."""
    stack = OutdialStack(app, c.STACK_ID)
    Tags.of(stack).add("project", "outdial")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack
