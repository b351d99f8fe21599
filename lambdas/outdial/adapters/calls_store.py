"""Calls, requests and request checksums in the calls table; balance reservations on accounts."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters import aws
from outdial.adapters.config_store import account_pk
from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import (
    DEADLINE_INDEX,
    DEADLINE_PARTITION_KEY,
    DEADLINE_SORT_KEY,
    PARTITION_KEY,
    PENDING_INDEX,
    PENDING_PARTITION_KEY,
    PENDING_SORT_KEY,
    PENDING_VALUE,
    TTL_ATTRIBUTE,
    batch_get,
    batch_write,
    from_item,
    key,
    to_item,
    to_values,
)
from outdial.models.calls import CallStatus
from outdial.settings import get_settings


class BalanceTooLow(AdapterError):
    """The account's balance cannot cover the reservation; nothing was written."""


def call_pk(phonon_uuid: str) -> str:
    return f"CALL#{phonon_uuid}"


def request_pk(request_id: str) -> str:
    return f"REQUEST#{request_id}"


def checksum_pk(flow_id: str, digest: str) -> str:
    return f"CHECKSUM#{flow_id}#{digest}"


# On a checksum claim: the Idempotency-Key record of the request that made it, if it had one.
IDEMPOTENCY_ATTRIBUTE = "idempotency"


