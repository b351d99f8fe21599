"""`outdial webhook-secret rotate` and `outdial webhooks redrive` (SPEC §10)."""

from __future__ import annotations

import argparse
import re
import sys
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


def add_commands(commands: Any) -> None:
    """Register the two command groups on the top-level subparsers."""
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
    hooks_commands.add_parser(
        "redrive", help="move every event in the webhook dead-letter queue back to delivery"
    )


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
    from outdial.adapters.webhook_queue import WebhookQueue
    from outdial.settings import get_settings

    settings = get_settings()
    queue_url, dlq_url = settings.webhook_queue_url, settings.webhook_dlq_url
    if not queue_url or not dlq_url:
        queue_url, dlq_url = _local_queues()
    moved = WebhookQueue(queue_url=queue_url, dlq_url=dlq_url).redrive()
    print(f"moved {moved} webhook events back to delivery")
    return 0


def _local_queues() -> tuple[str, str]:
    """Without OUTDIAL_WEBHOOK_QUEUE_URL and OUTDIAL_WEBHOOK_DLQ_URL (the stack's outputs),
    the queues `outdial serve` makes, at the endpoint boto3 points at."""
    from outdial.adapters import aws
    from outdial.local.embedded_aws import WEBHOOK_QUEUE_NAME  # no moto: names only

    sqs = aws.client("sqs")
    try:
        return (
            sqs.get_queue_url(QueueName=WEBHOOK_QUEUE_NAME)["QueueUrl"],
            sqs.get_queue_url(QueueName=f"{WEBHOOK_QUEUE_NAME}-dlq")["QueueUrl"],
        )
    except Exception as exc:
        raise SystemExit(
            "error: set OUTDIAL_WEBHOOK_QUEUE_URL and OUTDIAL_WEBHOOK_DLQ_URL (the stack outputs "
            f"WebhookQueueUrl and WebhookDlqUrl): {exc}"
        ) from None
