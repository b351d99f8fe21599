"""moto made to behave like AWS where outdial relies on it, and fast enough to run on a laptop.

Applied by the embedded AWS (``outdial serve``) and by the test suite before moto starts; each
patch is idempotent. They only change how moto works, never what resources exist: provisioning
and serving stay in ``outdial.local.embedded_aws``.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import threading
import time
from datetime import datetime
from typing import Any

# Reads too: moto iterates its tables' dicts while other threads' writes resize them.
_ATOMIC_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
    "get_item",
    "batch_get_item",
    "transact_get_items",
    "query",
    "scan",
)
_dynamodb_lock = threading.RLock()


def make_dynamodb_writes_atomic() -> None:
    """Give moto's DynamoDB the per-item atomicity real DynamoDB has.

    moto checks a write's condition and then applies it without a lock, so two threads can both
    pass ``attribute_not_exists``. Real DynamoDB never lets that happen, and our exactly-once
    guarantees rest on it; serialising moto's operations restores it (and keeps a read from
    iterating a table another thread is changing). Idempotent.
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    # The handler too: it turns the backend's live items into its answer after the backend
    # returns, and a write resizing an item meanwhile made that fail ("dictionary changed size").
    for owner in (DynamoDBBackend, DynamoHandler):
        for name in _ATOMIC_WRITES:
            original = getattr(owner, name)
            if getattr(original, "_outdial_atomic", False):
                continue

            def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                with _dynamodb_lock:
                    return _original(self, *args, **kwargs)

            locked._outdial_atomic = True  # type: ignore[attr-defined]
            setattr(owner, name, functools.wraps(original)(locked))


def make_transactions_cheap() -> None:
    """Keep moto's ``TransactWriteItems`` from deep-copying every table it touches.

    moto snapshots whole tables to roll a failed transaction back, so each transaction costs
    time in proportion to the table's size: a laptop's calls table of tens of thousands of rows
    made every settlement take seconds. This keeps moto's own logic but snapshots only the items
    the transaction names, and puts those back when it fails. Safe because our writes are
    serialised (``make_dynamodb_writes_atomic``). Idempotent.
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "_outdial_cheap", False):
        return

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        with _dynamodb_lock:
            snapshot: list[tuple[Any, Any, Any]] = []
            for entry in transact_items:
                _, op = next(iter(entry.items()))
                table = self.tables.get(op.get("TableName"))
                if table is None or table.has_range_key:
                    return original(self, transact_items)  # not ours: moto's own way
                key = op.get("Key") or {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                hash_value = DynamoType(key[table.hash_key_attr])
                snapshot.append((table, hash_value, copy.deepcopy(table.items.get(hash_value))))
            Table.__deepcopy__ = lambda table, memo: table  # type: ignore[attr-defined]
            try:
                return original(self, transact_items)
            except Exception:
                for table, hash_value, item in reversed(snapshot):
                    if item is None:
                        table.items.pop(hash_value, None)
                    else:
                        table.items[hash_value] = item
                raise
            finally:
                del Table.__deepcopy__  # type: ignore[attr-defined]

    transact._outdial_cheap = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = functools.wraps(original)(transact)  # type: ignore[method-assign]


# The item operations, whose answers moto builds in DynamoDB's JSON wire form already.
_ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "TransactGetItems",
    }
)


def make_dynamodb_answers_fast() -> None:
    """Answer moto's DynamoDB item operations with one ``json.dumps`` instead of its serializer.

    moto serializes an answer by walking botocore's output shape member by member; an item's
    attribute values are a recursive shape, so a call item with its legs takes milliseconds and
    a ``BatchGetItem`` of 100 calls most of a second, which made moto, not outdial, the cost of
    every test and of ``outdial serve``. Those answers are already DynamoDB's wire form, so they
    are dumped as they are: absent members (None) left out and binary values base64-encoded, as
    the serializer does. Idempotent.
    """
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result
    if getattr(original, "_outdial_fast", False):
        return

    def execute(self: Any, context: Any) -> Any:
        operation = context.operation_model
        if operation.name not in _ITEM_OPERATIONS or not isinstance(self.result, dict):
            return original(self, context)
        version = operation.service_model.metadata.get("jsonVersion", "1.0")
        body = json.dumps(_present(self.result), default=_wire, separators=(",", ":"))
        return 200, {"Content-Type": f"application/x-amz-json-{version}"}, body

    execute._outdial_fast = True  # type: ignore[attr-defined]
    DynamoResult.execute_result = functools.wraps(original)(execute)  # type: ignore[method-assign]


def _present(value: Any) -> Any:
    """``value`` without the None members of its maps (the serializer leaves them out)."""
    if isinstance(value, dict):
        return {k: _present(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_present(v) for v in value]
    return value


def _wire(value: Any) -> Any:
    """What ``json`` cannot write itself: binary values (base64) and timestamps (epoch)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot answer with {type(value).__name__}")


def make_dynamodb_items_cheap() -> None:
    """Let moto build an item checking its size once, not once per attribute.

    moto checks DynamoDB's 400 KB item limit on every attribute it sets, each time re-measuring
    every attribute already set (maps recursively): building a call item with its legs cost
    quadratic time in its attributes. This builds the item as moto does and measures it once,
    refusing it as moto would. Idempotent.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    original = Item.__init__
    if getattr(original, "_outdial_cheap", False):
        return

    def init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        values = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in values.items()) > 405000:
            raise ItemSizeTooLarge  # moto's own limit (DynamoDB's 400 KB and a margin)
        self.attrs = LimitedSizeDict(values)

    init._outdial_cheap = True  # type: ignore[attr-defined]
    Item.__init__ = functools.wraps(original)(init)  # type: ignore[method-assign]


def make_sqs_clock_cheap() -> None:
    """Give moto's SQS a cheap clock for its per-message visibility checks.

    moto decides whether each message of a queue is visible by building two naive datetimes per
    message, and it counts a queue's messages on every send (reading the queue's attributes), so
    each send costs time in proportion to the queue's length: a queue of a thousand webhooks
    made a send take milliseconds. ``time.time()`` is the same instant in milliseconds for a
    fraction of the cost. Idempotent.
    """
    from moto.sqs import models

    original = models.unix_time_millis
    if getattr(original, "_outdial_cheap", False):
        return

    def unix_time_millis(dt: datetime | None = None) -> float:
        return time.time() * 1000.0 if dt is None else float(original(dt))

    unix_time_millis._outdial_cheap = True  # type: ignore[attr-defined]
    models.unix_time_millis = unix_time_millis


def patch_moto() -> None:
    """Every patch above (idempotent)."""
    make_dynamodb_writes_atomic()
    make_transactions_cheap()
    make_dynamodb_answers_fast()
    make_dynamodb_items_cheap()
    make_sqs_clock_cheap()
