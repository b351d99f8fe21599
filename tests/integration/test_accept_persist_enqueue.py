"""What acceptance leaves behind on moto: rows, schedules, messages, reservations; and what it
leaves behind when it fails half-way (nothing)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.errors import EnqueueError
from outdial.adapters.tables import from_item
from outdial.models.codes import Code
from outdial.settings import get_settings
from tests.conftest import api_event, call, create_body, invoke

pytestmark = pytest.mark.usefixtures("configured")


def accept(calls: list[dict[str, Any]]) -> dict[str, Any]:
    status, body = invoke(api_event("POST", "/outbound/create", create_body(calls)))
    assert status == 200, body
    return body


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


class TestImmediateCalls:
    def test_rows_messages_and_reservation(self) -> None:
        # Given three calls due now, When accepted
        calls = [call(**{"client-identifier": f"c{i}"}) for i in range(3)]
        body = accept(calls)
        ids = [d["phonon-uuid"] for d in body["call-details"]]
        # Then each call is stored QUEUED with its numbers in E.164 and its keys
        stored = {row["phonon-uuid"]: row for row in rows("CALL#")}
        assert set(stored) == set(ids)
        first = stored[ids[0]]
        assert first["status"] == "QUEUED"
        assert first["contact-numbers"] == ["+919812345670"]
        assert first["keys"] == [{"name": "$flow.key.name", "value": "Asha"}]
        assert first["request-id"] == body["request-id"]
        assert (first["flow-id"], first["account-id"], first["api-version"]) == (
            "AB12cd34",
            "acme",
            "1.0",
        )
        # And the request and its checksum are stored, the checksum for 24 h
        assert rows("REQUEST#")[0]["call-ids"] == ids
        checksum = rows("CHECKSUM#")[0]
        ttl = int(checksum["expires-at"]) - datetime.now(UTC).timestamp()
        assert 24 * 3600 - 60 < ttl <= 24 * 3600
        # And every call id is on the dial queue exactly once, no schedule made
        queued = [i for m in dial_messages() for i in m["call-ids"]]
        assert sorted(queued) == sorted(ids)
        assert schedules() == []
        # And 3 x cost-per-call is reserved
        assert ConfigStore().get_balance("acme") == 997


class TestFutureCalls:
    def test_one_schedule_per_start_minute_firing_a_minute_ahead(self) -> None:
        # Given five calls at two distinct future times
        t1, t2 = in_hours(2), in_hours(3)
        times = [t1, t1, t2, t1, t2]
        calls = [
            call(**{"client-identifier": f"c{i}", "start-time": t.isoformat()})
            for i, t in enumerate(times)
        ]
        body = accept(calls)
        ids = [d["phonon-uuid"] for d in body["call-details"]]
        # Then two schedules exist, each carrying the ids due then and their due second, set to
        # fire a whole minute before the calls' minute begins (Scheduler fires within a minute)
        made = sorted(schedules(), key=lambda s: s["ScheduleExpression"])
        assert len(made) == 2
        expected = {t1: [ids[0], ids[1], ids[3]], t2: [ids[2], ids[4]]}
        for schedule, when in zip(made, (t1, t2), strict=True):
            fires = when.replace(second=0) - timedelta(minutes=1)
            assert schedule["ScheduleExpression"] == f"at({fires:%Y-%m-%dT%H:%M:%S})"
            assert json.loads(schedule["Target"]["Input"])["due"] == int(when.timestamp())
            assert schedule["ScheduleExpressionTimezone"] == "UTC"
            assert schedule["ActionAfterCompletion"] == "DELETE"
            assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
            assert schedule["Target"]["Arn"] == get_settings().dial_queue_arn
            assert schedule["Target"]["RoleArn"] == get_settings().scheduler_role_arn
            assert json.loads(schedule["Target"]["Input"])["call-ids"] == expected[when]
            assert len(schedule["Name"]) <= 64
        # And nothing is on the queue yet; the calls wait as SCHEDULED
        assert dial_messages() == []
        assert {row["status"] for row in rows("CALL#")} == {"SCHEDULED"}

    def test_500_calls_for_one_time_make_one_schedule(self) -> None:
        when = in_hours(5).isoformat()
        calls = [call(**{"client-identifier": f"c{i}", "start-time": when}) for i in range(500)]
        accept(calls)
        made = schedules()
        assert len(made) == 1
        assert len(json.loads(made[0]["Target"]["Input"])["call-ids"]) == 500

    def test_a_start_within_a_minute_rides_an_sqs_delay(self) -> None:
        soon = (datetime.now(UTC) + timedelta(seconds=20)).isoformat()
        accept([call(**{"start-time": soon})])
        assert schedules() == []
        assert rows("CALL#")[0]["status"] == "SCHEDULED"

    def test_500_calls_spread_over_500_seconds_make_at_most_10_schedules(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given 500 calls one second apart, the first a minute from now, and every
        # CreateSchedule counted as AWS would see it
        created: list[dict[str, Any]] = []
        sent: list[dict[str, Any]] = []
        client = aws.client("scheduler")

        def count(params: dict[str, Any], **_: Any) -> None:
            created.append(params)

        def record(params: dict[str, Any], **_: Any) -> None:
            sent.extend(params["Entries"])

        client.meta.events.register("provide-client-params.scheduler.CreateSchedule", count)
        aws.client("sqs").meta.events.register("provide-client-params.sqs.SendMessageBatch", record)
        try:
            before = datetime.now(UTC).timestamp()
            start = (datetime.now(UTC) + timedelta(seconds=60)).replace(microsecond=0)
            dues = [start + timedelta(seconds=i) for i in range(500)]
            body = accept(
                [
                    call(**{"client-identifier": f"c{i}", "start-time": due.isoformat()})
                    for i, due in enumerate(dues)
                ]
            )
        finally:
            client.meta.events.unregister("provide-client-params.scheduler.CreateSchedule", count)
            aws.client("sqs").meta.events.unregister(
                "provide-client-params.sqs.SendMessageBatch", record
            )
        ids = [d["phonon-uuid"] for d in body["call-details"]]
        due_of = {call_id: int(due.timestamp()) for call_id, due in zip(ids, dues, strict=True)}

        # Then at most ten schedules are made (one per start minute), each firing at least 60 s
        # before the first call it carries, with every call's own due second
        assert 1 <= len(created) <= 10
        scheduled: list[str] = []
        for params in created:
            body_ = json.loads(params["Target"]["Input"])
            fires = datetime.strptime(params["ScheduleExpression"], "at(%Y-%m-%dT%H:%M:%S)")
            fires = fires.replace(tzinfo=UTC)
            calls = body_["call-ids"]
            seconds = [body_["due"] + o for o in body_.get("offsets", [0] * len(calls))]
            assert [due_of[c] for c in calls] == seconds
            assert min(seconds) - fires.timestamp() >= 60
            scheduled += calls
        # And the calls too close for a schedule ride SQS, delayed to their own second, <= 10 a
        # message: every call is planned exactly once
        queued = [json.loads(entry["MessageBody"]) for entry in sent]
        assert all(len(m["call-ids"]) <= 10 for m in queued)
        assert all(due_of[c] == m["due"] for m in queued for c in m["call-ids"])
        after = datetime.now(UTC).timestamp()
        for entry, message in zip(sent, queued, strict=True):
            left = message["due"] - entry["DelaySeconds"]  # when the delay was counted from
            assert before - 1 <= left <= after
        assert sorted(scheduled + [c for m in queued for c in m["call-ids"]]) == sorted(ids)


class TestChecksumRace:
    def test_identical_requests_racing_accept_exactly_one(self) -> None:
        # Given eight identical bodies sent at once
        event = api_event("POST", "/outbound/create", create_body())
        results: list[tuple[int, dict[str, Any]]] = []
        barrier = threading.Barrier(8)

        def send() -> None:
            barrier.wait()
            results.append(invoke(event))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Then one is accepted and seven are told it is a repeat of that one
        codes = sorted(body["api-response-code"] for _, body in results)
        assert codes == [200] + [201] * 7
        request_ids = {body["request-id"] for _, body in results}
        assert len(request_ids) == 1
        # And exactly one call, one reservation, one message exist
        assert len(rows("CALL#")) == 1
        assert ConfigStore().get_balance("acme") == 999
        assert len(dial_messages()) == 1


class TestEnqueueFailure:
    def test_queue_down_leaves_nothing_behind(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given a future call and a due call, and a dial queue that refuses messages
        from outdial.adapters.dial_queue import DialQueue

        def refuse(self: Any, messages: Any) -> None:
            raise EnqueueError("queue unavailable")

        monkeypatch.setattr(DialQueue, "send", refuse)
        calls = [
            call(),
            call(**{"client-identifier": "later", "start-time": in_hours(2).isoformat()}),
        ]
        event = api_event("POST", "/outbound/create", create_body(calls))
        # When the request is made
        status, body = invoke(event)
        # Then the client gets 500 FAILURE
        assert (status, body["api-response-code"]) == (500, Code.FAILURE.code)
        # And no call, request, checksum, schedule or reservation is left
        assert scan() == []
        assert schedules() == []
        assert ConfigStore().get_balance("acme") == 1000
        # And a retry of the same body, once the queue is back, is accepted
        monkeypatch.undo()
        status, body = invoke(event)
        assert body["api-response-code"] == Code.SUCCESS.code

    def test_scheduler_down_leaves_nothing_behind(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from outdial.adapters.scheduler import Scheduler

        made: list[str] = []
        original = Scheduler.create_group
        lock = threading.Lock()

        def second_fails(self: Any, schedule: Any) -> None:
            with lock:  # the request's schedules are created concurrently
                if made:
                    raise EnqueueError("scheduler unavailable")
                original(self, schedule)
                made.append(schedule.name)

        monkeypatch.setattr(Scheduler, "create_group", second_fails)
        calls = [
            call(**{"client-identifier": "a", "start-time": in_hours(2).isoformat()}),
            call(**{"client-identifier": "b", "start-time": in_hours(3).isoformat()}),
        ]
        status, body = invoke(api_event("POST", "/outbound/create", create_body(calls)))
        assert (status, body["api-response-code"]) == (500, Code.FAILURE.code)
        assert made and schedules() == []
        assert scan() == []
        assert ConfigStore().get_balance("acme") == 1000


class TestLargeRejections:
    def test_rejections_echo_little_enough_to_be_stored(self) -> None:
        # Given one valid call and 410 rejected ones echoing large input: 400 with a
        # 2,000-character start-time and 10 with a 5,000-character client-identifier (a body
        # just under the 1 MiB limit)
        calls = [call(**{"client-identifier": "ok"})]
        calls += [
            call(**{"client-identifier": f"bad-{i}", "start-time": "x" * 2000}) for i in range(400)
        ]
        calls += [call(**{"client-identifier": "i" * 5000}) for _ in range(10)]
        event = api_event("POST", "/outbound/create", create_body(calls))
        assert len(event["body"]) < 2**20
        # When the request is made
        status, body = invoke(event)
        # Then the valid call is accepted and every rejection reported, its echo cut short
        assert (status, body["api-response-code"]) == (200, Code.PARTIAL_SUCCESS.code)
        details = body["call-details"]
        assert len(details) == 411 and "phonon-uuid" in details[0]
        assert all(len(d["error-detail"]) <= 200 for d in details[1:])
        assert details[-1]["client-identifier"] == "i" * 127 + "…"
        # And a retry of the body is told it repeats (the response was stored whole)
        _, repeat = invoke(event)
        assert repeat["call-details"] == details
