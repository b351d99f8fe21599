"""The contract module: the one piece of the package the stack imports, and what it shares."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from typing import Any

import pytest

from infra import constants as c
from outdial import contract
from tests.infra.conftest import Synthesized


def _outdial_imports(path: Any) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return [name for name in names if name == "outdial" or name.startswith("outdial.")]


def test_infra_imports_nothing_of_the_package_but_the_contract() -> None:
    # Given every module of the CDK app
    sources = [*sorted((c.ROOT / "infra").glob("*.py")), c.ROOT / "app.py"]

    # Then the only outdial module any of them imports is the contract
    imported = {str(path.name): _outdial_imports(path) for path in sources}
    assert {name for names in imported.values() for name in names} == {"outdial.contract"}


def test_the_contract_loads_no_sdk_or_validation_library() -> None:
    # When a fresh interpreter imports the contract (as a synth does)
    probe = (
        "import json, sys; import outdial.contract; "
        "print(json.dumps(sorted(m for m in sys.modules if '.' not in m)))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", probe], check=True, capture_output=True, text=True
        ).stdout
    )

    # Then neither boto3/botocore, Powertools, pydantic nor the X-Ray SDK came with it
    heavy = {"boto3", "botocore", "aws_lambda_powertools", "pydantic", "aws_xray_sdk"}
    assert heavy.isdisjoint(loaded)


@pytest.mark.parametrize(
    ("queue", "max_receives", "visibility", "consumer"),
    [
        ("dial", contract.DIAL_MAX_RECEIVES, contract.DIAL_VISIBILITY_SECONDS, "dialer"),
        (
            "webhooks",
            contract.WEBHOOK_MAX_RECEIVES,
            contract.WEBHOOK_VISIBILITY_SECONDS,
            "webhooks",
        ),
    ],
)
def test_the_stacks_queues_have_the_contracts_settings(
    synthesized: Synthesized, queue: str, max_receives: int, visibility: int, consumer: str
) -> None:
    # Given the synthesized queue and the function consuming it
    resource = synthesized.resources[
        synthesized.logical_id(getattr(synthesized.stack.queues, queue))
    ]
    function_id = synthesized.logical_id(synthesized.stack.functions[consumer])

    # Then its visibility and redrive are the contract's, which `outdial serve` uses too
    assert resource["Properties"]["VisibilityTimeout"] == visibility
    assert resource["Properties"]["RedrivePolicy"]["maxReceiveCount"] == max_receives
    timeout = synthesized.resources[function_id]["Properties"]["Timeout"]
    factor = {
        "dial": contract.DIAL_VISIBILITY_FACTOR,
        "webhooks": contract.WEBHOOK_VISIBILITY_FACTOR,
    }
    assert visibility == factor[queue] * timeout
