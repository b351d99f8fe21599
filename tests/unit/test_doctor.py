"""`outdial doctor`: each pre-flight check answers ok, or says what to do, offline (Stubber)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.credentials import CredentialResolver
from botocore.stub import Stubber

from outdial.cli.doctor_checks import (
    BOOTSTRAP_VERSION_PARAMETER,
    Doctor,
    Status,
    dialer_concurrency,
    resolve_region,
)

REGION = "ap-south-1"
ACCOUNT = "123456789012"
IDENTITY = {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/ops", "UserId": "AIDA1"}


class Stubs:
    """One stubbed client per service, handed to the doctor as its client factory."""

    def __init__(self) -> None:
        session = botocore.session.get_session()
        self.clients = {
            service: session.create_client(
                service,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            for service in ("sts", "ssm", "lambda", "apigateway")
        }
        self.stubbers = {name: Stubber(client) for name, client in self.clients.items()}
        self.regions: list[str] = []

    def factory(self, service: str, region: str) -> Any:
        self.regions.append(region)
        return self.clients[service]

    def healthy(self, *, limit: int = 1000, role: str | None = "arn:aws:iam::1:role/logs") -> None:
        self.stubbers["sts"].add_response("get_caller_identity", IDENTITY)
        self.stubbers["ssm"].add_response(
            "get_parameter",
            {"Parameter": {"Name": BOOTSTRAP_VERSION_PARAMETER, "Value": "27", "Type": "String"}},
            {"Name": BOOTSTRAP_VERSION_PARAMETER},
        )
        self.stubbers["lambda"].add_response(
            "get_account_settings",
            {
                "AccountLimit": {
                    "ConcurrentExecutions": limit,
                    "UnreservedConcurrentExecutions": limit,
                }
            },
        )
        self.stubbers["apigateway"].add_response(
            "get_account", {"cloudwatchRoleArn": role} if role else {}
        )


@pytest.fixture
def stubs() -> Iterator[Stubs]:
    made = Stubs()
    for stubber in made.stubbers.values():
        stubber.activate()
    yield made
    for stubber in made.stubbers.values():
        stubber.deactivate()


def doctor(stubs: Stubs, **environ: str) -> Doctor:
    return Doctor(clients=stubs.factory, environ=environ or {"AWS_REGION": REGION})


def by_check(findings: list[Any]) -> dict[str, Any]:
    return {f.check: f for f in findings}


def test_everything_in_place_is_all_ok(stubs: Stubs) -> None:
    # Given an account that is bootstrapped, has the default 1,000 executions and a log role
    stubs.healthy()

    # When the doctor runs
    findings = doctor(stubs).run()

    # Then every line is ok, in order, and every client was asked in the resolved region
    assert [f.check for f in findings] == [
        "region",
        "credentials",
        "bootstrap",
        "concurrency",
        "api-logging",
    ]
    assert all(f.status is Status.OK for f in findings), [f.line() for f in findings]
    assert ACCOUNT in by_check(findings)["credentials"].detail
    assert set(stubs.regions) == {REGION}


def test_aws_region_wins_and_a_disagreement_is_a_warning(stubs: Stubs) -> None:
    stubs.healthy()
    findings = by_check(doctor(stubs, AWS_REGION=REGION, AWS_DEFAULT_REGION="us-east-1").run())
    assert findings["region"].status is Status.WARN
    assert "us-east-1" in findings["region"].detail
    assert set(stubs.regions) == {REGION}


def test_region_falls_back_to_default_region_then_profile() -> None:
    assert resolve_region({"AWS_DEFAULT_REGION": "eu-west-1"}, "us-east-1") == "eu-west-1"
    assert resolve_region({}, "us-east-1") == "us-east-1"
    assert resolve_region({}, None) is None


def test_no_region_fails_and_says_what_to_export(stubs: Stubs) -> None:
    findings = Doctor(clients=stubs.factory, environ={}).run()
    assert [(f.check, f.status) for f in findings] == [("region", Status.FAIL)]
    assert "export AWS_REGION" in findings[0].detail


def test_no_credentials_fails_and_skips_the_rest(stubs: Stubs) -> None:
    # Given no credentials anywhere
    # (a session whose credential chain finds nothing: botocore refuses to sign, offline)
    bare = botocore.session.Session()
    bare.register_component("credential_provider", CredentialResolver(providers=[]))
    stubs.clients["sts"] = bare.create_client("sts", region_name=REGION)

    # When the doctor runs / Then credentials fail with the fix, and the rest are skipped
    findings = by_check(doctor(stubs).run())
    assert findings["credentials"].status is Status.FAIL
    assert "aws sso login" in findings["credentials"].detail
    for name in ("bootstrap", "concurrency", "api-logging"):
        assert findings[name].detail.startswith("skipped")


def test_expired_credentials_fail(stubs: Stubs) -> None:
    stubs.stubbers["sts"].add_client_error("get_caller_identity", "ExpiredToken", "expired")
    findings = by_check(doctor(stubs).run())
    assert findings["credentials"].status is Status.FAIL
    assert "ExpiredToken" in findings["credentials"].detail


def test_missing_bootstrap_fails_with_the_command(stubs: Stubs) -> None:
    # Given an account that never ran `cdk bootstrap` in this region
    stubs.stubbers["sts"].add_response("get_caller_identity", IDENTITY)
    stubs.stubbers["ssm"].add_client_error("get_parameter", "ParameterNotFound", "missing")
    stubs.stubbers["lambda"].add_response(
        "get_account_settings",
        {"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000}},
    )
    stubs.stubbers["apigateway"].add_response("get_account", {})

    findings = by_check(doctor(stubs).run())

    # Then the bootstrap line fails and names the exact command
    assert findings["bootstrap"].status is Status.FAIL
    assert f"npx cdk bootstrap aws://{ACCOUNT}/{REGION}" in findings["bootstrap"].detail


def test_old_bootstrap_fails(stubs: Stubs) -> None:
    stubs.stubbers["sts"].add_response("get_caller_identity", IDENTITY)
    stubs.stubbers["ssm"].add_response(
        "get_parameter",
        {"Parameter": {"Name": BOOTSTRAP_VERSION_PARAMETER, "Value": "4", "Type": "String"}},
    )
    stubs.stubbers["lambda"].add_client_error("get_account_settings", "AccessDenied", "no")
    stubs.stubbers["apigateway"].add_response("get_account", {})
    findings = by_check(doctor(stubs).run())
    assert findings["bootstrap"].status is Status.FAIL
    assert "older than" in findings["bootstrap"].detail
    # an unreadable limit is a warning, not a failure
    assert findings["concurrency"].status is Status.WARN


def test_a_new_accounts_ten_executions_warn_with_the_quota_to_raise(stubs: Stubs) -> None:
    # Given a new account's quota of 10 concurrent executions
    stubs.healthy(limit=10)

    findings = by_check(doctor(stubs).run())

    # Then the concurrency line warns with the stack's needs and the quota to raise
    line = findings["concurrency"]
    assert line.status is Status.WARN
    # dialer 2 x 10 (its dial and outcome queues) + webhooks 10 + sweeper 1 + api 10
    assert "the stack may use 41" in line.detail
    assert "L-B99A9384" in line.detail


def test_missing_api_gateway_role_is_created_by_the_stack(stubs: Stubs) -> None:
    stubs.healthy(role=None)
    line = by_check(doctor(stubs).run())["api-logging"]
    assert line.status is Status.OK
    assert "the stack creates it" in line.detail


def test_dialer_concurrency_comes_from_cdk_json(tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"outdial:dialerMaxConcurrency": 40}}))
    assert dialer_concurrency(cdk_json) == 40
    assert dialer_concurrency(tmp_path / "absent.json") == 10
