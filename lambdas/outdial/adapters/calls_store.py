"""Calls (with their legs) and requests in the calls table: reads, batch writes and the conditional updates
the call repository builds its moves from. Checksum claims and reservations: checksum_claims.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters.call_items import ENTRY_NAMES, AcceptedItems
from outdial.adapters.calls_table import (
    IDEMPOTENCY_ATTRIBUTE,
    BalanceTooLow,
    call_pk,
    checksum_pk,
    refund_item,
    request_pk,
)
from outdial.adapters.checksum_claims import ChecksumClaims
from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import (
    DEADLINE_INDEX,
    DEADLINE_PARTITION_KEY,
    DEADLINE_SORT_KEY,
    batch_get,
    batch_write,
    from_item,
    key,
    to_item,
    to_values,
)

__all__ = [
    "IDEMPOTENCY_ATTRIBUTE",
    "BalanceTooLow",
    "CallsStore",
    "call_pk",
    "checksum_pk",
    "request_pk",
]


class CallsStore(ChecksumClaims):
    """Every write of call acceptance, each one request or a batch of them."""

    def overdue_calls(self, shard: str, before: int, limit: int) -> list[str]:
        """Keys of DIALING calls in deadline shard ``shard`` whose current leg's outcome was due
        before ``before`` (epoch seconds), most overdue first, at most ``limit``."""
        return self._keys_before(
            DEADLINE_INDEX, (DEADLINE_PARTITION_KEY, shard), DEADLINE_SORT_KEY, before, limit
        )

    def put_accepted(self, accepted: AcceptedItems) -> None:
        """Write an accepted request's calls and request item."""
        self.put_items(list(accepted.items))

    def put_items(self, items: list[dict[str, Any]]) -> None:
        """Write plain-dict items (calls, the request) in batches of 25."""
        batch_write(
            self.client, self.calls_table, [{"PutRequest": {"Item": to_item(i)}} for i in items]
        )

    def delete_items(self, pks: list[str]) -> None:
        batch_write(
            self.client, self.calls_table, [{"DeleteRequest": {"Key": key(pk)}} for pk in pks]
        )

    # --- reading calls and requests -------------------------------------------------------

    def get(self, pk: str) -> dict[str, Any] | None:
        """One item of the calls table as a plain dict (strongly consistent)."""
        try:
            item = self.client.get_item(
                TableName=self.calls_table, Key=key(pk), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise AdapterError(f"reading {pk}: {exc}") from exc
        return from_item(item) if item else None

    def get_call(self, phonon_uuid: str) -> dict[str, Any] | None:
        return self.get(call_pk(phonon_uuid))

    def get_many(self, pks: list[str]) -> list[dict[str, Any]]:
        """Items by key with ``BatchGetItem`` (100 a request); missing ones are left out."""
        return batch_get(self.client, self.calls_table, pks, consistent=True)

    # --- moving calls and their legs ------------------------------------------------------------

    def update(
        self,
        pk: str,
        values: dict[str, Any],
        *,
        condition: str | None = None,
        condition_values: dict[str, Any] | None = None,
        table: str | None = None,
        remove: tuple[str, ...] = (),
        leg_id: str | None = None,
    ) -> dict[str, Any] | None:
        """``SET`` each of ``values`` (a dotted name sets inside a map) and ``REMOVE`` each of
        ``remove`` if ``condition`` holds (``#lid`` in it names ``leg_id``).

        Returns the item after the update, or None when the condition failed.
        """
        names: dict[str, str] = {}
        placeholders: dict[str, Any] = {}
        sets: list[str] = []
        for index, (name, value) in enumerate(values.items()):
            path = []
            for part_index, part in enumerate(name.split(".")):
                alias = f"#n{index}_{part_index}"
                names[alias] = part
                path.append(alias)
            placeholders[f":v{index}"] = value
            sets.append(f"{'.'.join(path)} = :v{index}")
        request: dict[str, Any] = {
            "TableName": table or self.calls_table,
            "Key": key(pk),
            "UpdateExpression": (
                ("SET " + ", ".join(sets) if sets else "") + _remove_clause(remove, names)
            ).strip(),
            "ExpressionAttributeNames": names,
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            placeholders |= condition_values or {}
            request["ConditionExpression"] = condition
            names |= _condition_names(condition, leg_id)
        request["ExpressionAttributeValues"] = to_values(placeholders) if placeholders else None
        request = {k: v for k, v in request.items() if v is not None}
        try:
            result = self.client.update_item(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise AdapterError(f"updating {pk}: {exc}") from exc
        return from_item(result["Attributes"])

    def finish_and_refund(
        self,
        pk: str,
        values: dict[str, Any],
        *,
        condition: str,
        condition_values: dict[str, Any],
        account_id: str,
        refund: Decimal,
        remove: tuple[str, ...] = (),
        leg_id: str | None = None,
    ) -> bool:
        """Move a call to its end and give its reservation back, both or neither.

        One ``TransactWriteItems``: the call's conditional update and the account's refund, so a
        balance is settled exactly once whatever crashes or repeats. False when the condition
        failed (someone else ended the call).
        """
        names: dict[str, str] = {}
        paths = []
        for i, name in enumerate(values):  # a dotted name sets inside a map, as in update()
            parts = {f"#v{i}_{j}": part for j, part in enumerate(name.split("."))}
            names |= parts
            paths.append(".".join(parts))
        sets = ", ".join(f"{path} = :v{i}" for i, path in enumerate(paths))
        placeholders = {f":v{i}": value for i, value in enumerate(values.values())}
        names |= _condition_names(condition, leg_id)
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.calls_table,
                            "Key": key(pk),
                            "UpdateExpression": f"SET {sets}" + _remove_clause(remove, names),
                            "ConditionExpression": condition,
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": to_values(placeholders | condition_values),
                        }
                    },
                    refund_item(self.config_table, account_id, refund, pk),
                ]
            )
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            raise AdapterError(f"finishing {pk}: {exc}") from exc
        return True


def _remove_clause(attributes: tuple[str, ...], names: dict[str, str]) -> str:
    """`` REMOVE #r0, ...`` for ``attributes`` (a dotted name removes inside a map; their
    aliases added to ``names``), or ""."""
    if not attributes:
        return ""
    paths = []
    for index, attribute in enumerate(attributes):
        parts = {f"#r{index}_{j}": part for j, part in enumerate(attribute.split("."))}
        names |= parts
        paths.append(".".join(parts))
    return " REMOVE " + ", ".join(paths)


# Attribute names conditions may use through these aliases (a leg's entry: ``moves.LEG_STATE``).
_CONDITION_NAMES = {
    "#status": "status",
    "#attempt": "attempt",
    "#index": "number-index",
    "#dispatch": "dispatch-id",
    "#legs": "legs",
    "#state": ENTRY_NAMES["state"],
    "#claimed": ENTRY_NAMES["claimed_epoch"],
}


def _condition_names(condition: str, leg_id: str | None) -> dict[str, str]:
    """The names ``condition`` uses, ``#lid`` being ``leg_id``."""
    names = {alias: real for alias, real in _CONDITION_NAMES.items() if alias in condition}
    if "#lid" in condition:
        if leg_id is None:
            raise ValueError("a condition on a leg's entry needs its leg id")
        names["#lid"] = leg_id
    return names
