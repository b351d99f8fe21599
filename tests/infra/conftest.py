"""One synthesized stack for every infra test (synthesis is the slow part: do it once)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template

from infra import constants as c
from infra.stack import OutdialStack, build

ALARM_EMAIL = "ops@example.com"
GATEWAY_ID = "carrier-1"


def cdk_json_context() -> dict[str, Any]:
    """The context `make synth` uses (the CLI passes cdk.json's; a bare App does not)."""
    return dict(json.loads((c.ROOT / "cdk.json").read_text())["context"])


@dataclass(frozen=True)
class Synthesized:
    stack: OutdialStack
    template: Template
    outdir: Path

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.template.to_json()["Resources"])

    def logical_id(self, construct: Any) -> str:
        """The template's id for an L2 construct (its default child)."""
        return str(self.stack.get_logical_id(construct.node.default_child))


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """cdk.json's context plus the optional knobs turned on (alarm email, a gateway secret)."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    context = cdk_json_context() | {
        c.CTX_ALARM_EMAIL: ALARM_EMAIL,
        c.CTX_GATEWAY_SECRETS: [GATEWAY_ID],
    }
    # CloudFormation schema validation (CDK's built-in plugin, ~5 s) runs in `make synth`;
    # cdk-nag runs here as everywhere.
    app = App(context=context, outdir=str(outdir), builtin_cloud_formation_validation=False)
    stack = build(app)
    return Synthesized(stack=stack, template=Template.from_stack(stack), outdir=outdir)


@pytest.fixture(scope="session")
def template(synthesized: Synthesized) -> Template:
    return synthesized.template


@pytest.fixture(scope="session")
def stack(synthesized: Synthesized) -> OutdialStack:
    return synthesized.stack
