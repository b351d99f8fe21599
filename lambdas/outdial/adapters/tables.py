"""The DynamoDB tables: key schema shared by the handlers, `outdial serve`, the tests and CDK."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters import aws
from outdial.adapters.errors import AdapterError
from outdial.adapters.parallel import each, first_error
from outdial.contract import (
    CALLS_TABLE,
    CONFIG_TABLE,
    DEADLINE_INDEX,
    DEADLINE_PARTITION_KEY,
    DEADLINE_SHARDS,
    DEADLINE_SORT_KEY,
    PARTITION_KEY,
    PENDING_INDEX,
    PENDING_PARTITION_KEY,
    PENDING_SORT_KEY,
    PENDING_VALUE,
    TABLES,
    TTL_ATTRIBUTE,
)
from outdial.settings import get_settings

__all__ = [  # the table names and keys are the contract's; re-exported for the adapters
    "CALLS_TABLE",
    "CONFIG_TABLE",
    "DEADLINE_INDEX",
    "DEADLINE_PARTITION_KEY",
    "DEADLINE_SHARDS",
    "DEADLINE_SORT_KEY",
    "PARTITION_KEY",
    "PENDING_INDEX",
    "PENDING_PARTITION_KEY",
    "PENDING_SORT_KEY",
    "PENDING_VALUE",
    "TABLES",
    "TTL_ATTRIBUTE",
]


def serialize(value: Any) -> dict[str, Any]:
    """One value in DynamoDB's typed JSON (the subset of boto3's TypeSerializer we store:
    strings, numbers as Decimal-exact text, booleans, None, lists and string-keyed maps)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": str(Decimal(repr(value)))}
    if isinstance(value, Mapping):
        return {"M": {str(k): serialize(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def deserialize(typed: Mapping[str, Any]) -> Any:
    """One value from DynamoDB's typed JSON; numbers come back as Decimal, as with boto3."""
    (kind, value), *_ = typed.items()
    if kind == "S":
        return value
    if kind == "N":
        return Decimal(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: deserialize(v) for k, v in value.items()}
    if kind == "L":
        return [deserialize(v) for v in value]
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {Decimal(v) for v in value}
    if kind == "B":
        return value
    raise TypeError(f"unknown DynamoDB type {kind}")


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict → DynamoDB's typed item (None values are left out)."""
    return {k: serialize(v) for k, v in values.items() if v is not None}


MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit


def item_bytes(values: Mapping[str, Any]) -> int:
    """An upper bound of the item's size as DynamoDB counts it (names and values, UTF-8): its
    typed JSON, which adds a few bytes of markup per attribute on top."""
    return len(json.dumps(to_item(values), separators=(",", ":"), ensure_ascii=False).encode())


def to_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Expression attribute values: like ``to_item`` but None is kept, as DynamoDB's NULL."""
    return {k: serialize(v) for k, v in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed item → a plain dict."""
    return {k: deserialize(v) for k, v in item.items()}


def key(pk: str) -> dict[str, Any]:
    return {PARTITION_KEY: {"S": pk}}


def create_table_kwargs(name: str, *, pending_index: bool = False) -> dict[str, Any]:
    """``CreateTable`` arguments for one of our tables (on-demand, string partition key), with
    the pending-dispatch and dialing-deadlines indexes for the calls table."""
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": PARTITION_KEY, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if pending_index:
        kwargs["AttributeDefinitions"] += [
            {"AttributeName": PENDING_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": PENDING_SORT_KEY, "AttributeType": "N"},
        ]
        kwargs["AttributeDefinitions"] += [
            {"AttributeName": DEADLINE_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": DEADLINE_SORT_KEY, "AttributeType": "N"},
        ]
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": partition, "KeyType": "HASH"},
                    {"AttributeName": sort, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
            for index, partition, sort in (
                (PENDING_INDEX, PENDING_PARTITION_KEY, PENDING_SORT_KEY),
                (DEADLINE_INDEX, DEADLINE_PARTITION_KEY, DEADLINE_SORT_KEY),
            )
        ]
    return kwargs


BATCH_WRITE_LIMIT = 25  # DynamoDB's BatchWriteItem maximum
_MAX_UNPROCESSED_ROUNDS = 8


def batch_write(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    """Run ``PutRequest``/``DeleteRequest`` entries in batches of 25, the batches concurrently,
    each retrying its unprocessed entries with backoff.

    Raises ``AdapterError`` (once every batch has finished) when DynamoDB refuses a batch or
    keeps entries unprocessed.
    """
    chunks = [
        requests[start : start + BATCH_WRITE_LIMIT]
        for start in range(0, len(requests), BATCH_WRITE_LIMIT)
    ]
    error = first_error(each(lambda chunk: _write_batch(client, table, chunk), chunks))
    if error is not None:
        if isinstance(error, AdapterError):
            raise error
        raise AdapterError(f"batch write to {table}: {error}") from error


def _write_batch(client: Any, table: str, chunk: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {table: chunk}
    for round_ in range(_MAX_UNPROCESSED_ROUNDS):
        try:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems")
        except ClientError as exc:
            raise AdapterError(f"batch write to {table}: {exc}") from exc
        if not pending:
            return
        time.sleep(min(0.05 * 2**round_, 1.0) * random.random())
    raise AdapterError(f"batch write to {table}: items still unprocessed")


BATCH_GET_LIMIT = 100  # DynamoDB's BatchGetItem maximum keys per request
# Parallel BatchGetItem requests when one read spans many keys (500 calls x 10 numbers is 50
# requests: in parallel they take about as long as a few).
BATCH_GET_THREADS = 8


def batch_get(
    client: Any, table: str, pks: list[str], *, consistent: bool = False, keys_only: bool = False
) -> list[dict[str, Any]]:
    """The items of ``pks`` that exist, read with ``BatchGetItem`` 100 keys a request (retrying
    unprocessed keys), as plain dicts. Raises ``AdapterError``."""
    found: list[dict[str, Any]] = []
    unique = list(dict.fromkeys(pks))
    for start in range(0, len(unique), BATCH_GET_LIMIT):
        request: dict[str, Any] = {
            "Keys": [key(pk) for pk in unique[start : start + BATCH_GET_LIMIT]],
            "ConsistentRead": consistent,
        }
        if keys_only:
            request |= {"ProjectionExpression": "#pk", "ExpressionAttributeNames": {"#pk": "pk"}}
        pending: dict[str, Any] | None = {table: request}
        for round_ in range(_MAX_UNPROCESSED_ROUNDS):
            try:
                result = client.batch_get_item(RequestItems=pending)
            except ClientError as exc:
                raise AdapterError(f"batch read of {table}: {exc}") from exc
            found += [from_item(i) for i in result["Responses"].get(table, [])]
            pending = result.get("UnprocessedKeys") or None
            if not pending:
                break
            time.sleep(min(0.05 * 2**round_, 1.0) * random.random())
        else:
            raise AdapterError(f"batch read of {table}: keys still unprocessed")
    return found


def batch_get_parallel(
    client: Any, table: str, pks: list[str], *, keys_only: bool = False
) -> list[dict[str, Any]]:
    """``batch_get`` (eventually consistent) with its requests run up to BATCH_GET_THREADS at a
    time (boto3 clients are thread-safe)."""
    unique = list(dict.fromkeys(pks))
    chunks = [unique[i : i + BATCH_GET_LIMIT] for i in range(0, len(unique), BATCH_GET_LIMIT)]
    if len(chunks) <= 1:
        return batch_get(client, table, unique, keys_only=keys_only)
    with ThreadPoolExecutor(max_workers=min(BATCH_GET_THREADS, len(chunks))) as pool:
        return [
            item
            for items in pool.map(
                lambda c: batch_get(client, table, c, keys_only=keys_only), chunks
            )
            for item in items
        ]


class CallsTableAdapter:
    """Base of the small adapters that keep their items in the calls table: the shared client,
    made on first use, and the table's name from the settings unless one is given."""

    def __init__(self, client: Any | None = None, table: str | None = None) -> None:
        self._client = client
        self._table = table

    @property
    def client(self) -> Any:
        return self._client or aws.client("dynamodb")

    @property
    def table(self) -> str:
        return self._table or get_settings().calls_table


class ConfigTableAdapter(CallsTableAdapter):
    """Base of the adapters that keep their items in the config table: the same, with the config
    table's name from the settings unless one is given."""

    @property
    def table(self) -> str:
        return self._table or get_settings().config_table
