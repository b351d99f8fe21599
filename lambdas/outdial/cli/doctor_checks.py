"""The checks of `outdial doctor`, the pre-flight of `make deploy`: one line per check, ok or
what to do.

Each check reads one thing from AWS (nothing is written) and answers with a ``Finding``:
credentials and region, the CDK bootstrap stack, the account's Lambda concurrency against what
the stack's functions may use at once, and the account-level API Gateway CloudWatch role.
``FAIL`` means `cdk deploy` would fail or the stack could not run; ``WARN`` means it deploys but
something needs attention. Clients are injectable so the checks run offline against stubs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from outdial.contract import WEBHOOK_MAX_CONCURRENCY

# `cdk bootstrap`'s default qualifier, and the oldest bootstrap stack CDK v2 deploys with.
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
MIN_BOOTSTRAP_VERSION = 6
DIALER_CONCURRENCY_CONTEXT = "outdial:dialerMaxConcurrency"
DEFAULT_DIALER_CONCURRENCY = 10
# What the api and the sweeper may run at once besides the queue consumers: the api's burst
# (requests a second x a few hundred ms each) and one sweeper run.
API_CONCURRENCY_ALLOWANCE = 10
SWEEPER_CONCURRENCY = 1
LAMBDA_CONCURRENCY_QUOTA = "L-B99A9384"  # Service Quotas code of "Concurrent executions"


class Status(Enum):
    OK = "ok"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    """One check's answer: what was found, or what to do about it."""

    check: str
    status: Status
    detail: str

    def line(self) -> str:
        return f"{self.status.value:<4}  {self.check:<12} {self.detail}"


def _why(exc: Exception) -> str:
    """An AWS error on one short line (an endpoint may answer with a whole HTML page)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        text = f"{error.get('Code', '?')}: {error.get('Message', '')}"
    else:
        text = str(exc)
    text = " ".join(text.split())
    return text if len(text) <= 120 else text[:117] + "..."


def resolve_region(environ: Mapping[str, str], configured: str | None) -> str | None:
    """``AWS_REGION`` (what Lambda and the CDK CLI read first), else ``AWS_DEFAULT_REGION``,
    else the profile's region."""
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or configured or None


def dialer_concurrency(cdk_json: Path) -> int:
    """The dialer's maximum concurrency the stack will deploy with (cdk.json's context)."""
    try:
        context = json.loads(cdk_json.read_text()).get("context", {})
        return int(context.get(DIALER_CONCURRENCY_CONTEXT, DEFAULT_DIALER_CONCURRENCY))
    except (OSError, ValueError, TypeError, AttributeError):
        return DEFAULT_DIALER_CONCURRENCY


ClientFactory = Callable[[str, str], Any]  # (service, region) -> client


