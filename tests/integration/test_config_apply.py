"""`outdial config apply FILE` against moto: what it writes, and that a bad file writes nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.balance_shards import BALANCE_SHARDS
from outdial.adapters.balances import shard_pk
from outdial.adapters.config_store import ConfigStore
from outdial.cli import main
from outdial.models.config import hash_secret
from outdial.settings import get_settings
from tests.conftest import FLOW_ID, SECURITY_ID, config_document


def table_items() -> list[dict[str, Any]]:
    return aws.client("dynamodb").scan(TableName=get_settings().config_table)["Items"]


def write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "outdial.json"
    path.write_text(json.dumps(document))
    return path


def test_apply_writes_accounts_flows_gateways(
    resources: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # When a valid file is applied
    assert main(["config", "apply", "--local", str(write(tmp_path, config_document()))]) == 0
    # Then every entry is in the config table, the account's balance spread over its shards
    items = {item["pk"]["S"]: item for item in table_items()}
    shards = [shard_pk("acme", shard) for shard in range(BALANCE_SHARDS)]
    assert sorted(items) == sorted(
        ["ACCOUNT#acme", *shards, "FLOW#AB12cd34", "FLOW#ZZ99yy88", "GATEWAY#sim"]
    )
    assert [Decimal(items[pk]["balance"]["N"]) for pk in shards] == [100] * BALANCE_SHARDS
    view = ConfigStore().get_flow_view(FLOW_ID)
    assert view is not None and view.gateway is not None
    assert view.account.account_id == "acme" and view.gateway.gateway_id == "sim"
    assert ConfigStore().get_balance("acme") == 1000
    assert "applied (4 items)" in capsys.readouterr().out


def test_only_a_hash_of_the_security_id_is_stored(resources: Any, tmp_path: Path) -> None:
    main(["config", "apply", "--local", str(write(tmp_path, config_document()))])
    dump = json.dumps(table_items())
    assert SECURITY_ID not in dump
    assert hash_secret(SECURITY_ID) in dump
    view = ConfigStore().get_flow_view(FLOW_ID)
    assert view is not None
    assert view.security_id_matches(SECURITY_ID)
    assert not view.security_id_matches(SECURITY_ID[:-1] + "x")


def test_invalid_file_writes_nothing(
    resources: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a file whose last flow is wrong
    document = config_document()
    document["flows"][1]["security-id"] = "short"
    # When applied, Then it is refused with the problem's path and nothing is written
    assert main(["config", "apply", str(write(tmp_path, document))]) == 1
    err = capsys.readouterr().err
    assert "refused, nothing written" in err and "$.flows[1].security-id" in err
    assert table_items() == []


def test_unreadable_file(
    resources: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{")
    assert main(["config", "apply", str(path)]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_check_validates_without_writing(resources: Any, tmp_path: Path) -> None:
    assert main(["config", "check", "--local", str(write(tmp_path, config_document()))]) == 0
    assert table_items() == []


def test_a_loopback_webhook_is_for_serve_only(
    resources: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the test file, whose webhook-url is http://127.0.0.1:9/hook
    path = write(tmp_path, config_document())
    # When checked or applied for a deployment (no --local), Then refused
    for command in ("check", "apply"):
        assert main(["config", command, str(path)]) == 1
        assert "$.accounts[0].webhook-url: 127.0.0.1 is a loopback address" in (
            capsys.readouterr().err
        )
    assert table_items() == []


def _with_http_gateway(tmp_path: Path) -> Path:
    document = config_document()
    document["gateways"].append(
        {
            "gateway-id": "carrier",
            "kind": "http",
            "url": "http://127.0.0.1:9/legs",
            "secret-id": "outdial/gateways/carrier",
        }
    )
    return write(tmp_path, document)


@pytest.mark.parametrize("event_secret", ["", "x" * 31])
def test_an_event_secret_under_32_characters_is_refused(
    resources: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], event_secret: str
) -> None:
    # Given the gateway's secret holds an event-secret too short to trust
    aws.client("secretsmanager").create_secret(
        Name="outdial/gateways/carrier",
        SecretString=json.dumps({"token": "t", "event-secret": event_secret}),
    )
    # When the file naming it is checked, Then refused with the path and the rule
    assert main(["config", "check", "--local", str(_with_http_gateway(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert f"$.gateways[1].secret-id: event-secret has {len(event_secret)} characters" in err
    assert "at least 32" in err


def test_an_event_secret_of_32_characters_is_accepted(
    resources: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aws.client("secretsmanager").create_secret(
        Name="outdial/gateways/carrier",
        SecretString=json.dumps({"token": "t", "event-secret": "x" * 32}),
    )
    assert main(["config", "check", "--local", str(_with_http_gateway(tmp_path))]) == 0


def test_an_unreadable_gateway_secret_is_a_warning(
    resources: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "check", "--local", str(_with_http_gateway(tmp_path))]) == 0
    assert "warning: $.gateways[1].secret-id: event-secret not checked" in capsys.readouterr().err
