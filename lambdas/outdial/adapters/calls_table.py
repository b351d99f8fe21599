"""The calls table's base for its adapters: the shared client and table names, the item keys,
and the one query both sparse indexes are read with."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters import aws
from outdial.adapters.balances import BalanceTooLow, refund_item
from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import PARTITION_KEY
from outdial.settings import get_settings

__all__ = ["BalanceTooLow", "CallsTable", "refund_item"]

# On a checksum claim: the Idempotency-Key record of the request that made it, if it had one.
IDEMPOTENCY_ATTRIBUTE = "idempotency"


def call_pk(phonon_uuid: str) -> str:
    return f"CALL#{phonon_uuid}"


def request_pk(request_id: str) -> str:
    return f"REQUEST#{request_id}"


def checksum_pk(flow_id: str, digest: str) -> str:
    return f"CHECKSUM#{flow_id}#{digest}"


class CallsTable:
    """The client (made on first use) and the tables' names from the settings unless given."""

    def __init__(
        self,
        client: Any | None = None,
        calls_table: str | None = None,
        config_table: str | None = None,
    ) -> None:
        self._client = client
        self._calls_table = calls_table
        self._config_table = config_table

    @property
    def client(self) -> Any:
        return self._client or aws.client("dynamodb")

    @property
    def calls_table(self) -> str:
        return self._calls_table or get_settings().calls_table

    @property
    def config_table(self) -> str:
        return self._config_table or get_settings().config_table

    def _keys_before(
        self, index: str, partition: tuple[str, str], sort_key: str, before: int, limit: int
    ) -> list[str]:
        """Keys in one partition of a sparse keys-only index whose number ``sort_key`` is below
        ``before``, lowest first, at most ``limit``."""
        try:
            result = self.client.query(
                TableName=self.calls_table,
                IndexName=index,
                KeyConditionExpression="#p = :p AND #s < :before",
                ExpressionAttributeNames={"#p": partition[0], "#s": sort_key},
                ExpressionAttributeValues={
                    ":p": {"S": partition[1]},
                    ":before": {"N": str(before)},
                },
                Limit=limit,
            )
        except ClientError as exc:
            raise AdapterError(f"querying {index}: {exc}") from exc
        return [item[PARTITION_KEY]["S"] for item in result.get("Items", [])]
