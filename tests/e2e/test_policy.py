"""Dialling policy through a real `outdial serve` over HTTP (SPEC §9): a calling window in a
fixed zone, the do-not-call list at acceptance and at dial time, a frequency cap of one."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import FLOW_ID, OTHER_FLOW_ID, OTHER_SECURITY_ID, SECURITY_ID, config_document
from tests.e2e.conftest import Served, http, start_serve, stop_serve
from tests.e2e.waiting import HEADERS, call_of, wait_for_end

pytestmark = pytest.mark.e2e
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def policed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    document = config_document()
    # A cap of one leg a day per number, across the account's flows
    document["accounts"][0]["max-calls-per-number-per-day"] = 1
    document["flows"][0]["max-attempts"] = 1
    # The second flow dials only 09:00-21:00 New York time
    document["flows"][1]["calling-window"] = {
        "from": "09:00",
        "to": "21:00",
        "time-zone": "America/New_York",
    }
    path = Path(tmp_path_factory.mktemp("config")) / "outdial.json"
    path.write_text(json.dumps(document))
    served = start_serve(
        "--config", str(path), env_extra={"OUTDIAL_SCHEDULE_MIN_LEAD_SECONDS": "2"}
    )
    yield served
    stop_serve(served)


def create(
    served: Served, calls: list[dict[str, Any]], flow: tuple[str, str] = (FLOW_ID, SECURITY_ID)
) -> tuple[int, dict[str, Any]]:
    body = {"api-version": "1.0", "flow-id": flow[0], "security-id": flow[1], "calls": calls}
    return http("POST", f"{served.url}/outbound/create", body)


def a_call(*numbers: str, start: datetime | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "client-identifier": f"e2e-{time.monotonic_ns()}",
        "start-time": (start or datetime.now(UTC)).isoformat(),
        "contact-numbers": list(numbers),
        "keys": [{"name": "$flow.key.name", "value": "Ravi"}],
        **extra,
    }


def test_a_call_due_after_hours_waits_for_the_window(policed: Served) -> None:
    # Given a flow whose window is 09:00-21:00 New York time, and a call due there at 22:00
    day = datetime.now(NEW_YORK).date() + timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 22, tzinfo=NEW_YORK)
    status, answer = create(
        policed,
        [{**a_call("+12125551234", start=start), "keys": []}],
        flow=(OTHER_FLOW_ID, OTHER_SECURITY_ID),
    )
    assert status == 200, answer
    phonon_uuid = answer["call-details"][0]["phonon-uuid"]
    # Then it is SCHEDULED with next-dial-at 09:00 the next day in New York
    status, body = http(
        "GET",
        f"{policed.url}/outbound/calls/{phonon_uuid}",
        headers={"x-flow-id": OTHER_FLOW_ID, "x-security-id": OTHER_SECURITY_ID},
    )
    assert status == 200
    view = body["call"]
    next_day = day + timedelta(days=1)
    opening = datetime(next_day.year, next_day.month, next_day.day, 9, tzinfo=NEW_YORK)
    assert view["status"] == "SCHEDULED"
    assert datetime.fromisoformat(view["next-dial-at"]) == opening
    # And nothing has been dialled
    assert view["attempts"] == []


def test_a_listed_number_is_refused_604(policed: Served) -> None:
    # Given a number put on the do-not-call list
    status, body = http("PUT", f"{policed.url}/outbound/dnc/9812340001", headers=HEADERS)
    assert (status, body["on-list"], body["number"]) == (200, True, "+919812340001")
    status, body = http("GET", f"{policed.url}/outbound/dnc/+919812340001", headers=HEADERS)
    assert (status, body["on-list"]) == (200, True)
    # When a call to it alone is created
    status, answer = create(policed, [a_call("9812340001")])
    # Then it is refused 604
    assert (status, answer["api-response-code"]) == (400, 604)
    assert answer["call-details"][0]["error-code"] == 604
    # And once taken off the list, a number is dialled again
    status, body = http("DELETE", f"{policed.url}/outbound/dnc/9812340001", headers=HEADERS)
    assert (status, body["on-list"]) == (200, False)
    status, body = http("GET", f"{policed.url}/outbound/dnc/9812340001", headers=HEADERS)
    assert (status, body["api-response-code"]) == (404, 213)


def test_a_number_listed_after_acceptance_is_skipped(policed: Served) -> None:
    # Given a call accepted for a few seconds ahead
    status, answer = create(
        policed, [a_call("9812340002", start=datetime.now(UTC) + timedelta(seconds=5))]
    )
    assert status == 200, answer
    phonon_uuid = answer["call-details"][0]["phonon-uuid"]
    # When its number is put on the list (in bulk) before it is due
    body = {
        "security-id": SECURITY_ID,
        "flow-id": FLOW_ID,
        "numbers": ["+919812340002"],
        "action": "add",
    }
    assert http("POST", f"{policed.url}/outbound/dnc", body) == (
        200,
        {"api-response-code": 200, "api-response-message": "Success", "count": 1},
    )
    # Then the leg is skipped, never placed, and the call FAILED 604
    view = wait_for_end(policed, phonon_uuid)
    assert (view["status"], view["error-code"]) == ("FAILED", 604)
    (leg,) = view["attempts"][0]["legs"]
    assert (leg["outcome"], leg["skip-reason"], leg["started-at"]) == ("SKIPPED", "dnc", None)


def test_a_second_call_within_24h_waits_for_the_cap(policed: Served) -> None:
    # Given a cap of 1 and two calls to one number, due now
    status, answer = create(policed, [a_call("9812340003"), a_call("9812340003")])
    assert status == 200, answer
    ids = [d["phonon-uuid"] for d in answer["call-details"]]
    # Then one is dialled and completes
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        views = [call_of(policed, i) for i in ids]
        if any(v["status"] == "COMPLETED" for v in views):
            break
        time.sleep(0.3)
    (done,) = [v for v in views if v["status"] == "COMPLETED"]
    placed = datetime.fromisoformat(done["attempts"][0]["legs"][0]["started-at"])
    # And the other waits, undialled, until a day after that placement
    (waiting,) = [v for v in views if v is not done]
    time.sleep(1)
    waiting = call_of(policed, waiting["phonon-uuid"])
    assert waiting["status"] == "SCHEDULED" and waiting["attempts"] == []
    wait = datetime.fromisoformat(waiting["next-dial-at"]) - placed
    assert timedelta(hours=23, minutes=59) <= wait <= timedelta(hours=24, minutes=1)
    # And a new call to that number now is refused 605
    status, answer = create(policed, [a_call("9812340003")])
    assert (status, answer["api-response-code"]) == (429, 605)
