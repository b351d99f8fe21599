"""`outdial doctor` over HTTP: the pre-flight run against `outdial serve`'s embedded AWS."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import boto3
import pytest

from outdial.cli.doctor_checks import BOOTSTRAP_VERSION_PARAMETER
from tests.e2e.conftest import Served, outdial

pytestmark = pytest.mark.e2e


def doctor(served: Served, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"outdial:dialerMaxConcurrency": 5}}))
    return outdial("doctor", "--cdk-json", str(cdk_json), served=served, env=extra, region=None)


def lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {line.split()[1]: line for line in result.stdout.splitlines() if line.strip()}


def test_doctor_without_a_region_fails_with_what_to_export(served: Served, tmp_path: Path) -> None:
    result = doctor(served, tmp_path, AWS_CONFIG_FILE=str(tmp_path / "none"))
    assert result.returncode == 1
    assert "export AWS_REGION" in lines(result)["region"]


def test_doctor_reports_bootstrap_then_passes_once_bootstrapped(
    served: Served, tmp_path: Path
) -> None:
    # Given the embedded AWS, reached with AWS_REGION only (not AWS_DEFAULT_REGION)
    region = "ap-south-1"

    # When the doctor runs before any `cdk bootstrap`
    first = doctor(served, tmp_path, AWS_REGION=region)

    # Then it names the account, fails the bootstrap line with the command, and exits 1
    found = lines(first)
    assert found["region"].startswith("ok") and region in found["region"]
    assert found["credentials"].startswith("ok")
    assert found["bootstrap"].startswith("FAIL")
    assert f"npx cdk bootstrap aws://123456789012/{region}" in found["bootstrap"]
    assert first.returncode == 1

    # When the bootstrap version parameter exists (what `cdk bootstrap` writes)
    ssm = boto3.client(
        "ssm",
        region_name=region,
        endpoint_url=served.banner["aws-endpoint"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    ssm.put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value="27", Type="String", Overwrite=True)
    second = doctor(served, tmp_path, AWS_REGION=region)

    # Then nothing fails (what the embedded AWS cannot answer is a warning) and it exits 0
    found = lines(second)
    assert found["bootstrap"].startswith("ok")
    assert not [line for line in found.values() if line.startswith("FAIL")], second.stdout
    assert second.returncode == 0
    assert set(found) == {"region", "credentials", "bootstrap", "concurrency", "api-logging"}
