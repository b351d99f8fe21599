"""Callback nonces seen before (Plivo's V3 signature): one conditional put per nonce."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from outdial.adapters import aws
from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import PARTITION_KEY, TTL_ATTRIBUTE, key, to_item
from outdial.settings import get_settings


def nonce_pk(gateway_id: str, nonce: str) -> str:
    return f"NONCE#{gateway_id}#{nonce}"


class NonceStore:
    """Nonces in the calls table, each kept until its TTL."""

    def __init__(
        self,
        client: Any | None = None,
        table: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    @property
    def client(self) -> Any:
        return self._client or aws.client("dynamodb")

    @property
    def table(self) -> str:
        return self._table or get_settings().calls_table

    def remember(self, gateway_id: str, nonce: str, ttl_seconds: int) -> bool:
        """True the first time ``nonce`` is presented for ``gateway_id``, False afterwards."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=to_item(
                    {
                        PARTITION_KEY: nonce_pk(gateway_id, nonce),
                        TTL_ATTRIBUTE: int(self._clock()) + ttl_seconds,
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise AdapterError(f"remembering a nonce: {exc}") from exc
        except BotoCoreError as exc:
            raise AdapterError(f"remembering a nonce: {exc}") from exc
        return True

    def forget(self, gateway_id: str, nonce: str) -> None:
        """Undo ``remember`` (its callback could not be taken after all, and will come again)."""
        try:
            self.client.delete_item(TableName=self.table, Key=key(nonce_pk(gateway_id, nonce)))
        except (ClientError, BotoCoreError) as exc:
            raise AdapterError(f"forgetting a nonce: {exc}") from exc
