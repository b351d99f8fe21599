"""EventBridge Scheduler's firing, for `outdial serve`: moto stores schedules but never runs them.

Every ``interval`` the pump lists the group's schedules, and for each one-time schedule
(``at(YYYY-MM-DDTHH:MM:SS)`` in its ``ScheduleExpressionTimezone``) that is due, sends its
target's input to the target SQS queue, then honours ``ActionAfterCompletion``: ``DELETE``
deletes the schedule, ``NONE`` leaves it and the pump remembers it fired. A schedule fires at
most once (until it is modified). ``rate()``/``cron()`` schedules are not ours and are skipped.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botocore.exceptions import ClientError

from outdial.adapters import aws
from outdial.local.timer import Periodic
from outdial.observability import logger

_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


def due_at(schedule: dict[str, Any]) -> datetime | None:
    """When a one-time schedule is due (aware), or None for any other kind of expression."""
    match = _AT.match(str(schedule.get("ScheduleExpression", "")).strip())
    if not match:
        return None
    try:
        zone = ZoneInfo(schedule.get("ScheduleExpressionTimezone") or "UTC")
        return datetime.fromisoformat(match.group(1)).replace(tzinfo=zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # EventBridge would have refused it; nothing we can fire


@dataclass(frozen=True)
class _Known:
    """What the pump learnt of one schedule version (fetched once, not every tick)."""

    version: str  # LastModificationDate: a modified schedule is read, and may fire, again
    schedule: dict[str, Any]
    due: datetime | None


@dataclass(frozen=True)
class _Due:
    known: _Known
    due: datetime


class SchedulePump(Periodic):
    """Fires the due one-time schedules of ``group`` into their SQS targets."""

    def __init__(
        self,
        group: str,
        *,
        interval: float = 0.5,
        scheduler: Any | None = None,
        sqs: Any | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        name: str = "schedule-pump",
    ) -> None:
        super().__init__(interval=interval, name=name)
        self.group = group
        self._scheduler = scheduler
        self._sqs = sqs
        self._clock = clock
        self._known: dict[str, _Known] = {}
        self._fired: dict[str, str] = {}  # name -> the version that fired
        self._queue_urls: dict[str, str] = {}
        self._tick_lock = threading.Lock()

    @property
    def scheduler(self) -> Any:
        return self._scheduler or aws.client("scheduler")

    @property
    def sqs(self) -> Any:
        return self._sqs or aws.client("sqs")

    def __repr__(self) -> str:
        return f"{self.name}(group={self.group}, every {self.interval}s)"

    def tick(self) -> int:
        """Fire every schedule now due; the number fired."""
        with self._tick_lock:  # a test's tick never races the thread's
            now = self._clock()
            listed = self._list()
            # Forget what is gone, so the bookkeeping does not grow with every schedule ever made.
            for gone in set(self._known) - set(listed):
                self._known.pop(gone, None)
            for gone in set(self._fired) - set(listed):
                self._fired.pop(gone, None)
            due: list[_Due] = []
            for name, summary in listed.items():
                version = str(summary.get("LastModificationDate", ""))
                if summary.get("State", "ENABLED") != "ENABLED" or self._fired.get(name) == version:
                    continue
                known = self._known.get(name)
                if known is None or known.version != version:
                    schedule = self._get(name)
                    if schedule is None:
                        continue
                    known = _Known(version, schedule, due_at(schedule))
                    self._known[name] = known
                if known.due is not None and known.due <= now:
                    due.append(_Due(known, known.due))
            fired = 0
            for item in sorted(due, key=lambda d: d.due):
                fired += self._fire(item.known, item.due)
            return fired

    def _list(self) -> dict[str, dict[str, Any]]:
        listed: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {"GroupName": self.group}
        while True:
            page = self.scheduler.list_schedules(**request)
            for summary in page.get("Schedules", []):
                listed[summary["Name"]] = summary
            token = page.get("NextToken")
            if not token:
                return listed
            request["NextToken"] = token

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.scheduler.get_schedule(Name=name, GroupName=self.group))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return None  # deleted since the listing (a cancel): nothing to fire
            raise

    def _fire(self, known: _Known, due: datetime) -> int:
        name = known.schedule["Name"]
        # Read again just before firing: a cancel may have deleted or changed it meanwhile.
        current = self._get(name)
        if current is None or str(current.get("LastModificationDate", "")) != known.version:
            self._known.pop(name, None)
            return 0
        target = current.get("Target") or {}
        arn = str(target.get("Arn", ""))
        if not arn.startswith("arn:aws:sqs:"):
            logger.warning("schedule target is not an SQS queue; skipped", schedule=name, arn=arn)
            self._fired[name] = known.version
            return 0
        send: dict[str, Any] = {
            "QueueUrl": self._queue_url(arn),
            "MessageBody": target.get("Input") or "{}",
        }
        group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
        if group_id:
            send["MessageGroupId"] = group_id
        self.sqs.send_message(**send)
        fired_at = self._clock()
        # Remembered before the delete, so a failed delete cannot make it fire twice.
        self._fired[name] = known.version
        if current.get("ActionAfterCompletion") == "DELETE":
            try:
                self.scheduler.delete_schedule(Name=name, GroupName=self.group)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                    logger.warning("fired schedule not deleted", schedule=name, error=str(exc))
        logger.info(
            "schedule fired",
            schedule=name,
            due_at=due.isoformat(),
            lag_seconds=round((fired_at - due).total_seconds(), 3),
        )
        return 1

    def _queue_url(self, arn: str) -> str:
        if arn not in self._queue_urls:
            _, _, _, _, account, queue_name = arn.split(":", 5)
            self._queue_urls[arn] = self.sqs.get_queue_url(
                QueueName=queue_name, QueueOwnerAWSAccountId=account
            )["QueueUrl"]
        return self._queue_urls[arn]
