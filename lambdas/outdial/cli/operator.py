"""Operator commands on a deployment's data (SPEC §13): ``balance add|show``, ``secret put``,
``dial-queue redrive``. They act on whatever AWS boto3 points at: the deployed stack, or the
embedded AWS ``outdial serve`` prints as ``aws-endpoint``.

``register`` adds the command groups to the ``outdial`` parser; each sets ``run``, which imports
the adapters it uses when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from outdial.logic.ports import BalanceStore

# The dial queue's name where no URL is configured: `outdial serve` names its queues so.
DEFAULT_DIAL_QUEUE = "outdial-dial"
DEFAULT_OUTCOME_QUEUE = "outdial-outcomes"

Common = Callable[[argparse.ArgumentParser], None]


def register(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: Common | None = None
) -> None:
    """Add ``balance``, ``secret`` and ``dial-queue`` to ``commands``."""
    balance = commands.add_parser("balance", help="an account's balance (SPEC §11)")
    balance_commands = balance.add_subparsers(dest="balance_command", required=True)
    add = balance_commands.add_parser("add", help="add AMOUNT atomically (negative: take)")
    add.add_argument("account")
    add.add_argument("amount", type=_amount)
    add.set_defaults(run=balance_add)
    show = balance_commands.add_parser("show", help="print the account's balance")
    show.add_argument("account")
    show.set_defaults(run=balance_show)

    secret = commands.add_parser("secret", help="secrets in Secrets Manager")
    secret_commands = secret.add_subparsers(dest="secret_command", required=True)
    put = secret_commands.add_parser("put", help="write secret NAME with the JSON object JSON")
    put.add_argument("name")
    put.add_argument("json", metavar="JSON")
    put.set_defaults(run=secret_put)

    queue = commands.add_parser("dial-queue", help="the dial queue")
    queue_commands = queue.add_subparsers(dest="dial_queue_command", required=True)
    redrive = queue_commands.add_parser(
        "redrive",
        help="move every message of the dial and outcome dead-letter queues back to their queues",
    )
    redrive.set_defaults(run=dial_queue_redrive)
    for parser in (add, show, put, redrive):
        if common is not None:
            common(parser)


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _fail(message: str, hint: str = "") -> int:
    print(f"outdial: {message}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
    return 1


def balances() -> BalanceStore:
    """Where the balance commands read and write (the accounts' items in the config table)."""
    from outdial.adapters.balances import Balances

    return Balances()


def balance_add(args: argparse.Namespace) -> int:
    from outdial.adapters.balances import InsufficientBalance, NoSuchAccount
    from outdial.adapters.errors import AdapterError

    try:
        balance = balances().add(args.account, args.amount)
    except NoSuchAccount as error:
        return _fail(str(error), "accounts are created by `outdial config apply FILE`")
    except InsufficientBalance as error:
        return _fail(str(error))
    except AdapterError as error:
        return _fail(str(error), "is boto3 pointed at the deployment (AWS_ENDPOINT_URL, region)?")
    print(json.dumps({"account-id": args.account, "balance": _number(balance)}))
    return 0


def balance_show(args: argparse.Namespace) -> int:
    from outdial.adapters.errors import AdapterError

    try:
        balance = balances().show(args.account)
    except AdapterError as error:
        return _fail(str(error), "is boto3 pointed at the deployment (AWS_ENDPOINT_URL, region)?")
    if balance is None:
        return _fail(f"no account {args.account!r}", "`outdial config apply FILE` creates it")
    print(json.dumps({"account-id": args.account, "balance": _number(balance)}))
    return 0


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def secret_put(args: argparse.Namespace) -> int:
    try:
        value = json.loads(args.json)
    except json.JSONDecodeError as error:
        return _fail(
            f"JSON is not valid JSON: {error}", """e.g. '{"token": "...", "event-secret": "..."}'"""
        )
    if not isinstance(value, dict):
        return _fail(
            "JSON must be a JSON object", """e.g. '{"token": "...", "event-secret": "..."}'"""
        )
    from outdial.adapters.errors import AdapterError
    from outdial.adapters.gateways.secrets import GatewaySecrets

    try:
        written = GatewaySecrets().write(args.name, json.dumps(value))
    except AdapterError as error:
        return _fail(str(error))
    print(json.dumps({"name": args.name, "written": written}))
    return 0


def dial_queue_url() -> str:
    """The dial queue: ``OUTDIAL_DIAL_QUEUE_URL``, else the queue named ``outdial-dial``."""
    from outdial.adapters.errors import AdapterError
    from outdial.settings import get_settings

    url = get_settings().dial_queue_url or _queue_named(DEFAULT_DIAL_QUEUE)
    if url is None:
        raise AdapterError(f"no dial queue named {DEFAULT_DIAL_QUEUE}")
    return url


def outcome_queue_url() -> str | None:
    """The outcome queue: ``OUTDIAL_OUTCOME_QUEUE_URL``, else the queue named
    ``outdial-outcomes``; None where there is none (outcomes then go to the dial queue)."""
    from outdial.settings import get_settings

    return get_settings().outcome_queue_url or _queue_named(DEFAULT_OUTCOME_QUEUE)


def _queue_named(name: str) -> str | None:
    from outdial.adapters import aws
    from outdial.adapters.errors import AdapterError

    client = aws.client("sqs")
    try:
        return str(client.get_queue_url(QueueName=name)["QueueUrl"])
    except client.exceptions.QueueDoesNotExist:
        return None
    except Exception as exc:
        raise AdapterError(f"looking up the queue named {name}: {exc}") from exc


def dial_queue_redrive(args: argparse.Namespace) -> int:
    """Move the dial queue's dead letters back, then the outcome queue's: ``moved`` counts the
    dial queue's, ``outcomes-moved`` the outcome queue's."""
    from outdial.adapters.dead_letters import DeadLetters
    from outdial.adapters.errors import AdapterError

    try:
        moved = DeadLetters(dial_queue_url()).redrive()
        outcomes = outcome_queue_url()
        outcomes_moved = DeadLetters(outcomes).redrive() if outcomes else 0
    except AdapterError as error:
        return _fail(
            str(error),
            "set OUTDIAL_DIAL_QUEUE_URL and OUTDIAL_OUTCOME_QUEUE_URL to the stack's queues",
        )
    print(json.dumps({"moved": moved, "outcomes-moved": outcomes_moved}))
    return 0
