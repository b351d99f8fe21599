"""Request checksums (SPEC §2 check 12) and the balance reservation that goes with them.

A request's checksum is claimed and its calls' cost reserved in one transaction; the claim is
marked pending dispatch until its calls are enqueued, and released with a refund when the request
is taken back. The sweeper reads the pending marks.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters.balances import Balances
from outdial.adapters.calls_table import (
    IDEMPOTENCY_ATTRIBUTE,
    CallsTable,
    refund_item,
)
from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import (
    PENDING_INDEX,
    PENDING_PARTITION_KEY,
    PENDING_SORT_KEY,
    PENDING_VALUE,
    TTL_ATTRIBUTE,
    from_item,
    key,
    to_item,
)


class ChecksumClaims(CallsTable):
    """``ChecksumStore`` on DynamoDB: claims, their pending marks, reservations and refunds."""

    def refund(self, account_id: str, amount: Decimal, spread_key: str) -> None:
        """Give a reservation back (to the balance shard of ``spread_key``)."""
        try:
            self.client.update_item(
                **refund_item(self.config_table, account_id, amount, spread_key)["Update"]
            )
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
        try:
            Balances(self.client, self.config_table).reserve(
                account_id,
                amount,
                spread_key=response["request-id"],
                token=response["request-id"],
                with_items=[claim],
            )
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons", [])
            if reasons[:1] and reasons[0].get("Code") == "ConditionalCheckFailed":
                old = reasons[0].get("Item")
                if old:
                    return json.loads(from_item(old)["response"])
                return self.get_checksum(checksum, now_epoch) or {}
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
                    refund_item(self.config_table, account_id, amount, request_id),
                ]
            )
        except ClientError as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            raise AdapterError(f"releasing {checksum}: {exc}") from exc
        return True
