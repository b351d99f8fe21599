"""EventBridge Scheduler: one-time schedules that drop a dial message on the queue ahead of time.

Scheduler fires a one-time schedule somewhere within its minute, so outdial asks no more of it:
one schedule per request per start *minute*, set to fire a whole minute before that minute
begins. Its message names each call's due second; the dialer that receives it re-sends the calls
as SQS messages delayed to their second (adapters/dial_queue.py), so the last hop's precision is
SQS's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from outdial.adapters import aws
from outdial.adapters.dial_queue import dial_message
from outdial.adapters.errors import EnqueueError
from outdial.adapters.parallel import each, first_error
from outdial.settings import get_settings

_NAME_RE = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")
# Scheduler's precision: a schedule fires anywhere within the minute it names.
PRECISION = timedelta(seconds=60)
# The least time ahead a schedule is created for (Scheduler refuses a moment already past).
MIN_AHEAD = timedelta(seconds=5)


def start_minute(due_at: datetime) -> datetime:
    """The UTC minute ``due_at`` falls in."""
    return due_at.astimezone(UTC).replace(second=0, microsecond=0)


def fire_time(first_due: datetime) -> datetime:
    """When the schedule of a minute whose first call is due at ``first_due`` is set to fire: a
    whole minute before that minute begins, so even a late firing is early for every call."""
    return start_minute(first_due) - PRECISION


def fires_in_time(due_at: datetime, now: datetime) -> bool:
    """Whether a call due at ``due_at`` may wait for a schedule: its schedule fires at least the
    settings' lead ahead of ``now``; otherwise it rides an SQS delay (at most a few minutes)."""
    lead = get_settings().schedule_min_lead_seconds
    return (fire_time(due_at) - now).total_seconds() >= lead


def schedule_name(request_id: str, minute: datetime) -> str:
    """One schedule per request and start minute; AWS allows 64 chars of ``[0-9a-zA-Z-_.]``."""
    name = f"{request_id}-{int(minute.timestamp())}"
    if not _NAME_RE.match(name):
        raise ValueError(f"schedule name {name!r} breaks EventBridge Scheduler's naming rules")
    return name


def at_expression(moment: datetime) -> str:
    """``at(...)`` in UTC, to the next whole second: a UTC wall-clock time is never skipped or
    repeated by a DST change."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return f"at({moment.strftime('%Y-%m-%dT%H:%M:%S')})"


@dataclass(frozen=True)
class PlannedSchedule:
    """One schedule to create: its name and the calls it wakes, each with its due time."""

    name: str
    calls: tuple[tuple[str, datetime], ...]
    dispatch: dict[str, str] = field(default_factory=dict)  # call id -> dispatch token

    @property
    def first_due(self) -> datetime:
        return min(due for _, due in self.calls)

    def body(self) -> str:
        """The dial message it drops: the calls, their first due second, and each call's
        offset from it when they differ."""
        first = int(self.first_due.timestamp())
        return dial_message(
            [call_id for call_id, _ in self.calls],
            self.dispatch,
            due=first,
            offsets=[int(due.timestamp()) - first for _, due in self.calls],
        )


class Scheduler:
    """Creates and deletes the dial schedules of one schedule group."""

    def __init__(
        self,
        client: Any | None = None,
        group: str | None = None,
        queue_arn: str | None = None,
        role_arn: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._group = group
        self._queue_arn = queue_arn
        self._role_arn = role_arn
        self._clock = clock

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
        call_ids: Sequence[str],
        dispatch: dict[str, str] | None = None,
    ) -> None:
        """Have ``call_ids`` dialled at ``due_at`` (a schedule that fires ahead of it);
        ``dispatch`` names the wake-up this is for rescheduled calls (see ``dial_message``)."""
        self.create_group(
            PlannedSchedule(name, tuple((c, due_at) for c in call_ids), dict(dispatch or {}))
        )

    def create_all(self, schedules: Sequence[PlannedSchedule]) -> None:
        """Create every schedule, concurrently; ``EnqueueError`` once all have finished if any
        failed (the caller deletes them all to undo)."""
        error = first_error(each(self.create_group, schedules))
        if isinstance(error, EnqueueError):
            raise error
        if error is not None:
            raise EnqueueError(f"creating schedules: {error}") from error

    def delete_all(self, names: Sequence[str]) -> None:
        """Delete every schedule named (concurrently); ones already gone are fine."""
        error = first_error(each(self.delete, names))
        if error is not None:
            raise error

    def create_group(self, schedule: PlannedSchedule) -> None:
        """Create one one-time schedule that drops the calls' dial message on the queue a
        minute before their minute (or, when that has passed, a few seconds from now).

        Idempotent: a schedule that already exists under its name is taken as created.
        """
        settings = get_settings()
        name = schedule.name
        fire_at = max(fire_time(schedule.first_due), self._clock() + MIN_AHEAD)
        try:
            self.client.create_schedule(
                Name=name,
                GroupName=self.group,
                ScheduleExpression=at_expression(fire_at),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": self._queue_arn or settings.dial_queue_arn,
                    "RoleArn": self._role_arn or settings.scheduler_role_arn,
                    "Input": schedule.body(),
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
