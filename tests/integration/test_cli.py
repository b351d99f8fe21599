"""The command line against AWS: the region it picks, a deployed stack found by name, and one
readable line (never a traceback) when AWS cannot be reached or used."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from outdial.adapters import aws
from outdial.adapters.balance_shards import BALANCE_SHARDS
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.tables import create_table_kwargs
from outdial.cli import main
from outdial.settings import STACK_OUTPUTS, get_settings
from tests.conftest import config_document


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "outdial.json"
    path.write_text(json.dumps(config_document()))
    return path


@pytest.fixture(autouse=True)
def fresh_clients() -> Any:
    aws.reset_clients()
    get_settings.cache_clear()
    yield
    aws.reset_clients()
    get_settings.cache_clear()


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("outdial: error: ") and "(hint: " in lines[0]
    return lines[0]


def test_no_region_is_one_line_with_a_hint(
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given no region anywhere (no variables, an empty AWS config file)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    (tmp_path / "aws-config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    # When a configuration is applied
    assert main(["config", "apply", str(config_file), "--local"]) == 1
    # Then the user is told what to set
    line = error_line(capsys)
    assert "no AWS region" in line and "AWS_REGION" in line


def test_no_credentials_is_one_line_with_a_hint(
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    assert main(["config", "apply", str(config_file), "--local"]) == 1
    line = error_line(capsys)
    assert "no AWS credentials" in line and "AWS_PROFILE" in line


def test_an_unreachable_endpoint_is_one_line_naming_it(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard: nothing listens
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert main(["config", "apply", str(config_file), "--local"]) == 1
    line = error_line(capsys)
    assert "cannot reach the AWS endpoint" in line and "http://127.0.0.1:9" in line


def test_a_missing_table_is_one_line_naming_it(
    bare_aws: None, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an account where outdial was never deployed
    assert main(["config", "apply", str(config_file), "--local"]) == 1
    line = error_line(capsys)
    assert "outdial-config" in line and "--stack" in line


def test_debug_shows_the_traceback(bare_aws: None, config_file: Path) -> None:
    with pytest.raises(Exception, match="ResourceNotFound"):
        main(["--debug", "config", "apply", str(config_file), "--local"])


def test_aws_region_wins_over_the_default_region(
    aws: None, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the tables in eu-west-3, and AWS_REGION naming it while AWS_DEFAULT_REGION does not
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    dynamodb = botocore.session.get_session().create_client("dynamodb", region_name="eu-west-3")
    dynamodb.create_table(**create_table_kwargs("outdial-config"))
    # When the configuration is applied, Then it lands in eu-west-3
    assert main(["config", "apply", str(config_file), "--local"]) == 0
    # (an account, two flows, a gateway, and the account's balance shards)
    assert dynamodb.scan(TableName="outdial-config")["Count"] == 4 + BALANCE_SHARDS


def _stack_answer(outputs: dict[str, str]) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": "Outdial",
                "CreationTime": "2026-11-01T00:00:00Z",
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
            }
        ]
    }


def _stub_cloudformation(monkeypatch: pytest.MonkeyPatch, stubber_setup: Any) -> Stubber:
    cloudformation = botocore.session.get_session().create_client("cloudformation")
    stubber = Stubber(cloudformation)
    stubber_setup(stubber)
    stubber.activate()
    real = aws.client
    monkeypatch.setattr(
        aws,
        "client",
        lambda service: cloudformation if service == "cloudformation" else real(service),
    )
    return stubber


def test_stack_outputs_name_the_tables(
    aws: None, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployed stack whose config table CloudFormation named
    deployed = {key: f"deployed-{key}" for key in STACK_OUTPUTS} | {
        "SecretPrefix": "outdial/Deployed/"
    }
    dynamodb = botocore.session.get_session().create_client("dynamodb")
    dynamodb.create_table(**create_table_kwargs(deployed["ConfigTableName"]))
    for variable in STACK_OUTPUTS.values():
        monkeypatch.setenv(variable, "hand-exported")  # restored after the test; --stack wins
    stubber = _stub_cloudformation(
        monkeypatch,
        lambda s: s.add_response(
            "describe_stacks",
            _stack_answer(deployed | {"ApiUrl": "https://x"}),
            {"StackName": "Outdial"},
        ),
    )
    # When the configuration is applied with --stack
    assert main(["config", "apply", str(config_file), "--local", "--stack", "Outdial"]) == 0
    # Then it went to that table
    stubber.assert_no_pending_responses()
    assert get_settings().config_table == "deployed-ConfigTableName"
    assert ConfigStore().get_balance("acme") == 1000
    # and the flows' signing keys went under the stack's secret prefix
    assert get_settings().secret_prefix == "outdial/Deployed/"
    secrets = botocore.session.get_session().create_client("secretsmanager")
    names = [s["Name"] for s in secrets.list_secrets()["SecretList"]]
    assert names and all(name.startswith("outdial/Deployed/flows/") for name in names)


def test_an_unknown_stack_is_one_line(
    aws: None,
    config_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _stub_cloudformation(
        monkeypatch,
        lambda s: s.add_client_error(
            "describe_stacks", "ValidationError", "Stack with id Outdail does not exist"
        ),
    )
    assert main(["--stack", "Outdail", "config", "apply", str(config_file), "--local"]) == 1
    line = error_line(capsys)
    assert "no stack 'Outdail'" in line


def test_config_check_counts_problems_in_good_english(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", str(tmp_path / "missing.json")]) == 1
    assert "invalid (1 problem):" in capsys.readouterr().err
    (tmp_path / "two.json").write_text(json.dumps({"accounts": [{}, {}]}))
    assert main(["config", "apply", str(tmp_path / "two.json")]) == 1
    assert "refused, nothing written (2 problems):" in capsys.readouterr().err


def test_commands_that_do_not_touch_aws_ignore_the_stack(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given OUTDIAL_STACK exported for the deployed stack, and no AWS to ask
    monkeypatch.setenv("OUTDIAL_STACK", "Outdial")

    def no_aws(service: str) -> Any:
        raise AssertionError(f"{service} was called")

    monkeypatch.setattr(aws, "client", no_aws)
    # Then checking a file or printing the schema never looks the stack up
    assert main(["config", "check", str(config_file), "--local"]) == 0
    assert main(["config", "schema"]) == 0
