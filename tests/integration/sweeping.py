"""Requests killed mid-flight and the sweeper that settles them, on moto (helpers, not tests)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from outdial.adapters import aws
from outdial.contract import PENDING_PARTITION_KEY, PENDING_SORT_KEY
from outdial.local.apigateway import LambdaContext
from outdial.settings import get_settings
from tests.integration.stored import rows


class Killed(BaseException):
    """The invocation dies here (a timeout, out of memory): no ``except Exception`` runs."""


def dies(*_: Any, **__: Any) -> None:
    raise Killed


def run_sweeper() -> dict[str, int]:
    from outdial.handlers import sweeper

    return sweeper.handler({"source": "aws.events"}, LambdaContext(function_name="sweeper"))


def pending() -> list[dict[str, Any]]:
    return [row for row in rows("CHECKSUM#") if PENDING_PARTITION_KEY in row]


def age_pending(seconds: int) -> None:
    """Pretend every pending request was claimed ``seconds`` ago."""
    client = aws.client("dynamodb")
    for row in pending():
        client.update_item(
            TableName=get_settings().calls_table,
            Key={"pk": {"S": row["pk"]}},
            UpdateExpression="SET #claimed = :at",
            ExpressionAttributeNames={"#claimed": PENDING_SORT_KEY},
            ExpressionAttributeValues={
                ":at": {"N": str(int(datetime.now(UTC).timestamp()) - seconds)}
            },
        )


def past_grace() -> int:
    return get_settings().dispatch_grace_seconds + 1
