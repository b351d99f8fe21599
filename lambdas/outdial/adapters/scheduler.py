"""EventBridge Scheduler: one-time schedules that drop a dial message on the queue at a time."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters import aws
from outdial.adapters.dial_queue import dial_message
from outdial.adapters.errors import EnqueueError
from outdial.settings import get_settings

_NAME_RE = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")


def schedule_name(request_id: str, due_at: datetime) -> str:
    """One schedule per request and start second; AWS allows 64 chars of ``[0-9a-zA-Z-_.]``."""
    name = f"{request_id}-{int(due_at.timestamp())}"
    if not _NAME_RE.match(name):
        raise ValueError(f"schedule name {name!r} breaks EventBridge Scheduler's naming rules")
    return name


def at_expression(due_at: datetime) -> str:
    """``at(...)`` in UTC: a UTC wall-clock time is never skipped or repeated by a DST change."""
    return f"at({due_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


class Scheduler:
    """Creates and deletes the dial schedules of one schedule group."""

    def __init__(
        self,
        client: Any | None = None,
        group: str | None = None,
        queue_arn: str | None = None,
        role_arn: str | None = None,
    ) -> None:
        self._client = client
        self._group = group
        self._queue_arn = queue_arn
        self._role_arn = role_arn

    @property
    def client(self) -> Any:
        return self._client or aws.client("scheduler")

    @property
    def group(self) -> str:
        return self._group or get_settings().schedule_group

    def create(
        self,
        name: str,
        due_at: datetime,
        call_ids: list[str],
        dispatch: dict[str, str] | None = None,
    ) -> None:
        """Create a one-time schedule that sends ``call_ids`` to the dial queue at ``due_at``.

        Idempotent: a schedule that already exists under ``name`` is taken as created.
        """
        settings = get_settings()
        try:
            self.client.create_schedule(
                Name=name,
                GroupName=self.group,
                ScheduleExpression=at_expression(due_at),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": self._queue_arn or settings.dial_queue_arn,
                    "RoleArn": self._role_arn or settings.scheduler_role_arn,
                    "Input": dial_message(call_ids, dispatch),
                    "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConflictException":
                return
            raise EnqueueError(f"creating schedule {name}: {exc}") from exc

    def call_ids(self, name: str) -> list[str] | None:
        """The calls a schedule will wake, or None when it no longer exists."""
        try:
            schedule = self.client.get_schedule(Name=name, GroupName=self.group)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise EnqueueError(f"reading schedule {name}: {exc}") from exc
        return list(json.loads(schedule["Target"]["Input"]).get("call-ids", []))

    def delete(self, name: str) -> None:
        """Delete a schedule; one that is already gone is fine."""
        try:
            self.client.delete_schedule(Name=name, GroupName=self.group)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise EnqueueError(f"deleting schedule {name}: {exc}") from exc
