"""Recent placements per number (SPEC §9 frequency caps): one item per account and number in
the calls table, written only under an optimistic version check, so racing dialers never both
count on the same free place."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters import aws
from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import TTL_ATTRIBUTE, batch_get_parallel, from_item, key, to_item
from outdial.settings import get_settings


def placements_pk(account_id: str, number: str) -> str:
    return f"PLACED#{account_id}#{number}"


Placements = dict[str, int]
"""Leg id → when it was placed (epoch seconds)."""


class PlacementsStore:
    """Reads and conditionally rewrites the legs recently placed to a number."""

    def __init__(self, client: Any | None = None, table: str | None = None) -> None:
        self._client = client
        self._table = table

    @property
    def client(self) -> Any:
        return self._client or aws.client("dynamodb")

    @property
    def table(self) -> str:
        return self._table or get_settings().calls_table

    def read(self, account_id: str, number: str) -> tuple[Placements, int]:
        """The number's placements and the item's version (0: no item yet), strongly
        consistent."""
        try:
            item = self.client.get_item(
                TableName=self.table,
                Key=key(placements_pk(account_id, number)),
                ConsistentRead=True,
            ).get("Item")
        except ClientError as exc:
            raise AdapterError(f"reading placements: {exc}") from exc
        if not item:
            return {}, 0
        values = from_item(item)
        return _placements(values), int(values["version"])

    def read_many(self, account_id: str, numbers: Iterable[str]) -> dict[str, Placements]:
        """Placements of each number that has any (``BatchGetItem``, 100 keys a request, the
        requests in parallel)."""
        pks = {placements_pk(account_id, n): n for n in numbers}
        found = batch_get_parallel(self.client, self.table, list(pks))
        return {pks[item["pk"]]: _placements(item) for item in found}

    def write(
        self,
        account_id: str,
        number: str,
        placements: Placements,
        version: int,
        expires_at: int,
    ) -> bool:
        """Replace the placements if the item is still at ``version``; False when another writer
        got there first (read again and decide again)."""
        condition = "attribute_not_exists(pk)" if version == 0 else "#version = :version"
        request: dict[str, Any] = {
            "TableName": self.table,
            "Item": to_item(
                {
                    "pk": placements_pk(account_id, number),
                    "placements": placements,
                    "version": version + 1,
                    TTL_ATTRIBUTE: expires_at,
                }
            ),
            "ConditionExpression": condition,
        }
        if version:
            request["ExpressionAttributeNames"] = {"#version": "version"}
            request["ExpressionAttributeValues"] = {":version": {"N": str(version)}}
        try:
            self.client.put_item(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise AdapterError(f"writing placements: {exc}") from exc
        return True


def _placements(values: dict[str, Any]) -> Placements:
    return {leg: int(epoch) for leg, epoch in (values.get("placements") or {}).items()}
