"""The DynamoDB tables: key schema shared by the handlers, `outdial serve`, the tests and CDK."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from outdial.adapters.errors import AdapterError

PARTITION_KEY = "pk"
TTL_ATTRIBUTE = "expires-at"

CONFIG_TABLE = "config"  # accounts (with their balance), flow views, gateways
CALLS_TABLE = "calls"  # calls, requests, checksums, legs

TABLES = (CONFIG_TABLE, CALLS_TABLE)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict → DynamoDB's typed item (None values are left out)."""
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def to_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Expression attribute values: like ``to_item`` but None is kept, as DynamoDB's NULL."""
    return {k: _serializer.serialize(v) for k, v in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed item → a plain dict."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def key(pk: str) -> dict[str, Any]:
    return {PARTITION_KEY: {"S": pk}}


def create_table_kwargs(name: str) -> dict[str, Any]:
    """``CreateTable`` arguments for one of our tables (on-demand, string partition key)."""
    return {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": PARTITION_KEY, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


BATCH_WRITE_LIMIT = 25  # DynamoDB's BatchWriteItem maximum
_MAX_UNPROCESSED_ROUNDS = 8


def batch_write(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    """Run ``PutRequest``/``DeleteRequest`` entries in batches of 25, retrying unprocessed ones.

    Raises ``AdapterError`` when DynamoDB refuses or keeps items unprocessed.
    """
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending: dict[str, Any] = {table: requests[start : start + BATCH_WRITE_LIMIT]}
        for round_ in range(_MAX_UNPROCESSED_ROUNDS):
            try:
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems")
            except ClientError as exc:
                raise AdapterError(f"batch write to {table}: {exc}") from exc
            if not pending:
                break
            time.sleep(min(0.05 * 2**round_, 1.0) * random.random())
        else:
            raise AdapterError(f"batch write to {table}: items still unprocessed")
