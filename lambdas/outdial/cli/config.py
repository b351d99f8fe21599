"""``outdial config check FILE`` / ``apply FILE`` / ``schema``: the configuration file (SPEC §5)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from outdial.logic.configure import CheckedConfig, ConfigInvalid, apply_config, read_config_file
from outdial.models.config import config_json_schema


def register(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    config = commands.add_parser("config", help="configuration of accounts, flows and gateways")
    actions = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="validate FILE without writing anything")
    check.add_argument("file", type=Path)
    check.set_defaults(run=lambda args: check_or_apply(args.file, write=False), uses_aws=False)
    apply = actions.add_parser(
        "apply", help="validate FILE and write it to the tables boto3 points at (or --stack's)"
    )
    apply.add_argument("file", type=Path)
    apply.set_defaults(run=lambda args: check_or_apply(args.file, write=True))
    schema = actions.add_parser("schema", help="print the JSON Schema of the configuration file")
    schema.set_defaults(run=lambda _args: print_schema(), uses_aws=False)
    for parser in (check, apply, schema):
        common(parser)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def load_config(file: Path, verdict: str) -> CheckedConfig | None:
    """``file`` checked, its warnings printed; or None, its problems printed under ``verdict``."""
    try:
        checked = read_config_file(file)
    except ConfigInvalid as invalid:
        count = plural(len(invalid.problems), "problem")
        print(f"{file}: {verdict} ({count}):", file=sys.stderr)
        for problem in invalid.problems:
            print(f"  {problem}", file=sys.stderr)
        return None
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return checked


def check_or_apply(file: Path, *, write: bool) -> int:
    checked = load_config(file, "refused, nothing written" if write else "invalid")
    if checked is None:
        return 1
    if write:
        applied = apply_config(checked)
        for warning in applied.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"{file}: applied ({plural(applied.written, 'item')})")
    else:
        print(f"{file}: valid")
    return 0


def print_schema() -> int:
    print(json.dumps(config_json_schema(), indent=2))
    return 0