class CallsStore:
    """Every write of call acceptance, each one request or a batch of them."""

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

    def refund(self, account_id: str, amount: Decimal) -> None:
        """Give a reservation back."""
        try:
            self.client.update_item(**_refund(self.config_table, account_id, amount)["Update"])
        except ClientError as exc:
            raise AdapterError(f"refunding balance: {exc}") from exc

    def reserve_and_claim(
        self,
        checksum: str,
        response: dict[str, Any],
        now_epoch: int,
        ttl_seconds: int,
        *,
        account_id: str,
        amount: Decimal,
        idempotency: str | None = None,
    ) -> dict[str, Any] | None:
        """Reserve ``amount`` from the account's balance and record that this checksum's request
        is accepted, both or neither (one transaction).

        Returns None when both are done; the first acceptance's response when the checksum was
        claimed already (nothing reserved: of two identical requests racing, exactly one is
        accepted). Raises ``BalanceTooLow`` when the balance cannot cover ``amount``. An expired
        checksum that TTL has not deleted yet counts as absent.

        The claim is marked pending dispatch (it enters the pending-dispatch index) until
        ``mark_dispatched``; it carries what the sweeper needs to finish or undo the request.
        The request id is the transaction's idempotency token: a retry after a lost answer is
        not applied twice.
        """
        claim = {
            "Put": {
                "TableName": self.calls_table,
                "Item": to_item(
                    {
                        "pk": checksum,
                        "response": json.dumps(response),
                        "request-id": response["request-id"],
                        "account-id": account_id,
                        "amount": amount,
                        IDEMPOTENCY_ATTRIBUTE: idempotency,
                        PENDING_PARTITION_KEY: PENDING_VALUE,
                        PENDING_SORT_KEY: now_epoch,
                        TTL_ATTRIBUTE: now_epoch + ttl_seconds,
                    }
                ),
                "ConditionExpression": "attribute_not_exists(pk) OR #ttl < :now",
                "ExpressionAttributeNames": {"#ttl": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": {":now": {"N": str(now_epoch)}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        reserve = {
            "Update": {
                "TableName": self.config_table,
                "Key": key(account_pk(account_id)),
                "UpdateExpression": "SET balance = balance - :amount",
                "ConditionExpression": "balance >= :amount",
                "ExpressionAttributeValues": {":amount": {"N": str(amount)}},
            }
        }
        try:
            self.client.transact_write_items(
                TransactItems=[claim, reserve], ClientRequestToken=response["request-id"][:36]
            )
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons", [])
            codes = [r.get("Code") for r in reasons]
            if codes[:1] == ["ConditionalCheckFailed"]:
                old = reasons[0].get("Item")
                if old:
                    return json.loads(from_item(old)["response"])
                return self.get_checksum(checksum, now_epoch) or {}
            if codes[1:2] == ["ConditionalCheckFailed"]:
                raise BalanceTooLow(f"{account_id} cannot cover {amount}") from None
            raise AdapterError(f"reserving and claiming {checksum}: {exc}") from exc
        return None

    def mark_dispatched(self, checksum: str, request_id: str) -> None:
        """Take a request's claim out of the pending-dispatch index: its calls are enqueued."""
        try:
            self.client.update_item(
                TableName=self.calls_table,
                Key=key(checksum),
                UpdateExpression="REMOVE #pending",
                ConditionExpression="#rid = :rid",
                ExpressionAttributeNames={"#pending": PENDING_PARTITION_KEY, "#rid": "request-id"},
                ExpressionAttributeValues={":rid": {"S": request_id}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise AdapterError(f"marking {checksum} dispatched: {exc}") from exc

    def postpone_dispatch(self, checksum: str, now_epoch: int) -> None:
        """Move a pending claim to the back of the index: it is tried again a grace period on."""
        try:
            self.client.update_item(
                TableName=self.calls_table,
                Key=key(checksum),
                UpdateExpression="SET #claimed = :now",
                ConditionExpression="attribute_exists(#pending)",
                ExpressionAttributeNames={
                    "#claimed": PENDING_SORT_KEY,
                    "#pending": PENDING_PARTITION_KEY,
                },
                ExpressionAttributeValues={":now": {"N": str(now_epoch)}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise AdapterError(f"postponing {checksum}: {exc}") from exc

    def pending_dispatches(self, claimed_before: int, limit: int) -> list[str]:
        """Checksums still pending dispatch that were claimed before ``claimed_before`` (epoch
        seconds), oldest first, at most ``limit``."""
        return self._keys_before(
            PENDING_INDEX,
            (PENDING_PARTITION_KEY, PENDING_VALUE),
            PENDING_SORT_KEY,
            claimed_before,
            limit,
        )

    def overdue_calls(self, shard: str, before: int, limit: int) -> list[str]:
        """Keys of DIALING calls in deadline shard ``shard`` whose current leg's outcome was due
        before ``before`` (epoch seconds), most overdue first, at most ``limit``."""
        return self._keys_before(
            DEADLINE_INDEX, (DEADLINE_PARTITION_KEY, shard), DEADLINE_SORT_KEY, before, limit
        )

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

    def get_checksum(self, checksum: str, now_epoch: int) -> dict[str, Any] | None:
        """The response of the acceptance this checksum records, unless expired."""
        try:
            item = self.client.get_item(
                TableName=self.calls_table, Key=key(checksum), ConsistentRead=True
            ).get("Item")
        except ClientError as exc:
            raise AdapterError(f"reading checksum: {exc}") from exc
        if not item:
            return None
        values = from_item(item)
        if int(values.get(TTL_ATTRIBUTE, 0)) < now_epoch:
            return None
        return json.loads(values["response"])

    def release_and_refund(
        self, checksum: str, request_id: str, account_id: str, amount: Decimal
    ) -> bool:
        """Forget ``request_id``'s pending claim and give ``amount`` back, both or neither (the
        request was not accepted after all). False when that claim is not there pending (already
        released, dispatched, or someone else's): nothing is refunded twice."""
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self.calls_table,
                            "Key": key(checksum),
                            "ConditionExpression": "#rid = :rid AND attribute_exists(#pending)",
                            "ExpressionAttributeNames": {
                                "#rid": "request-id",
                                "#pending": PENDING_PARTITION_KEY,
                            },
                            "ExpressionAttributeValues": {":rid": {"S": request_id}},
                        }
                    },
                    _refund(self.config_table, account_id, amount),
                ]
            )
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            raise AdapterError(f"releasing {checksum}: {exc}") from exc
        return True

    def put_items(self, items: list[dict[str, Any]]) -> None:
        """Write plain-dict items (calls, the request) in batches of 25."""
        batch_write(
            self.client, self.calls_table, [{"PutRequest": {"Item": to_item(i)}} for i in items]
        )

    def delete_if_waiting(self, pk: str) -> None:
        """Delete a call only while it is SCHEDULED or QUEUED (a dialer or a cancel may be
        taking it at this moment); one that is not, or is gone, stays as it is."""
        try:
            self.client.delete_item(
                TableName=self.calls_table,
                Key=key(pk),
                ConditionExpression="#status IN (:scheduled, :queued)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":scheduled": {"S": CallStatus.SCHEDULED.value},
                    ":queued": {"S": CallStatus.QUEUED.value},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise AdapterError(f"deleting {pk}: {exc}") from exc

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

    # --- moving calls and legs ------------------------------------------------------------

    def update(
        self,
        pk: str,
        values: dict[str, Any],
        *,
        condition: str | None = None,
        condition_values: dict[str, Any] | None = None,
        table: str | None = None,
        remove: tuple[str, ...] = (),
    ) -> dict[str, Any] | None:
        """``SET`` each of ``values`` (a dotted name sets inside a map) and ``REMOVE`` each of
        ``remove`` if ``condition`` holds.

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
            "UpdateExpression": "SET " + ", ".join(sets) + _remove_clause(remove, names),
            "ExpressionAttributeNames": names,
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            placeholders |= condition_values or {}
            request["ConditionExpression"] = condition
            for alias, real in _CONDITION_NAMES.items():
                if alias in condition:
                    names[alias] = real
        request["ExpressionAttributeValues"] = to_values(placeholders) if placeholders else None
        request = {k: v for k, v in request.items() if v is not None}
        try:
            result = self.client.update_item(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise AdapterError(f"updating {pk}: {exc}") from exc
        return from_item(result["Attributes"])

    def put_new(self, values: dict[str, Any]) -> bool:
        """Write an item only if none with its key exists; False when one does (claims)."""
        try:
            self.client.put_item(
                TableName=self.calls_table,
                Item=to_item(values),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise AdapterError(f"claiming {values.get('pk')}: {exc}") from exc
        return True

    def release_claim(self, pk: str) -> None:
        """Delete a leg's claim while it is only a claim (the leg was not placed after all)."""
        try:
            self.client.delete_item(
                TableName=self.calls_table,
                Key=key(pk),
                ConditionExpression="#state = :claimed",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":claimed": {"S": "CLAIMED"}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise AdapterError(f"releasing {pk}: {exc}") from exc

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
        for alias, real in _CONDITION_NAMES.items():
            if alias in condition:
                names[alias] = real
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
                    _refund(self.config_table, account_id, refund),
                ]
            )
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            raise AdapterError(f"finishing {pk}: {exc}") from exc
        return True


def _remove_clause(attributes: tuple[str, ...], names: dict[str, str]) -> str:
    """`` REMOVE #r0, ...`` for ``attributes`` (their aliases added to ``names``), or ""."""
    if not attributes:
        return ""
    for index, attribute in enumerate(attributes):
        names[f"#r{index}"] = attribute
    return " REMOVE " + ", ".join(f"#r{index}" for index in range(len(attributes)))


def _refund(config_table: str, account_id: str, amount: Decimal) -> dict[str, Any]:
    """The transaction item that gives ``amount`` back to the account's balance."""
    return {
        "Update": {
            "TableName": config_table,
            "Key": key(account_pk(account_id)),
            "UpdateExpression": "SET balance = balance + :amount",
            "ExpressionAttributeValues": {":amount": {"N": str(amount)}},
        }
    }


# Attribute names conditions may use through these aliases.
_CONDITION_NAMES = {
    "#status": "status",
    "#leg": "current-leg",
    "#attempt": "attempt",
    "#index": "number-index",
    "#state": "state",
    "#claimed": "claimed-epoch",
    "#dispatch": "dispatch-id",
}


def leg_pk(leg_id: str) -> str:
    return f"LEG#{leg_id}"
