"""The accounts' do-not-call lists (SPEC §9): one item per listed number in the config table."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import (
    ConfigTableAdapter,
    batch_get_parallel,
    batch_write,
    from_item,
    key,
)


def dnc_pk(account_id: str, number: str) -> str:
    return f"DNC#{account_id}#{number}"


class DncStore(ConfigTableAdapter):
    """Adds, removes and looks up E.164 numbers on an account's do-not-call list."""

    def get(self, account_id: str, number: str) -> dict[str, Any] | None:
        """The number's entry (``number``, ``added-at``), read strongly consistent, or None."""
        try:
            item = self.client.get_item(
                TableName=self.table, Key=key(dnc_pk(account_id, number)), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise AdapterError(f"reading a do-not-call entry: {exc}") from exc
        return from_item(item) if item else None

    def add(self, account_id: str, number: str, now: datetime) -> dict[str, Any]:
        """List the number (idempotent: a number already listed keeps its ``added-at``)."""
        try:
            result = self.client.update_item(
                TableName=self.table,
                Key=key(dnc_pk(account_id, number)),
                UpdateExpression="SET #number = :number, #added = if_not_exists(#added, :now)",
                ExpressionAttributeNames={"#number": "number", "#added": "added-at"},
                ExpressionAttributeValues={
                    ":number": {"S": number},
                    ":now": {"S": now.isoformat()},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            raise AdapterError(f"adding a do-not-call entry: {exc}") from exc
        return from_item(result["Attributes"])

    def remove(self, account_id: str, number: str) -> bool:
        """Take the number off the list; False when it was not on it."""
        try:
            result = self.client.delete_item(
                TableName=self.table, Key=key(dnc_pk(account_id, number)), ReturnValues="ALL_OLD"
            )
        except ClientError as exc:
            raise AdapterError(f"removing a do-not-call entry: {exc}") from exc
        return bool(result.get("Attributes"))

    def listed(self, account_id: str, numbers: Iterable[str]) -> set[str]:
        """Which of ``numbers`` are on the list: ``BatchGetItem`` of keys only, 100 a request,
        the requests in parallel."""
        pks = [dnc_pk(account_id, n) for n in numbers]
        found = batch_get_parallel(self.client, self.table, pks, keys_only=True)
        prefix = len(dnc_pk(account_id, ""))
        return {item["pk"][prefix:] for item in found}

    def add_many(self, account_id: str, numbers: list[str], now: datetime) -> int:
        """List every number; returns how many were not listed before (those keep nothing
        else: an already listed number keeps its ``added-at``)."""
        already = self.listed(account_id, numbers)
        new = [n for n in dict.fromkeys(numbers) if n not in already]
        items = [{"PutRequest": {"Item": _entry(account_id, n, now)}} for n in new]
        batch_write(self.client, self.table, items)
        return len(new)

    def remove_many(self, account_id: str, numbers: list[str]) -> int:
        """Take every number off the list; returns how many were on it."""
        gone = sorted(self.listed(account_id, numbers))
        batch_write(
            self.client,
            self.table,
            [{"DeleteRequest": {"Key": key(dnc_pk(account_id, n))}} for n in gone],
        )
        return len(gone)


def _entry(account_id: str, number: str, now: datetime) -> dict[str, Any]:
    return {
        "pk": {"S": dnc_pk(account_id, number)},
        "number": {"S": number},
        "added-at": {"S": now.isoformat()},
    }
