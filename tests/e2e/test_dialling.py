"""Calls really dialled by `outdial serve`: immediate, future (through a schedule), alternates,
cancel, pull, and the signed webhook at a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from outdial.signatures import OUTDIAL_SIGNATURE_HEADER, verify
from tests.conftest import FLOW_ID, SECURITY_ID, config_document
from tests.e2e.conftest import Served, http, start_serve, stop_serve
from tests.e2e.waiting import HEADERS, call_of, wait_for_end
from tests.fakes import HttpPeer, Reply

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpPeer]:
    with HttpPeer(default=Reply(204)) as peer:
        yield peer


@pytest.fixture(scope="module")
def dialling(tmp_path_factory: pytest.TempPathFactory, receiver: HttpPeer) -> Iterator[Served]:
    document = config_document()
    document["accounts"][0]["webhook-url"] = receiver.url_for("/hook")
    document["flows"][0]["max-attempts"] = 1
    path = Path(tmp_path_factory.mktemp("config")) / "outdial.json"
    path.write_text(json.dumps(document))
    # Schedules for anything 2 s or more ahead, so the Scheduler path runs in seconds.
    served = start_serve(
        "--config", str(path), env_extra={"OUTDIAL_SCHEDULE_MIN_LEAD_SECONDS": "2"}
    )
    yield served
    stop_serve(served)


def create(served: Served, *numbers: str, start: datetime | None = None) -> str:
    body = {
        "api-version": "1.0",
        "security-id": SECURITY_ID,
        "flow-id": FLOW_ID,
        "calls": [
            {
                "client-identifier": f"e2e-{time.monotonic_ns()}",
                "start-time": (start or datetime.now(UTC)).isoformat(),
                "contact-numbers": list(numbers),
                "keys": [{"name": "$flow.key.name", "value": "Ravi"}],
            }
        ],
    }
    status, answer = http("POST", f"{served.url}/outbound/create", body)
    assert status == 200, answer
    return str(answer["call-details"][0]["phonon-uuid"])


def http_get(url: str, method: str = "GET") -> tuple[int, dict[str, Any]]:
    import urllib.request

    request = urllib.request.Request(url, method=method, headers=HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def webhook_for(receiver: HttpPeer, phonon_uuid: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for request in receiver.requests:
            if request.json().get("phonon-uuid") == phonon_uuid:
                return request
        time.sleep(0.2)
    raise AssertionError(f"no webhook for {phonon_uuid}")


def test_immediate_call_with_alternates_completes_and_is_reported(
    dialling: Served, receiver: HttpPeer
) -> None:
    # Given a call due now whose first number is busy
    phonon_uuid = create(dialling, "9812345677", "9812345670")
    # Then it completes on the second number, within seconds
    view = wait_for_end(dialling, phonon_uuid)
    assert view["status"] == "COMPLETED" and view["connected-number"] == "+919812345670"
    assert [leg["outcome"] for leg in view["attempts"][0]["legs"]] == ["BUSY", "ANSWERED"]
    # And the webhook arrives, signed with the flow's security-id
    request = webhook_for(receiver, phonon_uuid)
    verify(request.header(OUTDIAL_SIGNATURE_HEADER), SECURITY_ID, request.body, int(time.time()))
    payload = request.json()
    assert payload["status"] == "COMPLETED" and payload["event-id"]
    assert payload["attempts"] == view["attempts"]


def test_future_call_waits_for_its_schedule(dialling: Served) -> None:
    start = datetime.now(UTC) + timedelta(seconds=4)
    phonon_uuid = create(dialling, "9812345670", start=start)
    assert call_of(dialling, phonon_uuid)["status"] == "SCHEDULED"
    view = wait_for_end(dialling, phonon_uuid)
    assert view["status"] == "COMPLETED"
    dialled_at = datetime.fromisoformat(view["attempts"][0]["legs"][0]["started-at"])
    assert dialled_at >= start.replace(microsecond=0)


def test_cancel_a_future_call(dialling: Served, receiver: HttpPeer) -> None:
    phonon_uuid = create(dialling, "9812345670", start=datetime.now(UTC) + timedelta(hours=1))
    status, body = http_get(f"{dialling.url}/outbound/calls/{phonon_uuid}", method="DELETE")
    assert (status, body["call"]["status"]) == (200, "CANCELLED")
    assert webhook_for(receiver, phonon_uuid).json()["status"] == "CANCELLED"
    status, again = http_get(f"{dialling.url}/outbound/calls/{phonon_uuid}", method="DELETE")
    assert (status, again["api-response-code"]) == (409, 602)


def test_pull_reports_ended_calls(dialling: Served) -> None:
    phonon_uuid = create(dialling, "9812345678")
    wait_for_end(dialling, phonon_uuid)
    body = {"security-id": SECURITY_ID, "flow-id": FLOW_ID, "phonon-uuids": [phonon_uuid]}
    status, answer = http("POST", f"{dialling.url}/outbound/pull", body)
    assert status == 200
    assert answer["data"][0]["status"] == "NOT_CONNECTED"
