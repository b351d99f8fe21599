"""What the embedded AWS holds, read back the way tests look at it (helpers, not tests)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from outdial.adapters import aws
from outdial.adapters.tables import from_item
from outdial.settings import get_settings


def scan() -> list[dict[str, Any]]:
    client = aws.client("dynamodb")
    items = client.scan(TableName=get_settings().calls_table)["Items"]
    return [from_item(item) for item in items]


def rows(prefix: str) -> list[dict[str, Any]]:
    return [row for row in scan() if row["pk"].startswith(prefix)]


def dial_messages() -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=get_settings().dial_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=300
        ).get("Messages", [])
        if not batch:
            return bodies
        bodies += [json.loads(m["Body"]) for m in batch]


def schedules() -> list[dict[str, Any]]:
    client = aws.client("scheduler")
    names = [
        s["Name"]
        for s in client.list_schedules(GroupName=get_settings().schedule_group)["Schedules"]
    ]
    return [client.get_schedule(Name=n, GroupName=get_settings().schedule_group) for n in names]


def in_hours(hours: float) -> datetime:
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0)
