"""Per-flow request budgets (flow ``requests-per-second``): one counter item per flow per second.

Every api invocation, on any Lambda, counts through the same DynamoDB item with one conditional
``ADD``: the count only grows while it is under the limit, so of N concurrent requests in one
second exactly ``limit`` are admitted. The items expire by TTL a minute later.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import TTL_ATTRIBUTE, CallsTableAdapter, key

COUNTER_TTL_SECONDS = 60


def rate_pk(flow_id: str, second: int) -> str:
    return f"RATE#{flow_id}#{second}"


class FlowRateLimiter(CallsTableAdapter):
    """Admits a flow's requests up to its per-second limit."""

    def admit(self, flow_id: str, limit: int, second: int) -> bool:
        """Count one request of ``flow_id`` in epoch ``second``; False when ``limit`` requests
        were already admitted in that second (this one is then not counted)."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=key(rate_pk(flow_id, second)),
                UpdateExpression="ADD #count :one SET #expires = :expires",
                ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
                ExpressionAttributeNames={"#count": "count", "#expires": TTL_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":limit": {"N": str(limit)},
                    ":expires": {"N": str(second + COUNTER_TTL_SECONDS)},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise AdapterError(f"counting a request of flow {flow_id}: {exc}") from exc
        except BotoCoreError as exc:
            raise AdapterError(f"counting a request of flow {flow_id}: {exc}") from exc
        return True
