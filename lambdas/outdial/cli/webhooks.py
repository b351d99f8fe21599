"""`outdial webhook-secret rotate` and `outdial webhooks redrive` (SPEC §10)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "": "hours"}


def duration(text: str) -> timedelta:
    """``24h``, ``30m``, ``90s``, ``2d`` or a bare number of hours; ``0`` means no overlap."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 24h, 30m or 2d")
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


def register(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the two command groups to the ``outdial`` parser; each command sets ``run``."""
    for parser in add_commands(commands):
        parser.set_defaults(run=run)
        common(parser)


def add_commands(commands: Any) -> list[argparse.ArgumentParser]:
    """Register the two command groups on the top-level subparsers; returns their commands."""
    secret = commands.add_parser("webhook-secret", help="accounts' webhook signing secrets")
    secret_commands = secret.add_subparsers(dest="secret_command", required=True)
    rotate = secret_commands.add_parser(
        "rotate",
        help="create a new whsec_ secret for ACCOUNT (printed once); the previous stays valid "
        "for the overlap",
    )
    rotate.add_argument("account")
    rotate.add_argument(
        "--keep-previous",
        type=duration,
        default=timedelta(hours=24),
        help="how long the previous secret stays valid (default 24h; 0 ends it now)",
    )
    hooks = commands.add_parser("webhooks", help="webhook delivery")
    hooks_commands = hooks.add_subparsers(dest="webhooks_command", required=True)
    redrive_parser = hooks_commands.add_parser(
        "redrive", help="move every event in the webhook dead-letter queue back to delivery"
    )
    return [rotate, redrive_parser]


def run(args: argparse.Namespace) -> int:
    if args.command == "webhook-secret":
        return rotate(args.account, args.keep_previous)
    return redrive()


def rotate(account_id: str, keep_previous: timedelta) -> int:
    from outdial.adapters.config_store import ConfigStore
    from outdial.adapters.webhook_secrets import AccountSecrets

    if ConfigStore().get_balance(account_id) is None:
        print(
            f"error: no account {account_id!r} in the config table (apply the configuration "
            "first, or check AWS_REGION / OUTDIAL_CONFIG_TABLE)",
            file=sys.stderr,
        )
        return 1
    rotated = AccountSecrets().rotate(account_id, keep_previous, datetime.now(UTC))
    print(rotated.secret)
    if rotated.previous_valid_until is not None:
        note = f"the previous secret stays valid until {rotated.previous_valid_until.isoformat()}"
    else:
        note = "no earlier secret stays valid"
    print(
        f"new webhook signing secret for {account_id} (shown once: store it now); {note}",
        file=sys.stderr,
    )
    return 0


def redrive() -> int:
    from outdial.adapters.dead_letters import DeadLetters
    from outdial.adapters.errors import AdapterError

    try:
        moved = DeadLetters(webhook_queue_url()).redrive()
    except AdapterError as error:
        print(
            f"error: {error}\nhint: set OUTDIAL_WEBHOOK_QUEUE_URL to the stack's output "
            "WebhookQueueUrl",
            file=sys.stderr,
        )
        return 1
    print(json.dumps({"moved": moved}))
    return 0


def webhook_queue_url() -> str:
    """The webhook queue: ``OUTDIAL_WEBHOOK_QUEUE_URL``, else the one `outdial serve` makes."""
    from outdial.adapters import aws
    from outdial.adapters.errors import AdapterError
    from outdial.local.embedded_aws import WEBHOOK_QUEUE_NAME  # names only: no moto
    from outdial.settings import get_settings

    configured = get_settings().webhook_queue_url
    if configured:
        return configured
    try:
        return str(aws.client("sqs").get_queue_url(QueueName=WEBHOOK_QUEUE_NAME)["QueueUrl"])
    except Exception as exc:
        raise AdapterError(f"no webhook queue named {WEBHOOK_QUEUE_NAME}: {exc}") from exc
