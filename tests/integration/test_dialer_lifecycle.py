"""A call's whole life on moto: accepted, dialled, its alternates and retries, its end, its money,
through the api and dialer handlers with the simulator gateway (SPEC §3-4)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.dial_queue import dial_message
from outdial.settings import get_settings
from tests import factories
from tests.conftest import FLOW_ID, SECURITY_ID, api_event, call, create_body, invoke
from tests.integration.accounts import balance
from tests.integration.dialing import (
    HEADERS,
    Harness,
    accept,
    status_of,
    webhook_messages,
)

pytestmark = pytest.mark.usefixtures("configured")


@pytest.fixture
def sends() -> Iterator[list[tuple[int, str]]]:
    """Every dial message sent from now on, as ``(DelaySeconds, body)`` (moto keeps a delayed
    message out of sight until its delay is over, so the test hands it on itself)."""
    sent: list[tuple[int, str]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.extend((e.get("DelaySeconds", 0), e["MessageBody"]) for e in params["Entries"])

    events = aws.client("sqs").meta.events
    events.register("provide-client-params.sqs.SendMessageBatch", record)
    yield sent
    events.unregister("provide-client-params.sqs.SendMessageBatch", record)


class TestOneAttempt:
    def test_answered_first_number_completes(self, harness: Harness) -> None:
        # Given a call due now to a number the simulator answers
        phonon_uuid = accept("9812345670")
        # When the dialer runs and the outcome comes back
        harness.settle()
        # Then the call COMPLETED on that number with the simulator's 5 s talk time
        view = status_of(phonon_uuid)
        assert view["status"] == "COMPLETED"
        assert view["connected-number"] == "+919812345670"
        assert view["duration-seconds"] == 5
        (attempt,) = view["attempts"]
        (leg,) = attempt["legs"]
        assert (leg["number"], leg["did"], leg["outcome"]) == (
            "+919812345670",
            "+918030000001",
            "ANSWERED",
        )
        assert leg["started-at"].endswith("+00:00") and leg["ended-at"]
        # And the reservation is kept as the charge
        assert balance() == 999
        # And the customer's webhook is queued once for the terminal status
        assert webhook_messages() == [
            {"phonon-uuid": phonon_uuid, "event-id": f"{phonon_uuid}:COMPLETED"}
        ]
        assert len(harness.placed) == 1

    def test_alternates_are_tried_in_order_until_one_answers(self, harness: Harness) -> None:
        # Given numbers that are busy, unanswered, then answered
        phonon_uuid = accept("9812345677", "9812345678", "9812345670", "9812345671")
        harness.settle()
        view = status_of(phonon_uuid)
        assert harness.placed_numbers() == ["+919812345677", "+919812345678", "+919812345670"]
        assert [leg["outcome"] for leg in view["attempts"][0]["legs"]] == [
            "BUSY",
            "NO_ANSWER",
            "ANSWERED",
        ]
        assert view["status"] == "COMPLETED" and view["connected-number"] == "+919812345670"

    def test_refused_everywhere_is_failed_and_refunded(
        self, harness: Harness, apply: Any, config_doc: Any
    ) -> None:
        config_doc["flows"][0]["max-attempts"] = 1
        apply(config_doc)
        phonon_uuid = accept("9812345679")
        harness.settle()
        view = status_of(phonon_uuid)
        assert view["status"] == "FAILED"
        assert view["error-code"] == 206
        assert balance() == 1000


class TestRetries:
    def test_next_attempt_is_scheduled_then_not_connected(
        self, harness: Harness, sends: list[tuple[int, str]]
    ) -> None:
        # Given a flow with 2 attempts, 900 s apart, and numbers that never answer
        phonon_uuid = accept("9812345677", "9812345678")
        harness.settle()
        # Then after the first attempt the call waits for its second, on a schedule
        view = status_of(phonon_uuid)
        assert view["status"] == "SCHEDULED"
        scheduler = aws.client("scheduler")
        name = f"retry-{phonon_uuid}-2"
        schedule = scheduler.get_schedule(Name=name, GroupName=get_settings().schedule_group)
        fires = datetime.fromisoformat(schedule["ScheduleExpression"][3:-1]).replace(tzinfo=UTC)
        body = json.loads(schedule["Target"]["Input"])
        assert body["call-ids"] == [phonon_uuid]
        due = datetime.fromtimestamp(body["due"], UTC)
        assert timedelta(seconds=890) < due - datetime.now(UTC) <= timedelta(seconds=900)
        # (set to fire a whole minute before the minute the attempt is due in)
        assert fires == due.replace(second=0) - timedelta(minutes=1)
        # When the schedule fires (moto never fires: deliver its input) at its time
        harness.dialer.clock = lambda: fires  # type: ignore[union-attr]
        before = len(sends)
        harness.deliver(schedule["Target"]["Input"])
        # Then the message goes back whole, delayed to the attempt's second
        ((delay, delayed),) = sends[before:]
        assert delay == body["due"] - int(fires.timestamp()) and delay >= 60
        assert harness.placed_numbers() == ["+919812345677", "+919812345678"]
        # When SQS hands it back at that second
        harness.dialer.clock = lambda: due  # type: ignore[union-attr]
        harness.deliver(delayed)
        harness.settle()
        # Then both numbers were tried twice and the call is NOT_CONNECTED, refunded
        view = status_of(phonon_uuid)
        assert view["status"] == "NOT_CONNECTED"
        assert [a["attempt"] for a in view["attempts"]] == [1, 2]
        assert harness.placed_numbers() == ["+919812345677", "+919812345678"] * 2
        assert balance() == 1000

    def test_a_group_a_minute_early_is_dialled_at_its_second_as_one_message(
        self, harness: Harness, sends: list[tuple[int, str]]
    ) -> None:
        # Given ten calls due at the same second, and their dial message delivered a minute
        # early (Scheduler fires anywhere within its minute)
        due = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
        ids = [accept(f"98123456{n:02d}", start=due.isoformat()) for n in range(10, 20)]
        harness.dialer.clock = lambda: due - timedelta(seconds=60)  # type: ignore[union-attr]

        # When a dialer receives it
        harness.deliver(dial_message(ids, due=int(due.timestamp())))

        # Then nothing is dialled, and one message (not one per call) goes back, delayed 60 s
        assert harness.placed == []
        assert [(delay, json.loads(body)["call-ids"]) for delay, body in sends] == [(60, ids)]
        assert {status_of(i)["status"] for i in ids} == {"SCHEDULED"}

        # When SQS redelivers it 30 s early all the same, then at its second
        harness.dialer.clock = lambda: due - timedelta(seconds=30)  # type: ignore[union-attr]
        harness.deliver(sends[0][1])
        assert harness.placed == [] and [d for d, _ in sends[1:]] == [30]
        harness.dialer.clock = lambda: due  # type: ignore[union-attr]
        harness.deliver(sends[1][1])

        # Then every call is dialled at its due second, once
        assert sorted(leg.phonon_uuid for leg in harness.placed) == sorted(ids)
        assert len(sends) == 2  # the two delays; nothing split per call

    def test_a_minutes_schedule_is_resent_to_each_calls_second(
        self, harness: Harness, sends: list[tuple[int, str]]
    ) -> None:
        # Given 25 calls in one request due over 50 s of one minute, an hour ahead
        minute = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)
        dues = [minute + timedelta(seconds=2 * (i // 5) * 5) for i in range(25)]
        calls = [
            call(**{"client-identifier": f"c{i}", "start-time": due.isoformat()})
            for i, due in enumerate(dues)
        ]
        status, answer = invoke(api_event("POST", "/outbound/create", create_body(calls)))
        assert status == 200, answer
        ids = [d["phonon-uuid"] for d in answer["call-details"]]
        (listed,) = aws.client("scheduler").list_schedules(GroupName=get_settings().schedule_group)[
            "Schedules"
        ]
        schedule = aws.client("scheduler").get_schedule(
            Name=listed["Name"], GroupName=get_settings().schedule_group
        )
        fires = datetime.fromisoformat(schedule["ScheduleExpression"][3:-1]).replace(tzinfo=UTC)
        assert fires == minute - timedelta(minutes=1)

        # When it fires at its time
        harness.dialer.clock = lambda: fires  # type: ignore[union-attr]
        harness.deliver(schedule["Target"]["Input"])

        # Then the calls go back as one message per due second (at most ten calls each),
        # each delayed to its second; nothing is dialled yet
        assert harness.placed == []
        due_of = {i: int(d.timestamp()) for i, d in zip(ids, dues, strict=True)}
        assert len(sends) == len(set(dues))
        for delay, body in sends:
            message = json.loads(body)
            assert len(message["call-ids"]) <= 10
            assert {due_of[i] for i in message["call-ids"]} == {message["due"]}
            assert delay == message["due"] - int(fires.timestamp())

        # When each comes back at its second, every call is dialled then
        for _, body in list(sends):
            due = datetime.fromtimestamp(json.loads(body)["due"], UTC)
            harness.dialer.clock = lambda due=due: due  # type: ignore[misc,union-attr]
            harness.deliver(body)
        assert sorted(leg.phonon_uuid for leg in harness.placed) == sorted(ids)
        assert all(status_of(i)["status"] == "DIALING" for i in ids)

    def test_an_early_schedule_puts_the_call_back_until_due(self, harness: Harness) -> None:
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        phonon_uuid = accept("9812345670", start=later)
        harness.deliver(dial_message([phonon_uuid]))
        assert harness.placed == []
        assert status_of(phonon_uuid)["status"] == "SCHEDULED"


class TestExactlyOnce:
    def test_redelivered_message_dials_each_leg_once(self, harness: Harness) -> None:
        phonon_uuid = accept("9812345670")
        message = dial_message([phonon_uuid])
        harness.deliver(message)
        harness.deliver(message)
        harness.deliver(message, message)
        assert len(harness.placed) == 1

    def test_concurrent_dialers_dial_each_leg_once(self, harness: Harness) -> None:
        ids = [accept(f"98123456{n:02d}") for n in range(10, 20)]
        message = dial_message(ids)
        barrier = threading.Barrier(4)

        def dial() -> None:
            barrier.wait()
            harness.deliver(message)

        threads = [threading.Thread(target=dial) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(leg.leg_id for leg in harness.placed) == sorted(f"{i}-a1-n0" for i in ids)

    def test_repeated_and_late_events_change_nothing(self, harness: Harness) -> None:
        phonon_uuid = accept("9812345678", "9812345670")
        harness.drain_queue()
        first_event = harness.events[0]
        harness.settle()
        assert status_of(phonon_uuid)["status"] == "COMPLETED"
        # When the first leg's NO_ANSWER arrives again, late
        from outdial.adapters.dial_queue import event_message

        harness.deliver(event_message(first_event.gateway_id, first_event.to_dict()))
        harness.settle()
        view = status_of(phonon_uuid)
        assert view["status"] == "COMPLETED" and len(harness.placed) == 2
        assert balance() == 999
        assert len(webhook_messages()) == 1

    def test_group_message_fans_out(self, harness: Harness) -> None:
        later = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
        ids = [accept(f"98123456{n:02d}", start=later.isoformat()) for n in range(10, 25)]
        harness.dialer.clock = lambda: later  # type: ignore[union-attr]
        harness.deliver(dial_message(ids))  # what the schedule for that second carries
        harness.settle()
        assert sorted(leg.phonon_uuid for leg in harness.placed) == sorted(ids)


class TestCancel:
    def test_cancel_a_scheduled_call(self, harness: Harness) -> None:
        later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
        phonon_uuid = accept("9812345670", start=later)
        status, body = invoke(
            api_event("DELETE", f"/outbound/calls/{phonon_uuid}", headers=HEADERS)
        )
        assert status == 200 and body["call"]["status"] == "CANCELLED"
        assert balance() == 1000
        # And its schedule, needed by no other call, is gone
        listed = aws.client("scheduler").list_schedules(GroupName=get_settings().schedule_group)
        assert listed["Schedules"] == []
        # And a later delivery does not dial it
        harness.deliver(dial_message([phonon_uuid]))
        assert harness.placed == []
        # And the customer's webhook hears of it, as of every terminal status
        assert webhook_messages() == [
            {"phonon-uuid": phonon_uuid, "event-id": f"{phonon_uuid}:CANCELLED"}
        ]

    def test_too_late_to_cancel(self, harness: Harness) -> None:
        phonon_uuid = accept("9812345670")
        harness.settle()
        status, body = invoke(
            api_event("DELETE", f"/outbound/calls/{phonon_uuid}", headers=HEADERS)
        )
        assert (status, body["api-response-code"]) == (409, 602)
        assert body["call"]["status"] == "COMPLETED"

    def test_cancel_racing_the_dialer_has_one_winner(self, harness: Harness) -> None:
        for _ in range(5):
            phonon_uuid = accept("9812345670")
            barrier = threading.Barrier(2)
            answers: list[int] = []

            def cancel(
                uuid: str = phonon_uuid,
                barrier: threading.Barrier = barrier,
                answers: list[int] = answers,
            ) -> None:
                barrier.wait()
                answers.append(
                    invoke(api_event("DELETE", f"/outbound/calls/{uuid}", headers=HEADERS))[0]
                )

            def dial(uuid: str = phonon_uuid, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                harness.deliver(dial_message([uuid]))

            threads = [threading.Thread(target=cancel), threading.Thread(target=dial)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            dialled = any(leg.phonon_uuid == phonon_uuid for leg in harness.placed)
            assert (answers == [200]) != dialled, (answers, dialled)


class TestQueries:
    def test_pull_all_and_last(self, harness: Harness) -> None:
        phonon_uuid = accept("9812345677", "9812345678")
        harness.settle()
        status_of(phonon_uuid)
        body = {
            "security-id": SECURITY_ID,
            "flow-id": FLOW_ID,
            "phonon-uuids": [phonon_uuid, "nope"],
        }
        status, answer = invoke(api_event("POST", "/outbound/pull", body))
        assert status == 200 and [c["phonon-uuid"] for c in answer["data"]] == [phonon_uuid]
        assert len(answer["data"][0]["attempts"]) == 1
        status, none = invoke(api_event("POST", "/outbound/pull", body | {"phonon-uuids": ["x"]}))
        assert (status, none["api-response-code"], none["data"]) == (404, 213, [])

    def test_another_flows_call_is_invisible(self, harness: Harness) -> None:
        from tests.conftest import OTHER_FLOW_ID, OTHER_SECURITY_ID

        phonon_uuid = accept("9812345670")
        other = {"x-flow-id": OTHER_FLOW_ID, "x-security-id": OTHER_SECURITY_ID}
        status, body = invoke(api_event("GET", f"/outbound/calls/{phonon_uuid}", headers=other))
        assert (status, body["api-response-code"]) == (404, 213)
        status, body = invoke(api_event("DELETE", f"/outbound/calls/{phonon_uuid}", headers=other))
        assert (status, body["api-response-code"]) == (404, 213)
        pull = {
            "security-id": OTHER_SECURITY_ID,
            "flow-id": OTHER_FLOW_ID,
            "phonon-uuids": [phonon_uuid],
        }
        assert invoke(api_event("POST", "/outbound/pull", pull))[1]["api-response-code"] == 213

    def test_request_lists_its_calls(self, harness: Harness) -> None:
        body = create_body([call(**{"client-identifier": f"c{i}"}) for i in range(3)])
        _, answer = invoke(api_event("POST", "/outbound/create", body))
        status, request = invoke(
            api_event("GET", f"/outbound/requests/{answer['request-id']}", headers=HEADERS)
        )
        assert status == 200
        assert [c["client-identifier"] for c in request["calls"]] == ["c0", "c1", "c2"]
        assert {c["status"] for c in request["calls"]} == {"QUEUED"}

    def test_rest_routes_need_the_headers(self) -> None:
        status, body = invoke(api_event("GET", "/outbound/calls/x"))
        assert (status, body["api-response-code"]) == (400, 210)
        bad = {"x-flow-id": FLOW_ID, "x-security-id": "nope"}
        assert (
            invoke(api_event("GET", "/outbound/calls/x", headers=bad))[1]["api-response-code"]
            == 202
        )


class TestCrashedClaims:
    """A dialer that died between claiming a leg and the gateway's answer."""

    def claim(self, phonon_uuid: str, age_seconds: int) -> None:
        from outdial.adapters.calls_store import CallsStore

        call = CallsStore().get_call(phonon_uuid)
        assert call is not None
        claimed = datetime.now(UTC) - timedelta(seconds=age_seconds)
        factories.stored(factories.leg(call, now=claimed))

    def test_a_fresh_claim_is_left_to_its_dialer(self, harness: Harness) -> None:
        phonon_uuid = accept("9812345670")
        self.claim(phonon_uuid, age_seconds=5)
        harness.deliver(dial_message([phonon_uuid]))
        assert harness.placed == []

    def test_a_stale_claim_is_placed_again_with_the_same_key(self, harness: Harness) -> None:
        # Given a claim older than the claim timeout whose message SQS delivers again
        phonon_uuid = accept("9812345670")
        self.claim(phonon_uuid, age_seconds=120)
        harness.deliver(dial_message([phonon_uuid]))
        # Then the leg is placed once, under its own id (the gateway's idempotency key)
        assert [leg.leg_id for leg in harness.placed] == [f"{phonon_uuid}-a1-n0"]
        # And a second redelivery does not place it again
        harness.deliver(dial_message([phonon_uuid]))
        harness.settle()
        assert len(harness.placed) == 1
        assert status_of(phonon_uuid)["status"] == "COMPLETED"
