"""Dialling policy on moto (SPEC §9), through the api and dialer handlers: calling windows, the
do-not-call list and its routes, frequency caps, retry rules."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from outdial.adapters import aws
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.dial_queue import dial_message
from outdial.logic.configure import ConfigInvalid, check_config
from outdial.logic.dial import Dialer
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
from tests.integration.accounts import balance
from tests.integration.dialing import (
    HEADERS,
    Harness,
    accept,
    status_of,
    webhook_messages,
)

pytestmark = pytest.mark.usefixtures("configured")
NEW_YORK = ZoneInfo("America/New_York")
WINDOW = {"from": "09:00", "to": "21:00", "time-zone": "America/New_York"}


def schedules() -> dict[str, dict[str, Any]]:
    scheduler = aws.client("scheduler")
    group = get_settings().schedule_group
    return {
        s["Name"]: scheduler.get_schedule(Name=s["Name"], GroupName=group)
        for s in scheduler.list_schedules(GroupName=group)["Schedules"]
    }


def schedule_time(schedule: dict[str, Any]) -> datetime:
    """When the schedule has its call dialled: the due second its message names (the schedule
    itself fires at least a minute before, Scheduler's precision)."""
    fires = datetime.fromisoformat(schedule["ScheduleExpression"][3:-1]).replace(tzinfo=UTC)
    due = datetime.fromtimestamp(json.loads(schedule["Target"]["Input"])["due"], UTC)
    assert (due - fires).total_seconds() >= 60
    return due


def dnc(method: str, number: str, headers: dict[str, str] = HEADERS) -> tuple[int, Any]:
    return invoke(api_event(method, f"/outbound/dnc/{number}", headers=headers))


def bulk(numbers: Any, action: Any = "add", **overrides: Any) -> tuple[int, Any]:
    body = {"security-id": SECURITY_ID, "flow-id": FLOW_ID, "numbers": numbers, "action": action}
    body.update(overrides)
    return invoke(api_event("POST", "/outbound/dnc", {k: v for k, v in body.items() if v != ...}))


def tomorrow_at(hour: int, zone: ZoneInfo = NEW_YORK) -> datetime:
    day = datetime.now(zone).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=zone)


def with_flow(config_doc: dict[str, Any], apply: Any, **fields: Any) -> None:
    config_doc["flows"][0].update(fields)
    apply(config_doc)


def with_account(config_doc: dict[str, Any], apply: Any, **fields: Any) -> None:
    config_doc["accounts"][0].update(fields)
    apply(config_doc)


