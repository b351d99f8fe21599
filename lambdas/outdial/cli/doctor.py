"""``outdial doctor [--cdk-json cdk.json]``: the pre-flight of `make deploy` (the checks are in
``doctor_checks``, imported when the command runs)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def register(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    doctor = commands.add_parser(
        "doctor", help="pre-flight for a deploy: credentials, region, bootstrap, quotas"
    )
    doctor.add_argument(
        "--cdk-json", type=Path, default=Path("cdk.json"), help="the stack's context (cdk.json)"
    )
    common(doctor)
    doctor.set_defaults(run=run, uses_aws=False)


def run(args: argparse.Namespace) -> int:
    from outdial.cli import doctor_checks

    return doctor_checks.run(args.cdk_json)
