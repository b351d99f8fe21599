"""`outdial config apply FILE` against moto: what it writes, and that a bad file writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from outdial.adapters import aws
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
    assert main(["config", "apply", str(write(tmp_path, config_document()))]) == 0
    # Then every entry is in the config table
    keys = sorted(item["pk"]["S"] for item in table_items())
    assert keys == ["ACCOUNT#acme", "FLOW#AB12cd34", "FLOW#ZZ99yy88", "GATEWAY#sim"]
    view = ConfigStore().get_flow_view(FLOW_ID)
    assert view is not None and view.gateway is not None
    assert view.account.account_id == "acme" and view.gateway.gateway_id == "sim"
    assert ConfigStore().get_balance("acme") == 1000
    assert "applied (4 items)" in capsys.readouterr().out


def test_only_a_hash_of_the_security_id_is_stored(resources: Any, tmp_path: Path) -> None:
    main(["config", "apply", str(write(tmp_path, config_document()))])
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
    assert main(["config", "check", str(write(tmp_path, config_document()))]) == 0
    assert table_items() == []
