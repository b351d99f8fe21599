"""``outdial config check FILE`` / ``apply FILE`` / ``schema``: the configuration file (SPEC §5)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outdial.logic.configure import CheckedConfig


def register(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    config = commands.add_parser("config", help="configuration of accounts, flows and gateways")
    actions = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="validate FILE without writing anything")
    check.set_defaults(
        run=lambda args: check_or_apply(args.file, write=False, local=args.local), uses_aws=False
    )
    apply = actions.add_parser(
        "apply", help="validate FILE and write it to the tables boto3 points at (or --stack's)"
    )
    apply.set_defaults(run=lambda args: check_or_apply(args.file, write=True, local=args.local))
    for command in (check, apply):
        command.add_argument("file", type=Path)
        command.add_argument(
            "--local",
            action="store_true",
            help="the file is for outdial serve: webhook-urls may be http:// on loopback",
        )
    schema = actions.add_parser("schema", help="print the JSON Schema of the configuration file")
    schema.set_defaults(run=lambda _args: print_schema(), uses_aws=False)
    for parser in (check, apply, schema):
        common(parser)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def load_config(
    file: Path, verdict: str, *, local: bool = False, secrets: bool = False
) -> CheckedConfig | None:
    """``file`` checked, its warnings printed; or None, its problems printed under ``verdict``.
    ``secrets``: also read each http gateway's event-secret where boto3 points (SPEC §12)."""
    from outdial.logic.configure import ConfigInvalid, check_gateway_secrets, read_config_file
    from outdial.models.config import HttpGateway

    try:
        checked = read_config_file(file, local=local)
        if secrets and any(isinstance(g, HttpGateway) for g in checked.config.gateways):
            # The carriers' adapters (and their HTTP and tracing libraries) only for this check.
            from outdial.adapters.gateways.secrets import GatewaySecrets

            checked.warnings.extend(check_gateway_secrets(checked.config, GatewaySecrets()))
    except ConfigInvalid as invalid:
        count = plural(len(invalid.problems), "problem")
        print(f"{file}: {verdict} ({count}):", file=sys.stderr)
        for problem in invalid.problems:
            print(f"  {problem}", file=sys.stderr)
        return None
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return checked


def check_or_apply(file: Path, *, write: bool, local: bool = False) -> int:
    verdict = "refused, nothing written" if write else "invalid"
    checked = load_config(file, verdict, local=local, secrets=True)
    if checked is None:
        return 1
    if write:
        from outdial.logic.configure import apply_config

        applied = apply_config(checked)
        for warning in applied.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"{file}: applied ({plural(applied.written, 'item')})")
    else:
        print(f"{file}: valid")
    return 0


def print_schema() -> int:
    from outdial.models.config import config_json_schema

    print(json.dumps(config_json_schema(), indent=2))
    return 0