@dataclass
class Doctor:
    clients: ClientFactory
    environ: Mapping[str, str]
    configured_region: str | None = None
    dialer_concurrency: int = DEFAULT_DIALER_CONCURRENCY

    def run(self) -> list[Finding]:
        """Every check in order; those that need credentials are skipped without them."""
        region_finding, region = self.region()
        findings = [region_finding]
        if region is None:
            return findings
        credentials, account = self.credentials(region)
        findings.append(credentials)
        if account is None:
            skipped = "skipped: needs working credentials"
            return findings + [
                Finding(name, Status.WARN, skipped)
                for name in ("bootstrap", "concurrency", "api-logging")
            ]
        return [
            *findings,
            self.bootstrap(region, account),
            self.concurrency(region),
            self.api_logging_role(region),
        ]

    def region(self) -> tuple[Finding, str | None]:
        region = resolve_region(self.environ, self.configured_region)
        if region is None:
            return Finding(
                "region",
                Status.FAIL,
                "no region: export AWS_REGION=<region> (or AWS_DEFAULT_REGION, or set region "
                "in your AWS profile)",
            ), None
        both = self.environ.get("AWS_REGION"), self.environ.get("AWS_DEFAULT_REGION")
        if all(both) and both[0] != both[1]:
            return Finding(
                "region",
                Status.WARN,
                f"{region} from AWS_REGION; AWS_DEFAULT_REGION says {both[1]}: unset one so "
                "every tool deploys to the same region",
            ), region
        return Finding("region", Status.OK, region), region

    def credentials(self, region: str) -> tuple[Finding, str | None]:
        try:
            identity = self.clients("sts", region).get_caller_identity()
        except NoCredentialsError:
            return Finding(
                "credentials",
                Status.FAIL,
                "no AWS credentials found: run `aws configure` or `aws sso login`, or export "
                "AWS_PROFILE",
            ), None
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            return Finding(
                "credentials",
                Status.FAIL,
                f"AWS refused the credentials ({code}): refresh them (`aws sso login`, new keys)",
            ), None
        except BotoCoreError as exc:
            return Finding("credentials", Status.FAIL, f"cannot reach AWS STS: {_why(exc)}"), None
        account = str(identity["Account"])
        return Finding(
            "credentials", Status.OK, f"account {account} as {identity.get('Arn', '?')}"
        ), account

    def bootstrap(self, region: str, account: str) -> Finding:
        command = f"npx cdk bootstrap aws://{account}/{region}"
        try:
            parameter = self.clients("ssm", region).get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ParameterNotFound":
                return Finding(
                    "bootstrap",
                    Status.FAIL,
                    f"{account}/{region} is not bootstrapped for the CDK: run `{command}` once",
                )
            return Finding(
                "bootstrap",
                Status.WARN,
                f"cannot read {BOOTSTRAP_VERSION_PARAMETER} ({code}); if the deploy says the "
                f"environment is not bootstrapped, run `{command}`",
            )
        except BotoCoreError as exc:
            return Finding("bootstrap", Status.WARN, f"cannot reach SSM: {_why(exc)}")
        version = int(parameter["Parameter"]["Value"])
        if version < MIN_BOOTSTRAP_VERSION:
            return Finding(
                "bootstrap",
                Status.FAIL,
                f"bootstrap stack version {version} is older than {MIN_BOOTSTRAP_VERSION}: "
                f"run `{command}` to upgrade it",
            )
        return Finding("bootstrap", Status.OK, f"CDK bootstrap version {version}")

    def concurrency(self, region: str) -> Finding:
        # The dialer has two event sources (the dial and the outcome queues), each capped alike.
        need = (
            2 * self.dialer_concurrency
            + WEBHOOK_MAX_CONCURRENCY
            + SWEEPER_CONCURRENCY
            + API_CONCURRENCY_ALLOWANCE
        )
        parts = (
            f"dialer 2 x {self.dialer_concurrency} + webhooks {WEBHOOK_MAX_CONCURRENCY} + sweeper "
            f"{SWEEPER_CONCURRENCY} + api ~{API_CONCURRENCY_ALLOWANCE}"
        )
        try:
            settings = self.clients("lambda", region).get_account_settings()
        except (ClientError, BotoCoreError) as exc:
            return Finding("concurrency", Status.WARN, f"cannot read Lambda's limits: {_why(exc)}")
        limit = int(settings["AccountLimit"]["ConcurrentExecutions"])
        unreserved = int(settings["AccountLimit"].get("UnreservedConcurrentExecutions", limit))
        if unreserved < need:
            return Finding(
                "concurrency",
                Status.WARN,
                f"the account runs {unreserved} unreserved Lambda executions at once (of "
                f"{limit}); the stack may use {need} ({parts}): calls would wait on throttled "
                f"dialers. Request more (Service Quotas > AWS Lambda > Concurrent executions, "
                f"{LAMBDA_CONCURRENCY_QUOTA}) or deploy with -c "
                f"{DIALER_CONCURRENCY_CONTEXT}=<fewer>",
            )
        return Finding(
            "concurrency",
            Status.OK,
            f"{unreserved} unreserved executions (of {limit}) cover the stack's {need} ({parts})",
        )

    def api_logging_role(self, region: str) -> Finding:
        try:
            account = self.clients("apigateway", region).get_account()
        except (ClientError, BotoCoreError) as exc:
            return Finding(
                "api-logging", Status.WARN, f"cannot read API Gateway's account: {_why(exc)}"
            )
        role = account.get("cloudwatchRoleArn")
        if role:
            return Finding(
                "api-logging",
                Status.OK,
                f"account CloudWatch role set ({role}); the stack sets its own there and keeps "
                "it when deleted",
            )
        return Finding(
            "api-logging",
            Status.OK,
            "no account CloudWatch role yet: the stack creates it with the API (kept when the "
            "stack is deleted, for every API of the account)",
        )


def aws_clients(profile_session: Any) -> ClientFactory:
    """Clients of one botocore session, each for the region the doctor resolved."""

    def make(service: str, region: str) -> Any:
        return profile_session.create_client(service, region_name=region)

    return make


def run(cdk_json: Path = Path("cdk.json"), environ: Mapping[str, str] | None = None) -> int:
    """Print every finding; 1 when any failed (the deploy should not start)."""
    import botocore.session

    session = botocore.session.get_session()
    try:
        configured = session.get_config_variable("region")
    except BotoCoreError:  # a broken profile: the credentials check reports it
        configured = None
    doctor = Doctor(
        clients=aws_clients(session),
        environ=os.environ if environ is None else environ,
        configured_region=configured,
        dialer_concurrency=dialer_concurrency(cdk_json),
    )
    findings = doctor.run()
    for finding in findings:
        print(finding.line())
    return 1 if any(f.status is Status.FAIL for f in findings) else 0
