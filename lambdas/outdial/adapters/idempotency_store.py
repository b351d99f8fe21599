"""Idempotency-Key records in the calls table: who holds a key, and the response it got."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import TTL_ATTRIBUTE, CallsTableAdapter, from_item, key, to_item
from outdial.settings import get_settings

PROCESSING, DONE = "PROCESSING", "DONE"


def idempotency_pk(flow_id: str, idempotency_key: str) -> str:
    """Per flow; the key is hashed so any 255 printable characters make a short, safe key."""
    return f"IDEMPOTENCY#{flow_id}#{hashlib.sha256(idempotency_key.encode()).hexdigest()}"


@dataclass(frozen=True)
class KeyRecord:
    """A key's record as stored: the body it was first used with, and how that went."""

    pk: str
    body_digest: str
    state: str  # PROCESSING while its first request runs, DONE once answered
    lease_until: int  # epoch seconds: a PROCESSING record past this was left by a dead request
    expires_at: int
    code: str | None = None  # the answer's Code name, once DONE
    response: dict[str, Any] | None = None

    def live(self, now_epoch: int) -> bool:
        return self.expires_at >= now_epoch

    def in_flight(self, now_epoch: int) -> bool:
        return self.live(now_epoch) and self.state == PROCESSING and self.lease_until >= now_epoch

    @classmethod
    def of(cls, item: dict[str, Any]) -> KeyRecord:
        values = from_item(item)
        return cls(
            pk=values["pk"],
            body_digest=values["body-digest"],
            state=values["state"],
            lease_until=int(values.get("lease-until", 0)),
            expires_at=int(values.get(TTL_ATTRIBUTE, 0)),
            code=values.get("code"),
            response=json.loads(values["response"]) if values.get("response") else None,
        )


@dataclass(frozen=True)
class Begun:
    """What ``begin`` found: ``held`` is someone else's live record (the key is not ours), else
    ``previous`` is the expired record we took over, if any."""

    held: KeyRecord | None = None
    previous: KeyRecord | None = None


class IdempotencyStore(CallsTableAdapter):
    """Conditional writes on one record per (flow, key), so of two requests racing with one key
    exactly one holds it."""

    def get(self, pk: str) -> KeyRecord | None:
        try:
            item = self.client.get_item(TableName=self.table, Key=key(pk), ConsistentRead=True).get(
                "Item"
            )
        except ClientError as exc:
            raise AdapterError(f"reading {pk}: {exc}") from exc
        return KeyRecord.of(item) if item else None

    def begin(
        self, pk: str, body_digest: str, owner: str, now_epoch: int, lease_seconds: int
    ) -> Begun:
        """Hold the key for a request with ``owner`` as its token, unless a live record is
        there: one answered within the TTL, or one whose request is still within its lease."""
        try:
            result = self.client.put_item(
                TableName=self.table,
                Item=to_item(
                    {
                        "pk": pk,
                        "body-digest": body_digest,
                        "state": PROCESSING,
                        "owner": owner,
                        "lease-until": now_epoch + lease_seconds,
                        TTL_ATTRIBUTE: now_epoch + get_settings().idempotency_ttl_seconds,
                    }
                ),
                ConditionExpression=(
                    "attribute_not_exists(pk) OR #ttl < :now "
                    "OR (#state = :processing AND #lease < :now)"
                ),
                ExpressionAttributeNames={
                    "#ttl": TTL_ATTRIBUTE,
                    "#state": "state",
                    "#lease": "lease-until",
                },
                ExpressionAttributeValues={
                    ":now": {"N": str(now_epoch)},
                    ":processing": {"S": PROCESSING},
                },
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise AdapterError(f"holding {pk}: {exc}") from exc
            old = exc.response.get("Item") or self.client.get_item(
                TableName=self.table, Key=key(pk), ConsistentRead=True
            ).get("Item")
            if not old:  # gone between the put and the read: the caller may try again
                raise AdapterError(f"holding {pk}: record vanished") from exc
            return Begun(held=KeyRecord.of(old))
        old = result.get("Attributes")
        previous = KeyRecord.of(old) if old else None
        if previous is not None and not previous.live(now_epoch):
            previous = None  # a record past its TTL is as good as absent
        return Begun(previous=previous)

    def finish(self, pk: str, owner: str, code: str, response: dict[str, Any]) -> bool:
        """Record the answer of the request holding the key; False if it no longer holds it."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=key(pk),
                UpdateExpression="SET #state = :done, #code = :code, #response = :response",
                ConditionExpression="#owner = :owner AND #state = :processing",
                ExpressionAttributeNames={
                    "#state": "state",
                    "#code": "code",
                    "#response": "response",
                    "#owner": "owner",
                },
                ExpressionAttributeValues={
                    ":done": {"S": DONE},
                    ":code": {"S": code},
                    ":response": {"S": json.dumps(response, separators=(",", ":"))},
                    ":owner": {"S": owner},
                    ":processing": {"S": PROCESSING},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise AdapterError(f"recording {pk}: {exc}") from exc
        return True

    def let_go(self, pk: str, owner: str) -> None:
        """End the lease now without an answer (a fault): the next request with the key takes
        the record over, and first looks at what this one may have left accepted."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=key(pk),
                UpdateExpression="SET #lease = :zero",
                ConditionExpression="#owner = :owner AND #state = :processing",
                ExpressionAttributeNames={
                    "#lease": "lease-until",
                    "#owner": "owner",
                    "#state": "state",
                },
                ExpressionAttributeValues={
                    ":zero": {"N": "0"},
                    ":owner": {"S": owner},
                    ":processing": {"S": PROCESSING},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise AdapterError(f"letting go of {pk}: {exc}") from exc
