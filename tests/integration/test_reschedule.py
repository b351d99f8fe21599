"""``PATCH /outbound/calls/{phonon-uuid}`` (SPEC §7) through the api and dialer handlers on moto:
a waiting call moves, its old wake-up can never dial it, the dialer and a reschedule race like a
cancel (one wins), and ``next-dial-at`` shows when a SCHEDULED call is next due."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest

from outdial.adapters import aws
from outdial.adapters.call_repository import DynamoCallRepository
from outdial.adapters.calls_store import CallsStore
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.dial_queue import dial_message
from outdial.logic.reschedule import Rescheduler
from outdial.models.calls import CallStatus
from outdial.models.codes import Code
from outdial.models.requests import RescheduleBody
from outdial.settings import get_settings
from tests.conftest import (
    FLOW_ID,
    OTHER_FLOW_ID,
    OTHER_SECURITY_ID,
    SECURITY_ID,
    api_event,
    call,
    create_body,
    invoke,
)
from tests.integration.dialing import Harness
from tests.integration.stored import dial_messages, in_hours, schedules

pytestmark = pytest.mark.usefixtures("configured")
AUTH = {"x-flow-id": FLOW_ID, "x-security-id": SECURITY_ID}


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness().install(monkeypatch)


def accept(start: datetime | None = None, number: str = "9812345670") -> str:
    overrides: dict[str, Any] = {"contact-numbers": [number]}
    if start is not None:
        overrides["start-time"] = start.isoformat()
    _, body = invoke(api_event("POST", "/outbound/create", create_body([call(**overrides)])))
    assert body["api-response-code"] == 200, body
    return str(body["call-details"][0]["phonon-uuid"])


def patch(phonon_uuid: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return invoke(
        api_event("PATCH", f"/outbound/calls/{phonon_uuid}", raw=raw, headers=headers or AUTH)
    )


def stored(phonon_uuid: str) -> dict[str, Any]:
    item = CallsStore().get_call(phonon_uuid)
    assert item is not None
    return item


class TestMoves:
    def test_a_scheduled_call_moves_and_shows_its_next_dial_time(self) -> None:
        # Given a call due in 2 hours
        phonon_uuid = accept(in_hours(2))
        # When it is moved to 3 hours from now
        later = in_hours(3).replace(microsecond=0)
        status, body = patch(phonon_uuid, {"start-time": later.isoformat()})
        # Then it is SCHEDULED at that time, and says so
        assert (status, body["api-response-code"]) == (200, 200)
        moved = body["call"]
        assert moved["status"] == "SCHEDULED"
        assert datetime.fromisoformat(moved["next-dial-at"]) == later
        assert datetime.fromisoformat(moved["start-time"]) == later
        # And a schedule of its own wakes it then
        mine = [s for s in schedules() if s["Name"].startswith(f"move-{phonon_uuid}")]
        assert len(mine) == 1
        fires = later.astimezone(UTC).replace(second=0) - timedelta(minutes=1)
        assert mine[0]["ScheduleExpression"] == f"at({fires.strftime('%Y-%m-%dT%H:%M:%S')})"
        assert json.loads(mine[0]["Target"]["Input"])["due"] == int(later.timestamp())

    def test_the_old_schedule_can_never_dial_the_call(self, harness: Harness) -> None:
        # Given a call due in 2 hours, moved to 5 hours
        phonon_uuid = accept(in_hours(2))
        (old,) = schedules()
        patch(phonon_uuid, {"start-time": in_hours(5).isoformat()})
        # When the old schedule fires at its time (2 hours on)
        assert harness.dialer is not None
        harness.dialer.clock = lambda: in_hours(2)
        harness.deliver(old["Target"]["Input"])
        # Then nothing is dialled and no wake-up is left behind by it
        assert harness.placed == [] and dial_messages() == []
        assert stored(phonon_uuid)["status"] == "SCHEDULED"
        # When the new schedule fires at the new time, Then the call is dialled
        new = next(s for s in schedules() if s["Name"].startswith("move-"))
        harness.dialer.clock = lambda: in_hours(5)
        harness.deliver(new["Target"]["Input"])
        assert harness.placed_numbers() == ["+919812345670"]

    def test_a_queued_call_moves_later_and_its_message_is_dropped(self, harness: Harness) -> None:
        # Given a call due now, whose dial message is on the queue
        phonon_uuid = accept()
        (message,) = dial_messages()
        # When it is moved an hour ahead
        status, body = patch(phonon_uuid, {"start-time": in_hours(1).isoformat()})
        assert status == 200 and body["call"]["status"] == "SCHEDULED"
        # Then the message already queued does not dial it
        harness.deliver(json.dumps(message))
        assert harness.placed == []
        assert stored(phonon_uuid)["status"] == "SCHEDULED"

    def test_a_call_moved_to_now_is_queued_and_dialled(self, harness: Harness) -> None:
        phonon_uuid = accept(in_hours(2))
        status, body = patch(phonon_uuid, {"start-time": datetime.now(UTC).isoformat()})
        assert status == 200 and body["call"]["status"] == "QUEUED"
        assert "next-dial-at" not in body["call"]
        # Its message carries the call's new dispatch token
        (message,) = [
            json.loads(m["Body"])
            for m in aws.client("sqs").receive_message(
                QueueUrl=get_settings().dial_queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=3,
            )["Messages"]
        ]
        assert message["dispatch"] == {phonon_uuid: stored(phonon_uuid)["dispatch-id"]}
        harness.deliver(json.dumps(message))
        assert harness.placed_numbers() == ["+919812345670"]

    def test_a_call_waiting_for_its_retry_moves_and_keeps_its_attempt(
        self, harness: Harness
    ) -> None:
        # Given a call whose first attempt got no answer, waiting 900 s for its second
        phonon_uuid = accept(number="9812345678")
        harness.settle()
        waiting = stored(phonon_uuid)
        assert (waiting["status"], int(waiting["attempt"])) == ("SCHEDULED", 2)
        status, body = invoke(api_event("GET", f"/outbound/calls/{phonon_uuid}", headers=AUTH))
        assert body["call"]["next-dial-at"] == waiting["due-at"]
        # When the retry is moved 2 hours on
        status, body = patch(phonon_uuid, {"start-time": in_hours(2).isoformat()})
        assert status == 200
        # Then the retry's own schedule is gone, replaced by the move's
        names = [s["Name"] for s in schedules()]
        assert not any(n.startswith("retry-") for n in names)
        assert any(n.startswith(f"move-{phonon_uuid}") for n in names)
        assert int(stored(phonon_uuid)["attempt"]) == 2

    def test_the_balance_is_untouched(self) -> None:
        phonon_uuid = accept(in_hours(2))
        before = ConfigStore().get_balance("acme")
        patch(phonon_uuid, {"start-time": in_hours(4).isoformat()})
        assert ConfigStore().get_balance("acme") == before


class TestRefusals:
    @pytest.mark.parametrize("state", ["COMPLETED", "DIALING", "CANCELLED"])
    def test_a_call_dialling_or_ended_is_606_with_the_call(self, state: str) -> None:
        phonon_uuid = accept(in_hours(2))
        CallsStore().update(f"CALL#{phonon_uuid}", {"status": state})
        status, body = patch(phonon_uuid, {"start-time": in_hours(3).isoformat()})
        assert (status, body["api-response-code"]) == (409, 606)
        assert body["api-response-message"] == "Call Can No Longer Be Rescheduled"
        assert body["call"]["status"] == state
        assert not any(s["Name"].startswith("move-") for s in schedules())

    @pytest.mark.parametrize(
        "start_time", ["tomorrow", "2020-01-01T10:00:00+05:30", 17, "2026-13-45T00:00:00Z"]
    )
    def test_a_bad_start_time_is_400(self, start_time: Any) -> None:
        phonon_uuid = accept(in_hours(2))
        status, body = patch(phonon_uuid, {"start-time": start_time})
        assert (status, body["api-response-code"]) == (400, Code.INVALID_FORMAT.code)
        assert stored(phonon_uuid)["status"] == "SCHEDULED"

    @pytest.mark.parametrize("body", [{}, {"start-time": None}, {"start-time": ""}])
    def test_a_missing_start_time_is_210(self, body: Any) -> None:
        status, answer = patch(accept(in_hours(2)), body)
        assert (status, answer["api-response-code"]) == (400, 210)

    @pytest.mark.parametrize("raw", [b"not json", b"[1]", b""])
    def test_a_body_that_is_not_a_json_object_is_400(self, raw: bytes) -> None:
        status, answer = patch(accept(in_hours(2)), raw)
        assert (status, answer["api-response-code"]) == (400, 400)

    def test_another_flows_call_or_an_unknown_one_is_213(self) -> None:
        phonon_uuid = accept(in_hours(2))
        other = {"x-flow-id": OTHER_FLOW_ID, "x-security-id": OTHER_SECURITY_ID}
        later = {"start-time": in_hours(3).isoformat()}
        assert patch(phonon_uuid, later, other)[0] == 404
        assert patch("no-such-call", later)[1]["api-response-code"] == 213

    def test_wrong_credentials_are_202(self) -> None:
        headers = {"x-flow-id": FLOW_ID, "x-security-id": "x" * 64}
        status, body = patch(accept(in_hours(2)), {"start-time": in_hours(3).isoformat()}, headers)
        assert (status, body["api-response-code"]) == (401, 202)


def separate_calls_store() -> CallsStore:
    """A store on a client of its own, so hooks on the shared client do not see its calls."""
    client = botocore.session.get_session().create_client("dynamodb")
    return CallsStore(client=client)


def separate_repository(store: CallsStore | None = None) -> DynamoCallRepository:
    """The call repository on such a store."""
    return DynamoCallRepository(store or separate_calls_store())


class TestRaceWithTheDialer:
    def test_a_reschedule_landing_while_the_dialer_starts_wins_and_nothing_is_dialled(
        self, harness: Harness
    ) -> None:
        # Given a due call a dialer has read, and a reschedule that lands just before the
        # dialer's own write
        phonon_uuid = accept()
        view = ConfigStore().get_flow_view(FLOW_ID)
        assert view is not None
        rescheduler = Rescheduler(calls=separate_repository())
        later = in_hours(1)
        answers: list[Any] = []

        def reschedule_first(params: dict[str, Any], **_: Any) -> None:
            if (
                params.get("Key", {}).get("pk", {}).get("S") == f"CALL#{phonon_uuid}"
                and not answers
            ):
                answers.append(
                    rescheduler.reschedule(
                        view,
                        phonon_uuid,
                        RescheduleBody.model_validate({"start-time": later.isoformat()}),
                    )
                )

        events = aws.client("dynamodb").meta.events
        events.register("before-parameter-build.dynamodb.UpdateItem", reschedule_first)
        try:
            harness.deliver(dial_message([phonon_uuid]))
        finally:
            events.unregister("before-parameter-build.dynamodb.UpdateItem", reschedule_first)
        # Then the reschedule won: the call waits for its new time, and no leg was placed
        assert answers and answers[0].status is CallStatus.SCHEDULED
        assert harness.placed == []
        assert stored(phonon_uuid)["status"] == "SCHEDULED"
        assert stored(phonon_uuid)["legs"] == {}

    def test_a_dialer_landing_first_wins_and_the_reschedule_is_606(self, harness: Harness) -> None:
        # Given a due call, and a dialer whose move to DIALING lands while a reschedule is
        # between reading the call and writing it
        phonon_uuid = accept()
        view = ConfigStore().get_flow_view(FLOW_ID)
        assert view is not None
        store = separate_calls_store()
        rescheduler = Rescheduler(calls=separate_repository(store))
        started: list[bool] = []

        def dial_first(params: dict[str, Any], **_: Any) -> None:
            if not started:
                started.append(True)
                harness.deliver(dial_message([phonon_uuid]))

        store.client.meta.events.register("before-parameter-build.dynamodb.UpdateItem", dial_first)
        with pytest.raises(Exception) as refused:
            rescheduler.reschedule(
                view,
                phonon_uuid,
                RescheduleBody.model_validate({"start-time": in_hours(1).isoformat()}),
            )
        # Then the dialer won: the call was dialled once and the reschedule was refused 606
        assert getattr(refused.value, "code", None) is Code.RESCHEDULE_TOO_LATE
        assert harness.placed_numbers() == ["+919812345670"]
        assert stored(phonon_uuid)["status"] in ("DIALING", "COMPLETED")
        # And the reschedule's wake-up, had it made a schedule, is gone
        assert not any(s["Name"].startswith("move-") for s in schedules())
