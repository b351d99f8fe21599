"""Each `outdial` command starts with what it uses and nothing more: the e2e suite and a user's
scripts run the command dozens of times, and a command that reads one item must not first load
the carriers' adapters, X-Ray, Powertools and the service's pydantic models (over a second)."""

from __future__ import annotations

from pathlib import Path

import pytest

from outdial.local.demo import DEMO_FLOW_ID, DEMO_SECURITY_ID
from tests.e2e.conftest import Served, outdial

pytestmark = pytest.mark.e2e

# What only the service, `serve` and `config` need.
SERVICE_ONLY = {
    "aws_xray_sdk",
    "aws_lambda_powertools",
    "phonenumbers",
    "moto",
    "outdial.adapters.gateways",
    "outdial.models.config",
    "outdial.logic",
    "outdial.handlers",
    "outdial.local",
}


def loaded(*args: str, served: Served | None = None, env: dict[str, str] | None = None) -> set[str]:
    """The modules ``outdial ARGS`` imported (from Python's ``-X importtime`` report)."""
    result = outdial(*args, served=served, env={"PYTHONPROFILEIMPORTTIME": "1"} | (env or {}))
    assert result.returncode == 0, result.stderr
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    names.discard("imported package")  # the report's header
    return names  # a package is reported too when one of its modules is imported


def test_help_and_version_load_no_aws_library_nor_any_of_the_service() -> None:
    for args in (("--help",), ("--version",), ("calls", "submit", "--help")):
        names = loaded(*args)
        assert "argparse" in names and "outdial.cli" in names
        aws = {"botocore", "pydantic", "urllib3", "outdial.adapters", "outdial.settings"}
        assert not names & (aws | SERVICE_ONLY), f"{args}: {sorted(names & (aws | SERVICE_ONLY))}"
    assert "importlib.metadata" not in loaded("--help")  # looked up for --version only


def test_balance_show_loads_botocore_and_the_balances_adapter_only(served: Served) -> None:
    names = loaded("balance", "show", "demo", served=served)
    assert {"botocore.session", "outdial.adapters.balances"} <= names
    assert not names & SERVICE_ONLY, sorted(names & SERVICE_ONLY)


def test_calls_status_speaks_http_without_botocore_or_pydantic(
    served: Served, tmp_path: Path
) -> None:
    results = tmp_path / "c.results.csv"
    results.write_text("client-identifier,phonon-uuid,error-code,error-message\n")
    names = loaded(
        "calls", "status", str(results), "--flow", DEMO_FLOW_ID, "--url", served.url,
        env={"OUTDIAL_SECURITY_ID": DEMO_SECURITY_ID},
    )  # fmt: skip
    assert {"urllib3", "outdial.cli.api_client"} <= names
    unwanted = {"botocore", "pydantic"} | SERVICE_ONLY
    assert not names & unwanted, sorted(names & unwanted)