class TestCallingWindowAtAcceptance:
    def test_a_call_due_after_hours_is_scheduled_for_the_next_opening(
        self, config_doc: dict[str, Any], apply: Any
    ) -> None:
        # Given a 09:00-21:00 window in New York
        with_flow(config_doc, apply, **{"calling-window": WINDOW})
        # When a call is due at 22:00 there
        start = tomorrow_at(22)
        phonon_uuid = accept("9812345670", start=start.isoformat())
        # Then it is SCHEDULED for 09:00 the next day, New York time
        view = status_of(phonon_uuid)
        opening = datetime.combine(start.date() + timedelta(days=1), datetime.min.time())
        opening = opening.replace(hour=9, tzinfo=NEW_YORK)
        assert view["status"] == "SCHEDULED"
        assert datetime.fromisoformat(view["next-dial-at"]) == opening
        assert view["start-time"] == start.isoformat()  # as the customer gave it
        # And its schedule wakes it then, not at 22:00
        (schedule,) = schedules().values()
        assert schedule_time(schedule) == opening
        assert json.loads(schedule["Target"]["Input"])["call-ids"] == [phonon_uuid]

    def test_a_call_due_inside_the_window_keeps_its_time(
        self, config_doc: dict[str, Any], apply: Any
    ) -> None:
        with_flow(config_doc, apply, **{"calling-window": WINDOW})
        start = tomorrow_at(10)
        view = status_of(accept("9812345670", start=start.isoformat()))
        assert datetime.fromisoformat(view["next-dial-at"]) == start

    def test_the_recipients_zone_comes_from_the_number(
        self, config_doc: dict[str, Any], apply: Any
    ) -> None:
        # Given a window in the recipient's zone, and a New York number called at 22:00 IST
        with_flow(config_doc, apply, **{"calling-window": {"from": "09:00", "to": "21:00"}})
        kolkata = ZoneInfo("Asia/Kolkata")
        start = tomorrow_at(22, kolkata)
        view = status_of(accept("+12125551234", start=start.isoformat()))
        # Then 22:00 IST (11:30 or 12:30 in New York) is inside the window: no wait
        assert datetime.fromisoformat(view["next-dial-at"]) == start
        # While an Indian number at 22:00 IST waits for 09:00 IST
        view = status_of(accept("9812345670", start=start.isoformat()))
        assert datetime.fromisoformat(view["next-dial-at"]) == start.replace(hour=9) + timedelta(
            days=1
        )

    def test_a_day_off_the_window_waits_for_the_next_day_on_it(
        self, config_doc: dict[str, Any], apply: Any
    ) -> None:
        # Given a window open every day but the one after tomorrow (New York)
        start = tomorrow_at(10)
        day_off = (start + timedelta(days=1)).strftime("%a").upper()
        days = [d for d in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN") if d != day_off]
        with_flow(config_doc, apply, **{"calling-window": WINDOW | {"days": days}})
        # When a call is due tomorrow at 22:00
        view = status_of(accept("9812345670", start=start.replace(hour=22).isoformat()))
        # Then it skips the day off and waits for 09:00 the day after it
        opening = (start + timedelta(days=2)).replace(hour=9)
        assert datetime.fromisoformat(view["next-dial-at"]) == opening

    def test_a_call_rescheduled_after_hours_waits_for_the_opening(
        self, config_doc: dict[str, Any], apply: Any
    ) -> None:
        with_flow(config_doc, apply, **{"calling-window": WINDOW})
        phonon_uuid = accept("9812345670", start=tomorrow_at(10).isoformat())
        # When it is moved to 22:00 New York time
        start = tomorrow_at(22)
        status, body = invoke(
            api_event(
                "PATCH",
                f"/outbound/calls/{phonon_uuid}",
                {"start-time": start.isoformat()},
                headers=HEADERS,
            )
        )
        # Then it keeps the new start-time and waits for 09:00 the next day
        assert status == 200, body
        view = body["call"]
        assert view["start-time"] == start.isoformat() and view["status"] == "SCHEDULED"
        opening = (start + timedelta(days=1)).replace(hour=9)
        assert datetime.fromisoformat(view["next-dial-at"]) == opening

    def test_a_call_without_a_window_is_unchanged(self) -> None:
        start = tomorrow_at(23)
        view = status_of(accept("9812345670", start=start.isoformat()))
        assert datetime.fromisoformat(view["next-dial-at"]) == start


class TestCallingWindowAtDialTime:
    def _closed_at_dial_time(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any, *numbers: str
    ) -> tuple[str, datetime]:
        # Given a call accepted due now, and then a window that is closed when the dialer runs
        phonon_uuid = accept(*numbers)
        with_flow(config_doc, apply, **{"calling-window": WINDOW})
        night = tomorrow_at(22)
        harness.dialer.clock = lambda: night  # type: ignore[union-attr]
        return phonon_uuid, night

    def test_a_leg_due_outside_waits_for_the_opening_and_is_placed_then(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        phonon_uuid, night = self._closed_at_dial_time(harness, config_doc, apply, "9812345670")
        # When its dial message is delivered at 22:00 New York time
        harness.deliver(dial_message([phonon_uuid]))
        # Then nothing is placed; the call is SCHEDULED for 09:00 the next day
        assert harness.placed == []
        view = status_of(phonon_uuid)
        opening = (night + timedelta(days=1)).replace(hour=9)
        assert view["status"] == "SCHEDULED" and view["attempts"] == []
        assert datetime.fromisoformat(view["next-dial-at"]) == opening
        (name, schedule) = next(iter(schedules().items()))
        assert name.startswith(f"defer-{phonon_uuid}") and schedule_time(schedule) == opening
        # And a message that arrives early (redelivered) still places nothing
        harness.deliver(dial_message([phonon_uuid]))
        assert harness.placed == []
        # When the schedule fires at 09:00
        harness.dialer.clock = lambda: opening  # type: ignore[union-attr]
        harness.deliver(schedule["Target"]["Input"])
        harness.settle()
        # Then the leg is placed then, and the call completes
        view = status_of(phonon_uuid)
        assert view["status"] == "COMPLETED" and len(harness.placed) == 1
        assert "next-dial-at" not in view

    def test_the_next_number_waits_when_the_window_closes_mid_attempt(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        # Given a busy first number dialled at 20:59 New York time
        phonon_uuid = accept("9812345677", "9812345670")
        with_flow(config_doc, apply, **{"calling-window": WINDOW})
        before_close = tomorrow_at(20).replace(minute=59)
        harness.dialer.clock = lambda: before_close  # type: ignore[union-attr]
        harness.drain_queue()
        assert harness.placed_numbers() == ["+919812345677"]
        # When its BUSY comes back after 21:00
        after_close = before_close + timedelta(minutes=2)
        harness.dialer.clock = lambda: after_close  # type: ignore[union-attr]
        harness.deliver_events()
        # Then the second number waits for 09:00 the next day
        view = status_of(phonon_uuid)
        assert view["status"] == "SCHEDULED"
        opening = (before_close + timedelta(days=1)).replace(hour=9, minute=0)
        assert datetime.fromisoformat(view["next-dial-at"]) == opening
        assert harness.placed_numbers() == ["+919812345677"]

    def test_a_retry_falling_after_hours_is_scheduled_for_the_opening(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        # Given 2 attempts 900 s apart and a number that is busy at 20:50
        phonon_uuid = accept("9812345677")
        with_flow(config_doc, apply, **{"calling-window": WINDOW})
        evening = tomorrow_at(20).replace(minute=50)
        harness.dialer.clock = lambda: evening  # type: ignore[union-attr]
        harness.settle()
        # Then the retry (due 21:05) waits for 09:00 the next day, on a schedule
        view = status_of(phonon_uuid)
        opening = (evening + timedelta(days=1)).replace(hour=9, minute=0)
        assert view["status"] == "SCHEDULED"
        assert datetime.fromisoformat(view["next-dial-at"]) == opening
        assert schedule_time(schedules()[f"retry-{phonon_uuid}-2"]) == opening

    def test_deferred_legs_are_counted(
        self,
        harness: Harness,
        config_doc: dict[str, Any],
        apply: Any,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        phonon_uuid, _ = self._closed_at_dial_time(harness, config_doc, apply, "9812345670")
        harness.deliver(dial_message([phonon_uuid]))
        assert '"LegsDeferred":[1.0]' in capsys.readouterr().out.replace(" ", "")

    def test_a_deferred_call_can_be_cancelled_and_is_refunded(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        phonon_uuid, _ = self._closed_at_dial_time(harness, config_doc, apply, "9812345670")
        harness.deliver(dial_message([phonon_uuid]))
        reserved = balance()
        status, body = invoke(
            api_event("DELETE", f"/outbound/calls/{phonon_uuid}", headers=HEADERS)
        )
        assert (status, body["call"]["status"]) == (200, "CANCELLED")
        assert balance() == reserved + 1


class TestDncRoutes:
    def test_put_get_delete(self) -> None:
        # When a number is put on the list in its national form
        status, body = dnc("PUT", "9812345670")
        # Then it is listed in E.164 with the moment it was added
        assert (status, body["api-response-code"]) == (200, 200)
        assert body["number"] == "+919812345670" and body["on-list"] is True
        added = datetime.fromisoformat(body["added-at"])
        assert added.tzinfo is not None
        # And every form of the number finds it
        for form in ("+919812345670", "919812345670", "%2B919812345670"):
            status, found = dnc("GET", form)
            assert (status, found["on-list"], found["added-at"]) == (200, True, body["added-at"])
        # And putting it again keeps when it was first added
        assert dnc("PUT", "+919812345670")[1]["added-at"] == body["added-at"]
        # When it is deleted
        status, removed = dnc("DELETE", "919812345670")
        assert (status, removed["on-list"], removed["removed"]) == (200, False, True)
        # Then it is not listed
        status, missing = dnc("GET", "9812345670")
        assert (status, missing["api-response-code"], missing["on-list"]) == (404, 213, False)
        # And deleting it again is harmless
        assert dnc("DELETE", "9812345670")[1]["removed"] is False

    def test_the_list_is_the_accounts_for_every_flow(self) -> None:
        dnc("PUT", "9812345670")
        other = {"x-flow-id": OTHER_FLOW_ID, "x-security-id": OTHER_SECURITY_ID}
        assert dnc("GET", "9812345670", other)[0] == 200

    @pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
    def test_authentication_and_numbers_are_checked(self, method: str) -> None:
        assert dnc(method, "9812345670", {})[1]["api-response-code"] == 210
        wrong = {"x-flow-id": FLOW_ID, "x-security-id": "x" * 64}
        assert dnc(method, "9812345670", wrong)[1]["api-response-code"] == 202
        assert dnc(method, "12", HEADERS) == (
            400,
            dnc(method, "12", HEADERS)[1] | {"api-response-code": 205},
        )

    def test_bulk_add_and_remove(self) -> None:
        dnc("PUT", "9812345670")
        # When three numbers are added, one already listed and one given twice
        status, body = bulk(["+919812345670", "9812345671", "919812345671", "9812345672"])
        # Then the two new ones are counted, and all are listed
        assert (status, body["api-response-code"], body["count"]) == (200, 200, 2)
        for number in ("9812345670", "9812345671", "9812345672"):
            assert dnc("GET", number)[0] == 200
        # When two are removed, one of them never listed
        status, body = bulk(["9812345671", "9812345679"], action="remove")
        assert (status, body["count"]) == (200, 1)
        assert dnc("GET", "9812345671")[0] == 404
        assert dnc("GET", "9812345670")[0] == 200

    def test_bulk_takes_500_numbers_in_a_few_requests(self) -> None:
        numbers = [f"98123{n:05d}" for n in range(500)]
        requests: list[str] = []
        events = aws.client("dynamodb").meta.events
        events.register("before-call.dynamodb", lambda model, **_: requests.append(model.name))
        assert bulk(numbers)[1]["count"] == 500
        # Which of them are listed already: 5 reads of 100; then 20 writes of 25
        assert sorted(set(requests)) == ["BatchGetItem", "BatchWriteItem", "GetItem"]
        assert requests.count("BatchGetItem") == 5 and requests.count("BatchWriteItem") == 20
        assert bulk(numbers, action="remove")[1]["count"] == 500
        assert bulk(numbers[:10])[1]["count"] == 10

    @pytest.mark.parametrize(
        ("overrides", "http", "code"),
        [
            ({"numbers": [f"98123{n:05d}" for n in range(501)]}, 400, 303),
            ({"numbers": []}, 400, 302),
            ({"numbers": ...}, 400, 210),
            ({"action": ...}, 400, 210),
            ({"action": "block"}, 400, 400),
            ({"numbers": "9812345670"}, 400, 400),
            ({"numbers": ["9812345670", "12"]}, 400, 205),
            ({"security-id": "x" * 64}, 401, 202),
            ({"flow-id": "NoSuchFl"}, 404, 301),
        ],
    )
    def test_bulk_refusals_change_nothing(
        self, overrides: dict[str, Any], http: int, code: int
    ) -> None:
        numbers = overrides.pop("numbers", ["9812345670"])
        action = overrides.pop("action", "add")
        status, body = bulk(numbers, action, **overrides)
        assert (status, body["api-response-code"]) == (http, code)
        assert dnc("GET", "9812345670")[0] == 404


class TestDncAtAcceptance:
    def test_a_call_whose_every_number_is_listed_is_refused_604(self) -> None:
        dnc("PUT", "9812345670")
        dnc("PUT", "9812345671")
        body = create_body([call(**{"contact-numbers": ["9812345670", "+919812345671"]})])
        status, answer = invoke(api_event("POST", "/outbound/create", body))
        assert (status, answer["api-response-code"]) == (400, 604)
        (detail,) = answer["call-details"]
        assert detail["error-code"] == 604
        assert detail["error-message"] == "Number On Do-Not-Call List"
        assert balance() == 1000

    def test_other_calls_and_other_numbers_stay(self, harness: Harness) -> None:
        dnc("PUT", "9812345670")
        body = create_body(
            [
                call(**{"client-identifier": "listed", "contact-numbers": ["9812345670"]}),
                call(
                    **{
                        "client-identifier": "mixed",
                        "contact-numbers": ["9812345670", "9812345671"],
                    }
                ),
            ]
        )
        status, answer = invoke(api_event("POST", "/outbound/create", body))
        assert (status, answer["api-response-code"]) == (200, 209)
        listed, mixed = answer["call-details"]
        assert listed["error-code"] == 604 and "phonon-uuid" not in listed
        # And the call with an unlisted number is dialled on that number only
        harness.settle()
        view = status_of(mixed["phonon-uuid"])
        assert view["status"] == "COMPLETED" and view["connected-number"] == "+919812345671"
        assert harness.placed_numbers() == ["+919812345671"]
        legs = view["attempts"][0]["legs"]
        assert [(leg["outcome"], leg.get("skip-reason")) for leg in legs] == [
            ("SKIPPED", "dnc"),
            ("ANSWERED", None),
        ]
        assert legs[0]["started-at"] is None
        assert balance() == 999


class TestDncAtDialTime:
    def test_a_number_listed_after_acceptance_is_never_dialled(self, harness: Harness) -> None:
        # Given a call accepted, then its only number put on the list
        phonon_uuid = accept("9812345670")
        dnc("PUT", "9812345670")
        # When the dialer runs
        harness.settle()
        # Then nothing was placed; the leg is SKIPPED for dnc; the call FAILED 604, refunded
        assert harness.placed == []
        view = status_of(phonon_uuid)
        assert view["status"] == "FAILED"
        assert (view["error-code"], view["error-message"]) == (604, "Number On Do-Not-Call List")
        (leg,) = view["attempts"][0]["legs"]
        assert (leg["outcome"], leg["skip-reason"], leg["duration-seconds"]) == (
            "SKIPPED",
            "dnc",
            0,
        )
        assert balance() == 1000
        # And the customer hears of it
        assert webhook_messages() == [
            {"phonon-uuid": phonon_uuid, "event-id": f"{phonon_uuid}:FAILED"}
        ]

    def test_a_listed_number_is_skipped_on_retries_too(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        # Given 2 attempts; the first number never answers and is listed after the first
        phonon_uuid = accept("9812345678", "9812345677")
        harness.drain_queue()
        dnc("PUT", "9812345678")
        harness.settle()
        (schedule,) = schedules().values()
        harness.dialer.clock = lambda: schedule_time(schedule)  # type: ignore[union-attr]
        harness.deliver(schedule["Target"]["Input"])
        harness.settle()
        view = status_of(phonon_uuid)
        assert view["status"] == "NOT_CONNECTED"
        assert harness.placed_numbers() == ["+919812345678", "+919812345677", "+919812345677"]
        second = [leg["outcome"] for leg in view["attempts"][1]["legs"]]
        assert second == ["SKIPPED", "BUSY"]


class TestFrequencyCap:
    def test_a_second_call_to_a_number_within_24h_waits(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        # Given a cap of 1 a day, and two calls to one number accepted together
        with_account(config_doc, apply, **{"max-calls-per-number-per-day": 1})
        body = create_body(
            [
                call(**{"client-identifier": "a", "contact-numbers": ["9812345670"]}),
                call(**{"client-identifier": "b", "contact-numbers": ["9812345670"]}),
            ]
        )
        status, answer = invoke(api_event("POST", "/outbound/create", body))
        assert status == 200
        first, second = (d["phonon-uuid"] for d in answer["call-details"])
        # When both are dialled
        now = datetime.now(UTC).replace(microsecond=0)
        harness.dialer.clock = lambda: now  # type: ignore[union-attr]
        harness.settle()
        # Then only one leg is placed; the other call waits a day from that placement
        assert len(harness.placed) == 1
        views = {status_of(i)["status"]: status_of(i) for i in (first, second)}
        assert set(views) == {"COMPLETED", "SCHEDULED"}
        waiting = views["SCHEDULED"]
        assert datetime.fromisoformat(waiting["next-dial-at"]) == now + timedelta(days=1)
        assert waiting["attempts"] == []
        # When that day has passed
        (schedule,) = schedules().values()
        harness.dialer.clock = lambda: now + timedelta(days=1)  # type: ignore[union-attr]
        harness.deliver(schedule["Target"]["Input"])
        harness.settle()
        # Then it is placed
        assert len(harness.placed) == 2
        assert status_of(waiting["phonon-uuid"])["status"] == "COMPLETED"

    def test_every_number_at_the_cap_is_refused_605_at_acceptance(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        with_account(config_doc, apply, **{"max-calls-per-number-per-day": 1})
        accept("9812345670")
        harness.settle()
        # When another call to that number is due within 24 h
        body = create_body([call(**{"contact-numbers": ["9812345670"]})])
        status, answer = invoke(api_event("POST", "/outbound/create", body))
        # Then it is refused 605 (HTTP 429), nothing reserved
        assert (status, answer["api-response-code"]) == (429, 605)
        assert answer["call-details"][0]["error-message"] == "Frequency Cap Exceeded"
        assert balance() == 999
        # While a call with another number too, or due a day later, is accepted
        accept("9812345670", "9812345671")
        accept("9812345670", start=(datetime.now(UTC) + timedelta(days=1, minutes=5)).isoformat())

    def test_the_cap_counts_legs_of_every_flow_of_the_account(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        with_account(config_doc, apply, **{"max-calls-per-number-per-day": 1})
        accept("9812345670")
        harness.settle()
        body = create_body(
            [call(**{"contact-numbers": ["9812345670"]})],
            **{"flow-id": OTHER_FLOW_ID, "security-id": OTHER_SECURITY_ID},
        )
        body["calls"][0].pop("keys")
        status, answer = invoke(api_event("POST", "/outbound/create", body))
        assert (status, answer["api-response-code"]) == (429, 605)

    def test_racing_dialers_never_place_over_the_cap(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        # Given a cap of 2 and six calls to one number, accepted together
        with_account(config_doc, apply, **{"max-calls-per-number-per-day": 2})
        body = create_body(
            [
                call(**{"client-identifier": f"c{i}", "contact-numbers": ["9812345670"]})
                for i in range(6)
            ]
        )
        ids = [
            d["phonon-uuid"]
            for d in invoke(api_event("POST", "/outbound/create", body))[1]["call-details"]
        ]
        # When six dialers each dial one of them at the same moment
        barrier = threading.Barrier(6)
        assert harness.dialer is not None
        factory = harness.dialer.gateway_factory

        errors: list[BaseException] = []

        def dial(phonon_uuid: str) -> None:
            dialer = Dialer(gateway_factory=factory)
            barrier.wait()
            try:
                dialer.dial(phonon_uuid)
            except BaseException as error:  # reported below, with the thread's call
                errors.append(error)

        threads = [threading.Thread(target=dial, args=(i,)) for i in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Then exactly two legs were placed; the other four calls wait
        assert errors == []
        assert len(harness.placed) == 2, [status_of(i) for i in ids]
        statuses = sorted(status_of(i)["status"] for i in ids)
        assert statuses.count("SCHEDULED") == 4

    def test_a_lost_conditional_write_reads_again(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        # Given a cap of 1, two calls to one number, and a dialer whose placement write is
        # overtaken by another dialer's (injected just before the write is sent)
        with_account(config_doc, apply, **{"max-calls-per-number-per-day": 1})
        first, second = (accept("9812345670") for _ in range(2))
        assert harness.dialer is not None
        other = Dialer(gateway_factory=harness.dialer.gateway_factory)
        events = aws.client("dynamodb").meta.events
        overtaken: list[bool] = []

        def overtake(params: dict[str, Any], **_: Any) -> None:
            if (
                params.get("Item", {}).get("pk", {}).get("S", "").startswith("PLACED#")
                and not overtaken
            ):
                overtaken.append(True)
                other.dial(second)

        events.register("provide-client-params.dynamodb.PutItem", overtake)
        try:
            harness.dialer.dial(first)
        finally:
            events.unregister("provide-client-params.dynamodb.PutItem", overtake)
        # Then the other dialer's leg was placed and ours waits
        assert overtaken and [leg.phonon_uuid for leg in harness.placed] == [second]
        assert status_of(first)["status"] == "SCHEDULED"

    def test_a_leg_the_gateway_refuses_does_not_count(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        with_account(config_doc, apply, **{"max-calls-per-number-per-day": 1})
        config_doc["flows"][0]["max-attempts"] = 1
        apply(config_doc)
        accept("9812345679")  # the simulator refuses ...9
        harness.settle()
        accept("9812345679")  # so the number is not at its cap
        harness.settle()
        assert len(harness.placed) == 2


class TestRetryOn:
    def test_an_outcome_not_in_retry_on_ends_the_call(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        with_flow(config_doc, apply, **{"retry-on": ["NO_ANSWER"]})
        phonon_uuid = accept("9812345677")  # BUSY
        harness.settle()
        view = status_of(phonon_uuid)
        assert view["status"] == "NOT_CONNECTED" and len(view["attempts"]) == 1
        assert schedules() == {}

    def test_an_outcome_in_retry_on_schedules_another_attempt(
        self, harness: Harness, config_doc: dict[str, Any], apply: Any
    ) -> None:
        with_flow(config_doc, apply, **{"retry-on": ["NO_ANSWER"]})
        phonon_uuid = accept("9812345677", "9812345678")  # BUSY, then NO_ANSWER
        harness.settle()
        view = status_of(phonon_uuid)
        assert view["status"] == "SCHEDULED" and view["next-dial-at"]
        assert f"retry-{phonon_uuid}-2" in schedules()

    def test_the_default_retries_every_outcome_but_answered(self, harness: Harness) -> None:
        phonon_uuid = accept("9812345677")
        harness.settle()
        assert status_of(phonon_uuid)["status"] == "SCHEDULED"


class TestConfiguration:
    @pytest.mark.parametrize(
        ("section", "fields", "problem"),
        [
            ("flows", {"retry-after-seconds": 59}, "retry-after-seconds"),
            ("flows", {"retry-on": ["ANSWERED"]}, "retry-on"),
            ("flows", {"calling-window": {"from": "21:00", "to": "09:00"}}, "calling-window"),
            (
                "flows",
                {"calling-window": {"from": "09:00", "to": "21:00", "time-zone": "Nowhere"}},
                "time-zone",
            ),
            (
                "flows",
                {"calling-window": {"from": "09:00", "to": "21:00", "days": ["FUNDAY"]}},
                "days",
            ),
            ("accounts", {"max-calls-per-number-per-day": 0}, "max-calls-per-number-per-day"),
        ],
    )
    def test_bad_policy_keys_are_refused_with_their_path(
        self, config_doc: dict[str, Any], section: str, fields: dict[str, Any], problem: str
    ) -> None:
        config_doc[section][0].update(fields)
        with pytest.raises(ConfigInvalid) as refused:
            check_config(config_doc)
        assert any(problem in p for p in refused.value.problems), refused.value.problems

    def test_the_policy_keys_are_applied_and_read_back(
        self, config_doc: dict[str, Any], apply: Any
    ) -> None:
        config_doc["flows"][0].update(
            {"retry-on": ["BUSY"], "retry-after-seconds": 60, "calling-window": WINDOW}
        )
        config_doc["accounts"][0]["max-calls-per-number-per-day"] = 3
        apply(config_doc)
        view = ConfigStore().get_flow_view(FLOW_ID)
        assert view is not None
        assert view.flow.retry_on == ["BUSY"] and view.flow.retry_after_seconds == 60
        assert view.flow.calling_window is not None
        assert view.flow.calling_window.days == ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
        assert view.account.max_calls_per_number_per_day == 3
        defaults = ConfigStore().get_flow_view(OTHER_FLOW_ID)
        assert defaults is not None and defaults.flow.retry_on == ["NO_ANSWER", "BUSY", "FAILED"]
        assert defaults.flow.calling_window is None


def test_the_openapi_document_names_every_route_key_and_code_of_the_policy() -> None:
    status, document = invoke(api_event("GET", "/openapi.json"))
    assert status == 200
    assert {"put", "get", "delete"} <= set(document["paths"]["/outbound/dnc/{number}"])
    bulk_route = document["paths"]["/outbound/dnc"]["post"]
    assert bulk_route["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "DncBulkBody"
    )
    schemas = document["components"]["schemas"]
    assert {"security-id", "flow-id", "numbers", "action"} <= set(
        schemas["DncBulkBody"]["properties"]
    )
    assert {604, 605} <= set(schemas["ApiResponse"]["properties"]["api-response-code"]["enum"])
    assert {"calling-window", "retry-on", "retry-after-seconds"} <= set(
        schemas["Flow"]["properties"]
    )
    assert "max-calls-per-number-per-day" in schemas["Account"]["properties"]
    assert {"from", "to", "days", "time-zone"} <= set(schemas["CallingWindow"]["properties"])
    assert "SKIPPED" in schemas["Leg"]["properties"]["outcome"]["enum"]
    assert "skip-reason" in schemas["Leg"]["properties"]
