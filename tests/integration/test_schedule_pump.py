"""The local stand-in for EventBridge Scheduler's firing, on moto.

Due one-time schedules put their input on the target queue exactly once; future ones wait;
``ActionAfterCompletion`` is honoured; a schedule deleted under the pump is no error.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.scheduler import Scheduler
from outdial.local.schedule_pump import SchedulePump, due_at
from outdial.settings import get_settings
from tests.log_capture import log_lines

pytestmark = pytest.mark.usefixtures("resources")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pump(clock: Clock) -> SchedulePump:
    return SchedulePump(get_settings().schedule_group, clock=clock)


def create(
    name: str,
    when: datetime,
    *,
    after: str = "DELETE",
    timezone: str = "UTC",
    body: str | None = None,
    state: str = "ENABLED",
) -> None:
    """A one-time schedule targeting the dial queue, as the api makes them."""
    settings = get_settings()
    aws.client("scheduler").create_schedule(
        Name=name,
        GroupName=settings.schedule_group,
        ScheduleExpression=f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})",
        ScheduleExpressionTimezone=timezone,
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion=after,
        State=state,
        Target={
            "Arn": settings.dial_queue_arn,
            "RoleArn": settings.scheduler_role_arn,
            "Input": body or json.dumps({"call-ids": [name]}),
        },
    )


def names() -> set[str]:
    listed = aws.client("scheduler").list_schedules(GroupName=get_settings().schedule_group)
    return {s["Name"] for s in listed["Schedules"]}


def dial_bodies() -> list[str]:
    sqs = aws.client("sqs")
    bodies: list[str] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=get_settings().dial_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
        ).get("Messages", [])
        if not batch:
            return bodies
        bodies += [m["Body"] for m in batch]


class TestFiring:
    def test_a_due_schedule_fires_once_and_is_deleted(
        self, pump: SchedulePump, clock: Clock
    ) -> None:
        # Given a schedule the api made for calls due in ten minutes, whose firing time (a
        # minute before their minute) has come
        due = (clock.now + timedelta(minutes=10)).replace(microsecond=0)
        Scheduler(clock=clock).create("req-1", due, ["c1", "c2"])
        clock.now = due.replace(second=0) - timedelta(seconds=58)
        # When the pump ticks, twice
        with log_lines() as lines:
            first, second = pump.tick(), pump.tick()
        # Then it fired once: its input is on the dial queue, and it is gone (DELETE)
        assert (first, second) == (1, 0)
        assert [json.loads(b) for b in dial_bodies()] == [
            {"call-ids": ["c1", "c2"], "due": int(due.timestamp())}
        ]
        assert names() == set()
        # and the lag (fire time - due time) was logged
        [fired] = [line for line in lines if line["message"] == "schedule fired"]
        assert fired["schedule"] == "req-1"
        assert fired["lag_seconds"] == pytest.approx(2, abs=1)

    def test_a_future_schedule_waits_for_its_time(self, pump: SchedulePump, clock: Clock) -> None:
        # Given a schedule an hour ahead
        create("later", clock.now + timedelta(hours=1))
        # When the pump ticks now / Then nothing fires
        assert pump.tick() == 0
        assert dial_bodies() == [] and names() == {"later"}
        # When its time comes / Then it fires
        clock.now += timedelta(hours=1, seconds=1)
        assert pump.tick() == 1
        assert dial_bodies() == ['{"call-ids": ["later"]}']

    def test_action_none_keeps_the_schedule_and_fires_it_only_once(
        self, pump: SchedulePump, clock: Clock
    ) -> None:
        create("keep", clock.now - timedelta(seconds=1), after="NONE")
        assert [pump.tick(), pump.tick(), pump.tick()] == [1, 0, 0]
        assert len(dial_bodies()) == 1
        assert names() == {"keep"}

    def test_due_schedules_fire_in_due_order(self, pump: SchedulePump, clock: Clock) -> None:
        create("b", clock.now - timedelta(seconds=5))
        create("a", clock.now - timedelta(seconds=50))
        create("c", clock.now - timedelta(seconds=1))
        assert pump.tick() == 3
        assert [json.loads(b)["call-ids"][0] for b in dial_bodies()] == ["a", "b", "c"]

    def test_the_time_is_read_in_the_schedules_timezone(
        self, pump: SchedulePump, clock: Clock
    ) -> None:
        # Given two wall-clock times: one past in Kolkata (UTC+5:30) though ahead in UTC, one
        # past in UTC though ahead in New York
        kolkata_wall = (clock.now + timedelta(hours=1)).replace(tzinfo=None)
        new_york_wall = (clock.now - timedelta(hours=1)).replace(tzinfo=None)
        create("kolkata", kolkata_wall, timezone="Asia/Kolkata")
        create("new-york", new_york_wall, timezone="America/New_York")
        # When the pump ticks / Then only the one due where it was written fires
        assert pump.tick() == 1
        assert names() == {"new-york"}

    def test_a_disabled_schedule_does_not_fire(self, pump: SchedulePump, clock: Clock) -> None:
        create("off", clock.now - timedelta(seconds=1), state="DISABLED")
        assert pump.tick() == 0 and dial_bodies() == []


class TestRaces:
    def test_a_schedule_deleted_between_list_and_get_is_skipped(
        self, clock: Clock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a due schedule that a cancel deletes just as the pump reads it
        create("cancelled", clock.now - timedelta(seconds=1))
        real = aws.client("scheduler")

        class Racing:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def get_schedule(self, **kwargs: Any) -> Any:
                real.delete_schedule(**kwargs)
                return real.get_schedule(**kwargs)

        pump = SchedulePump(get_settings().schedule_group, scheduler=Racing(), clock=clock)
        # When the pump ticks / Then nothing fires and nothing fails
        assert pump.tick() == 0
        assert dial_bodies() == []

    def test_a_schedule_deleted_before_firing_does_not_fire(
        self, pump: SchedulePump, clock: Clock
    ) -> None:
        # Given a future schedule the pump has already read
        create("soon", clock.now + timedelta(seconds=30))
        assert pump.tick() == 0
        # When it is cancelled, then its time comes
        aws.client("scheduler").delete_schedule(
            Name="soon", GroupName=get_settings().schedule_group
        )
        clock.now += timedelta(minutes=1)
        # Then it does not fire
        assert pump.tick() == 0 and dial_bodies() == []

    def test_every_page_of_the_listing_is_read(self, clock: Clock) -> None:
        # Given a scheduler that lists one schedule per page
        for n in range(3):
            create(f"s{n}", clock.now - timedelta(seconds=1))
        real = aws.client("scheduler")

        class Paging:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def list_schedules(self, GroupName: str, NextToken: str = "0") -> Any:
                every = sorted(real.list_schedules(GroupName=GroupName)["Schedules"], key=str)
                index = int(NextToken)
                page: dict[str, Any] = {"Schedules": every[index : index + 1]}
                if index + 1 < len(every):
                    page["NextToken"] = str(index + 1)
                return page

        pump = SchedulePump(get_settings().schedule_group, scheduler=Paging(), clock=clock)
        # When it ticks / Then all three fire
        assert pump.tick() == 3


class TestRunning:
    def test_the_thread_fires_due_schedules_and_stops_promptly(self) -> None:
        # Given a running pump
        pump = SchedulePump(get_settings().schedule_group, interval=0.05).start()
        try:
            # When a schedule becomes due
            create("now", datetime.now(UTC) - timedelta(seconds=1))
            deadline = time.monotonic() + 5
            bodies: list[str] = []
            while not bodies:
                assert time.monotonic() < deadline, "never fired"
                bodies = dial_bodies()
                time.sleep(0.05)
        finally:
            started = time.monotonic()
            pump.stop()
        # Then it fired, and stopping took well under two seconds
        assert bodies == ['{"call-ids": ["now"]}']
        assert time.monotonic() - started < 2.0


class TestDueAt:
    def test_reads_at_expressions_in_their_timezone(self) -> None:
        due = due_at(
            {
                "ScheduleExpression": "at(2026-12-01T10:30:00)",
                "ScheduleExpressionTimezone": "Asia/Kolkata",
            }
        )
        assert due == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)

    @pytest.mark.parametrize(
        "schedule",
        [
            {"ScheduleExpression": "rate(5 minutes)"},
            {"ScheduleExpression": "cron(0 12 * * ? *)"},
            {"ScheduleExpression": "at(2026-12-01T10:30:00)", "ScheduleExpressionTimezone": "X/Y"},
        ],
    )
    def test_other_expressions_are_not_one_time_schedules(self, schedule: dict[str, str]) -> None:
        assert due_at(schedule) is None
