"""The ``outdial`` command.

Each command group lives in its own module with a ``register(commands, common)`` function that
adds its sub-parsers, calls ``common(parser)`` on each (``--debug``, ``--stack``) and sets
``run`` (a function of the parsed arguments returning the exit code); a command that never
touches the deployed AWS resources sets ``uses_aws=False``, so ``--stack`` is not looked up for
it. A new group is one module and one line in ``GROUPS``. Failures become one readable line on stderr with
a hint and exit code 1 (usage errors: 2); ``--debug`` shows the traceback instead.

A group module imports only argparse and the standard library: each command imports what it needs
(botocore, pydantic, the adapters) inside its ``run``, so `outdial --help` or `calls status` does
not pay for what `config apply` or `serve` use.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from outdial.cli import calls, config, doctor, operator, serve, webhooks
from outdial.cli.aws import STACK_ENV, prepare_region, use_stack
from outdial.cli.errors import UsageError, describe

# The command groups, in the order `outdial --help` lists them.
GROUPS: tuple[ModuleType, ...] = (serve, config, calls, operator, webhooks, doctor)


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version("outdial")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


class _Version(argparse._VersionAction):
    """``--version``, looking the version up only when asked (``importlib.metadata`` is a
    noticeable part of a cold start)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        self.version = f"outdial {version()}"
        super().__call__(parser, *args, **kwargs)


def common_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """``--debug`` and ``--stack``, accepted before or after the command (``SUPPRESS`` keeps a
    sub-parser from overwriting what the top level parsed)."""
    default: object = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="show the full traceback of a failure",
    )
    parser.add_argument(
        "--stack",
        metavar="NAME",
        default=default,
        help=f"the deployed CloudFormation stack (e.g. Outdial) whose outputs name the tables "
        f"and queues; also ${STACK_ENV}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outdial", description="outdial: outbound-call API on AWS serverless."
    )
    parser.add_argument("--version", action=_Version)
    common_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands, lambda p: common_options(p, top=False))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        prepare_region()
        if getattr(args, "uses_aws", True):
            use_stack(args.stack)
        return run(args)
    except UsageError as error:
        parser.exit(2, f"outdial: error: {error}\n")
    except KeyboardInterrupt:
        print("outdial: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(describe(exc).line(), file=sys.stderr)
        return 1
