"""``outdial calls submit FILE.csv`` and ``outdial calls status RESULTS.csv``: bulk calling from
a spreadsheet through the public API (SPEC §13).

The flow's security-id comes from ``$OUTDIAL_SECURITY_ID``, never from a flag (flags end up in
shell histories and process lists).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from outdial.cli.flow_access import SECURITY_ID_ENV


def register(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    calls = commands.add_parser("calls", help="submit calls from a CSV file; pull their statuses")
    actions = calls.add_subparsers(dest="calls_command", required=True, metavar="ACTION")

    submit = actions.add_parser(
        "submit",
        help="send a CSV of calls in 500-call batches; write each row's phonon-uuid or error",
        description="Columns: client-identifier, start-time, contact-number-1 ... "
        "contact-number-10 (or contact-numbers separated by ';'), key.<var>. The flow's "
        f"security-id is read from ${SECURITY_ID_ENV}. Exit 0: every row accepted; 1: some "
        "rejected; 2: usage error.",
    )
    submit.add_argument("file", type=Path, metavar="FILE.csv")
    _target(submit)
    submit.add_argument(
        "--output", type=Path, metavar="RESULTS.csv", help="default: FILE.results.csv"
    )
    submit.add_argument("--api-version", default="1.0", choices=("1.0", "TEST"), help="default 1.0")
    submit.add_argument(
        "--concurrency", type=int, default=4, help="batches in flight at once (1-16, default 4)"
    )
    submit.set_defaults(run=run_submit, uses_aws=False)

    status = actions.add_parser(
        "status", help="pull the statuses of a results file's calls, 500 at a time"
    )
    status.add_argument("results", type=Path, metavar="RESULTS.csv")
    _target(status)
    status.add_argument("--output", type=Path, metavar="FILE", help="default: <name>.status.csv")
    status.set_defaults(run=run_status, uses_aws=False)
    for parser in (submit, status):
        common(parser)


def run_submit(args: argparse.Namespace) -> int:
    from outdial.cli import calls_submit

    return calls_submit.run_submit(args)


def run_status(args: argparse.Namespace) -> int:
    from outdial.cli import calls_status

    return calls_status.run_status(args)


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flow", required=True, metavar="FLOW", help="the flow-id")
    parser.add_argument(
        "--url", required=True, metavar="BASE_URL", help="the API's base URL (ApiUrl)"
    )
