"""Account balances in the config table: opened once, then moved only by atomic updates.

The balance is the ``balance`` attribute of the account's item (beside its configuration
document). Acceptance reserves from it and settling refunds to it (``calls_store``); this adapter
opens it when an account is first configured, tops it up or takes from it, and reads it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters import aws
from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import key
from outdial.settings import get_settings

BALANCE_ATTRIBUTE = "balance"


def account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


class NoSuchAccount(AdapterError):
    """The account is not configured (``config apply`` creates accounts)."""


class Balances:
    """Opening, adding to and reading an account's balance."""

    def __init__(self, client: Any | None = None, table: str | None = None) -> None:
        self._client = client
        self._table = table

    @property
    def client(self) -> Any:
        return self._client or aws.client("dynamodb")

    @property
    def table(self) -> str:
        return self._table or get_settings().config_table

    def write_account(self, account_id: str, doc: str, opening: Decimal) -> Decimal | None:
        """Write the account's configuration document; its balance is set to ``opening`` only
        when the account is new. Returns the balance it already had (None when created), so a
        running balance is never overwritten while reservations are held against it."""
        try:
            old = self.client.update_item(
                TableName=self.table,
                Key=key(account_pk(account_id)),
                UpdateExpression="SET doc = :doc, #b = if_not_exists(#b, :opening)",
                ExpressionAttributeNames={"#b": BALANCE_ATTRIBUTE},
                ExpressionAttributeValues={":doc": {"S": doc}, ":opening": {"N": str(opening)}},
                ReturnValues="ALL_OLD",
            ).get("Attributes", {})
        except ClientError as exc:
            raise AdapterError(f"writing account {account_id}: {exc}") from exc
        had = old.get(BALANCE_ATTRIBUTE)
        return Decimal(had["N"]) if had else None

    def add(self, account_id: str, amount: Decimal) -> Decimal:
        """Add ``amount`` (negative: take) in one atomic update; the new balance. A take may
        leave the balance negative only if it was so already: never below zero by taking."""
        values: dict[str, Any] = {":amount": {"N": str(amount)}}
        condition = "attribute_exists(#b)"
        if amount < 0:
            condition += " AND #b >= :needed"
            values[":needed"] = {"N": str(-amount)}
        try:
            new = self.client.update_item(
                TableName=self.table,
                Key=key(account_pk(account_id)),
                UpdateExpression="SET #b = #b + :amount",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#b": BALANCE_ATTRIBUTE},
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )["Attributes"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                current = self.show(account_id)
                if current is None:
                    raise NoSuchAccount(f"no account {account_id!r}") from None
                raise InsufficientBalance(
                    f"account {account_id!r} has {current}, cannot take {-amount}"
                ) from None
            raise AdapterError(f"adding to the balance of {account_id}: {exc}") from exc
        return Decimal(new[BALANCE_ATTRIBUTE]["N"])

    def show(self, account_id: str) -> Decimal | None:
        """The account's balance now (strongly consistent); None for an unknown account."""
        try:
            item = self.client.get_item(
                TableName=self.table, Key=key(account_pk(account_id)), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise AdapterError(f"reading the balance of {account_id}: {exc}") from exc
        if not item or BALANCE_ATTRIBUTE not in item:
            return None
        return Decimal(item[BALANCE_ATTRIBUTE]["N"])


class InsufficientBalance(AdapterError):
    """Taking that much would make the balance negative."""
