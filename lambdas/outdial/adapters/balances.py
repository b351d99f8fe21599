"""Account balances in the config table, spread over shard items so that no single item is hot
(why, and how a take is planned: ``outdial.adapters.balance_shards``).

Layout. Shard ``k`` of account ``a`` is item ``ACCOUNT#a#BALANCE#k`` with a number ``balance``;
the account's own item (``ACCOUNT#a``, which also holds its configuration document, possibly
kilobytes of whitelists) keeps a ``balance`` attribute too: it says the account exists, and in
accounts made before the shards it holds their whole balance. That legacy balance counts in the
total and is moved into the shards by the first reservation that rebalances, so old accounts
keep working and migrate lazily; nothing else ever writes the account item's balance.

The balance is the sum of the legacy balance and the shards. Every move keeps it exact:

- reserving ``x`` (``reserve``): first one transaction taking ``x`` from the shard the request's
  key hashes to, conditioned on that shard holding ``x``. If that shard is short, the shards are
  read; when the total covers ``x``, one transaction takes ``x`` from the total and leaves the
  rest evenly over the shards (each giving shard conditioned on holding what it gives, each
  receiving shard added to, so refunds racing it are never lost); when the total does not cover
  ``x``, the request is refused. So a request the total covers is never refused because one
  shard is short. Both transactions carry the caller's own items (the checksum claim) too: at
  most 1 + 1 + ``BALANCE_SHARDS`` items, far below DynamoDB's 100 a transaction.
- refunding (``refund_item``) adds to one shard, chosen by hashing the call's key, with ``ADD``
  (which creates a shard an old account does not have yet);
- ``outdial balance add`` adds to one shard, or takes like a reservation.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters.balance_shards import BALANCE_SHARDS, plan_take, shard_of, split_evenly
from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import ConfigTableAdapter, batch_get, key

BALANCE_ATTRIBUTE = "balance"
# A rebalancing reservation that keeps losing races with others re-reads and tries again.
REBALANCE_ATTEMPTS = 6
TRANSACTION_ITEM_LIMIT = 100  # DynamoDB's TransactWriteItems maximum


def account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def shard_pk(account_id: str, shard: int) -> str:
    return f"{account_pk(account_id)}#BALANCE#{shard}"


class BalanceTooLow(AdapterError):
    """The account's balance cannot cover the reservation (or there is no such account);
    nothing was written."""


class NoSuchAccount(AdapterError):
    """The account is not configured (``config apply`` creates accounts)."""


class InsufficientBalance(AdapterError):
    """Taking that much would make the balance negative."""


def _number(value: Decimal) -> dict[str, str]:
    return {"N": format(value, "f")}


def refund_item(table: str, account_id: str, amount: Decimal, spread_key: str) -> dict[str, Any]:
    """The transaction item that gives ``amount`` back to the account, on the shard of
    ``spread_key`` (the call's or the request's key)."""
    return _add_item(table, account_id, shard_of(spread_key), amount)


def _add_item(table: str, account_id: str, shard: int, amount: Decimal) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": key(shard_pk(account_id, shard)),
            "UpdateExpression": "ADD #b :amount",
            "ExpressionAttributeNames": {"#b": BALANCE_ATTRIBUTE},
            "ExpressionAttributeValues": {":amount": _number(amount)},
        }
    }


def _take_item(table: str, pk: str, amount: Decimal) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": key(pk),
            "UpdateExpression": "SET #b = #b - :amount",
            "ConditionExpression": "#b >= :amount",
            "ExpressionAttributeNames": {"#b": BALANCE_ATTRIBUTE},
            "ExpressionAttributeValues": {":amount": _number(amount)},
        }
    }


def _reasons(exc: ClientError) -> list[str | None]:
    return [r.get("Code") for r in exc.response.get("CancellationReasons", [])]


class Balances(ConfigTableAdapter):
    """Opening, reserving from, adding to and reading an account's balance."""

    def write_account(self, account_id: str, doc: str, opening: Decimal) -> Decimal | None:
        """Write the account's configuration document; when the account is new, open its
        balance at ``opening`` spread over its shards (one transaction). Returns the balance an
        existing account has (None when created): a running balance is never overwritten while
        reservations are held against it."""
        create = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": key(account_pk(account_id)),
                    "UpdateExpression": "SET doc = :doc, #b = :zero",
                    "ConditionExpression": "attribute_not_exists(#b)",
                    "ExpressionAttributeNames": {"#b": BALANCE_ATTRIBUTE},
                    "ExpressionAttributeValues": {":doc": {"S": doc}, ":zero": {"N": "0"}},
                }
            }
        ] + [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {"pk": {"S": shard_pk(account_id, shard)}, "balance": _number(share)},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for shard, share in enumerate(split_evenly(opening, BALANCE_SHARDS))
        ]
        try:
            self.client.transact_write_items(TransactItems=create)
            return None
        except ClientError as exc:
            if _reasons(exc)[:1] != ["ConditionalCheckFailed"]:
                raise AdapterError(f"creating account {account_id}: {exc}") from exc
        try:
            self.client.update_item(
                TableName=self.table,
                Key=key(account_pk(account_id)),
                UpdateExpression="SET doc = :doc",
                ExpressionAttributeValues={":doc": {"S": doc}},
            )
        except ClientError as exc:
            raise AdapterError(f"writing account {account_id}: {exc}") from exc
        return self.show(account_id)

    def reserve(
        self,
        account_id: str,
        amount: Decimal,
        *,
        spread_key: str,
        token: str,
        with_items: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Take ``amount`` from the account, in one transaction with ``with_items``.

        Tries the shard of ``spread_key``; when that shard is short, reads the shards and, if
        their total covers ``amount``, takes it from the total and rebalances (see the module's
        docstring). ``token`` (at most 36 characters) makes each transaction idempotent: a retry
        after a lost answer is not applied twice.

        Raises ``BalanceTooLow`` when the total cannot cover ``amount`` (or there is no such
        account); re-raises the ``ClientError`` unchanged when one of ``with_items`` failed its
        condition (its reason is at the same index in ``CancellationReasons``); raises
        ``AdapterError`` for anything else.
        """
        if len(with_items) + 1 + BALANCE_SHARDS > TRANSACTION_ITEM_LIMIT:
            raise ValueError(f"{len(with_items)} items leave no room for the balance's shards")
        first = _take_item(self.table, shard_pk(account_id, shard_of(spread_key)), amount)
        if self._transact([*with_items, first], token[:36], len(with_items)):
            return
        for attempt in range(REBALANCE_ATTEMPTS):
            held = self._read(account_id)
            if held is None:
                raise BalanceTooLow(f"no account {account_id!r}")
            legacy, shards = held
            plan = plan_take(shards, legacy, amount)
            if plan is None:
                raise BalanceTooLow(f"{account_id} cannot cover {amount}")
            moves, legacy_move = plan
            items = [
                _take_item(self.table, shard_pk(account_id, shard), -move)
                if move < 0
                else _add_item(self.table, account_id, shard, move)
                for shard, move in enumerate(moves)
                if move
            ]
            if legacy_move:
                items.append(
                    _take_item(self.table, account_pk(account_id), -legacy_move)
                    if legacy_move < 0
                    else _add_legacy_item(self.table, account_id, legacy_move)
                )
            if self._transact(
                [*with_items, *items], f"{token[:31]}-rb{attempt:02d}", len(with_items)
            ):
                return
        raise AdapterError(f"reserving {amount} from {account_id}: the shards keep moving")

    def _transact(self, items: list[dict[str, Any]], token: str, own: int) -> bool:
        """Run the transaction: True when applied, False when one of the balance items (those
        after the first ``own``) failed its condition."""
        if not items:
            return True
        try:
            self.client.transact_write_items(TransactItems=items, ClientRequestToken=token)
        except ClientError as exc:
            reasons = _reasons(exc)
            if "ConditionalCheckFailed" in reasons[:own]:
                raise
            if "ConditionalCheckFailed" in reasons[own:]:
                return False
            raise AdapterError(f"moving a balance: {exc}") from exc
        return True

    def add(self, account_id: str, amount: Decimal) -> Decimal:
        """Add ``amount`` (negative: take) atomically; the balance after it. A take never leaves
        the balance below zero (nor any shard)."""
        try:
            if amount < 0:
                token = str(uuid.uuid4())
                self.reserve(account_id, -amount, spread_key=token, token=token)
            else:
                self.client.transact_write_items(
                    TransactItems=[
                        {
                            "ConditionCheck": {
                                "TableName": self.table,
                                "Key": key(account_pk(account_id)),
                                "ConditionExpression": "attribute_exists(#b)",
                                "ExpressionAttributeNames": {"#b": BALANCE_ATTRIBUTE},
                            }
                        },
                        _add_item(self.table, account_id, random.randrange(BALANCE_SHARDS), amount),
                    ]
                )
        except BalanceTooLow:
            current = self.show(account_id)
            if current is None:
                raise NoSuchAccount(f"no account {account_id!r}") from None
            raise InsufficientBalance(
                f"account {account_id!r} has {current}, cannot take {-amount}"
            ) from None
        except ClientError as exc:
            if _reasons(exc)[:1] == ["ConditionalCheckFailed"]:
                raise NoSuchAccount(f"no account {account_id!r}") from None
            raise AdapterError(f"adding to the balance of {account_id}: {exc}") from exc
        balance = self.show(account_id)
        if balance is None:
            raise NoSuchAccount(f"no account {account_id!r}")
        return balance

    def show(self, account_id: str) -> Decimal | None:
        """The account's balance now: the sum of its shards (one strongly consistent read);
        None for an unknown account."""
        held = self._read(account_id)
        if held is None:
            return None
        legacy, shards = held
        return sum(shards, legacy)

    def _read(self, account_id: str) -> tuple[Decimal, list[Decimal]] | None:
        """The legacy balance and each shard's (0 for a shard not made yet), or None."""
        pks = [account_pk(account_id)] + [
            shard_pk(account_id, shard) for shard in range(BALANCE_SHARDS)
        ]
        items = {
            item["pk"]: item
            for item in batch_get(self.client, self.table, pks, consistent=True)
            if BALANCE_ATTRIBUTE in item
        }
        legacy = items.get(pks[0])
        if legacy is None:
            return None
        return Decimal(legacy[BALANCE_ATTRIBUTE]), [
            Decimal(items[pk][BALANCE_ATTRIBUTE]) if pk in items else Decimal(0) for pk in pks[1:]
        ]


def _add_legacy_item(table: str, account_id: str, amount: Decimal) -> dict[str, Any]:
    """Bringing a negative legacy balance (possible before the shards) up to zero."""
    return {
        "Update": {
            "TableName": table,
            "Key": key(account_pk(account_id)),
            "UpdateExpression": "SET #b = #b + :amount",
            "ExpressionAttributeNames": {"#b": BALANCE_ATTRIBUTE},
            "ExpressionAttributeValues": {":amount": _number(amount)},
        }
    }
