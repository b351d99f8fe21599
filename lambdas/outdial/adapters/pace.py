"""Per-gateway slots in DynamoDB: how many legs each gateway was handed in a window of time.

One item per gateway and window (named by the epoch second it starts at). Taking a slot is one
conditional update (``placed`` below the window's slots), so every dialer, on any Lambda, shares
the same budget.
A leg refused a slot counts itself in ``waiting``, which tells it its place in the queue.
Items expire with the table's TTL a few minutes later.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import TTL_ATTRIBUTE, CallsTableAdapter, key

SLOT_RETENTION_SECONDS = 600


def pace_pk(gateway_id: str, second: int) -> str:
    return f"PACE#{gateway_id}#{second}"


class PaceStore(CallsTableAdapter):
    """The slot counters, in the calls table."""

    def _add(self, gateway_id: str, second: int, counter: str, limit: int | None) -> int | None:
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": key(pace_pk(gateway_id, second)),
            "UpdateExpression": "ADD #n :one SET #ttl = :ttl",
            "ExpressionAttributeNames": {"#n": counter, "#ttl": TTL_ATTRIBUTE},
            "ExpressionAttributeValues": {
                ":one": {"N": "1"},
                ":ttl": {"N": str(second + SLOT_RETENTION_SECONDS)},
            },
            "ReturnValues": "UPDATED_NEW",
        }
        if limit is not None:
            request["ConditionExpression"] = "attribute_not_exists(#n) OR #n < :limit"
            request["ExpressionAttributeValues"][":limit"] = {"N": str(limit)}
        try:
            result = self.client.update_item(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise AdapterError(f"pacing gateway {gateway_id}: {exc}") from exc
        except BotoCoreError as exc:
            raise AdapterError(f"pacing gateway {gateway_id}: {exc}") from exc
        return int(result["Attributes"][counter]["N"])

    def take(self, gateway_id: str, second: int, limit: int) -> bool:
        """Take one of the ``limit`` slots of the window starting at ``second``; False when
        they are all taken."""
        return self._add(gateway_id, second, "placed", limit) is not None

    def wait_in_line(self, gateway_id: str, second: int) -> int:
        """Count one more leg refused a slot in the window starting at ``second``; its 1-based
        place among them."""
        position = self._add(gateway_id, second, "waiting", None)
        assert position is not None
        return position
