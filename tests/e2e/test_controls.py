"""Call controls and trusted webhooks through a real `outdial serve` over HTTP (SPEC §7, §10):
Idempotency-Key, dry run, PATCH reschedule, a rotated account's Standard Webhooks deliveries,
replay, and `outdial webhooks redrive`."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import FLOW_ID, SECURITY_ID, config_document
from tests.e2e.conftest import Served, outdial, start_serve, stop_serve
from tests.fakes import HttpPeer, Recorded, Reply

pytestmark = pytest.mark.e2e
AUTH = {"x-flow-id": FLOW_ID, "x-security-id": SECURITY_ID}


@dataclass
class Setup:
    served: Served
    receiver: HttpPeer
    secrets: tuple[str, str]  # the account's first and second webhook signing secrets


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with HttpPeer(default=Reply(204)) as receiver:
        document = config_document()
        document["accounts"][0]["webhook-url"] = receiver.url_for("/hook")
        document["accounts"][0]["webhook-events"] = ["call.ended", "leg.ended"]
        document["flows"][0]["max-attempts"] = 1
        path = Path(tmp_path_factory.mktemp("config")) / "outdial.json"
        path.write_text(json.dumps(document))
        served = start_serve("--config", str(path))
        try:
            # The account rotates its webhook secret twice, keeping the first for a day
            first = outdial("webhook-secret", "rotate", "acme", served=served)
            second = outdial(
                "webhook-secret", "rotate", "acme", "--keep-previous", "24h", served=served
            )
            assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
            secrets = (first.stdout.strip(), second.stdout.strip())
            assert all(s.startswith("whsec_") for s in secrets) and secrets[0] != secrets[1]
            yield Setup(served, receiver, secrets)
        finally:
            stop_serve(served)


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def create_body(start: datetime | None = None, numbers: list[str] | None = None) -> dict[str, Any]:
    return {
        "api-version": "1.0",
        "security-id": SECURITY_ID,
        "flow-id": FLOW_ID,
        "calls": [
            {
                "client-identifier": f"e2e-{time.monotonic_ns()}",
                "start-time": (start or datetime.now(UTC)).isoformat(),
                "contact-numbers": numbers or ["+919812345670"],
                "keys": [{"name": "$flow.key.name", "value": "Ravi"}],
            }
        ],
    }


def get_call(setup: Setup, phonon_uuid: str) -> dict[str, Any]:
    status, body, _ = http("GET", f"{setup.served.url}/outbound/calls/{phonon_uuid}", None, AUTH)
    assert status == 200, body
    return body["call"]  # type: ignore[no-any-return]


def webhook_for(
    setup: Setup, phonon_uuid: str, count: int = 1, event_type: str | None = "call.ended"
) -> list[Recorded]:
    """The deliveries of the call's events of ``event_type`` (None: any), once ``count`` came."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [
            r
            for r in setup.receiver.requests
            if r.body
            and json.loads(r.body).get("phonon-uuid") == phonon_uuid
            and event_type in (None, json.loads(r.body).get("event-type"))
        ]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no webhook for {phonon_uuid}")


def test_two_requests_with_one_idempotency_key_get_one_request_id(setup: Setup) -> None:
    url, body = f"{setup.served.url}/outbound/create", create_body()
    key = {"Idempotency-Key": f"batch-{time.monotonic_ns()}"}
    status, first, headers = http("POST", url, body, key)
    assert status == 200 and "Idempotent-Replayed" not in headers
    status, second, headers = http("POST", url, body, key)
    assert status == 200 and headers["Idempotent-Replayed"] == "true"
    assert second["request-id"] == first["request-id"] and second == first
    # The same key with another body is refused 603
    status, other, _ = http("POST", url, create_body(), key)
    assert (status, other["api-response-code"]) == (422, 603)


def test_a_dry_run_answers_with_null_ids_and_the_body_is_then_accepted(setup: Setup) -> None:
    url, body = f"{setup.served.url}/outbound/create", create_body()
    status, dry, headers = http("POST", url, body, {"Outdial-Dry-Run": "true"})
    assert (status, dry["api-response-code"], headers["Outdial-Dry-Run"]) == (200, 200, "true")
    assert dry["request-id"] is None and dry["call-details"][0]["phonon-uuid"] is None
    status, real, _ = http("POST", url, body)
    assert (status, real["api-response-code"]) == (200, 200) and real["request-id"]


def test_a_patch_moves_a_call_an_hour_ahead(setup: Setup) -> None:
    _, created, _ = http(
        "POST",
        f"{setup.served.url}/outbound/create",
        create_body(datetime.now(UTC) + timedelta(minutes=20)),
    )
    phonon_uuid = created["call-details"][0]["phonon-uuid"]
    later = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    status, body, _ = http(
        "PATCH",
        f"{setup.served.url}/outbound/calls/{phonon_uuid}",
        {"start-time": later.isoformat()},
        AUTH,
    )
    assert (status, body["api-response-code"]) == (200, 200)
    call = get_call(setup, phonon_uuid)
    assert call["status"] == "SCHEDULED"
    assert datetime.fromisoformat(call["next-dial-at"]) == later
    # A call that has ended can no longer be moved: 606 with the call
    _, ended, _ = http("POST", f"{setup.served.url}/outbound/create", create_body())
    done = ended["call-details"][0]["phonon-uuid"]
    webhook_for(setup, done)
    status, body, _ = http(
        "PATCH",
        f"{setup.served.url}/outbound/calls/{done}",
        {"start-time": later.isoformat()},
        AUTH,
    )
    assert (status, body["api-response-code"], body["call"]["status"]) == (409, 606, "COMPLETED")


def test_a_rotated_accounts_deliveries_verify_with_either_secret(setup: Setup) -> None:
    _, created, _ = http("POST", f"{setup.served.url}/outbound/create", create_body())
    phonon_uuid = created["call-details"][0]["phonon-uuid"]
    (request,) = webhook_for(setup, phonon_uuid)
    headers = {
        name: request.header(name) or ""
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    for secret in setup.secrets:
        event = Webhook(secret).verify(request.body, headers)
        assert (event["event-type"], event["status"]) == ("call.ended", "COMPLETED")
        assert event["event-id"] == headers["webhook-id"]


def test_leg_events_come_one_per_leg_signed_like_the_rest(setup: Setup) -> None:
    # Given an account with leg.ended events, When a call's first number does not answer
    _, created, _ = http(
        "POST",
        f"{setup.served.url}/outbound/create",
        create_body(numbers=["9812345678", "9812345670"]),
    )
    phonon_uuid = created["call-details"][0]["phonon-uuid"]
    # Then one leg.ended per leg, each verifiable, each with its own event-id
    legs = webhook_for(setup, phonon_uuid, 2, "leg.ended")
    events = [
        Webhook(setup.secrets[1]).verify(
            r.body,
            {
                k: r.header(k) or ""
                for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
            },
        )
        for r in legs
    ]
    assert [e["leg"]["outcome"] for e in events] == ["NO_ANSWER", "ANSWERED"]
    assert len({e["event-id"] for e in events}) == 2
    (ended,) = webhook_for(setup, phonon_uuid)
    assert json.loads(ended.body)["status"] == "COMPLETED"


def test_replay_delivers_the_same_event_again(setup: Setup) -> None:
    _, created, _ = http("POST", f"{setup.served.url}/outbound/create", create_body())
    phonon_uuid = created["call-details"][0]["phonon-uuid"]
    (first,) = webhook_for(setup, phonon_uuid)
    status, body, _ = http(
        "POST",
        f"{setup.served.url}/outbound/webhooks/replay",
        {"security-id": SECURITY_ID, "flow-id": FLOW_ID, "phonon-uuids": [phonon_uuid]},
    )
    assert (status, body["api-response-code"], body["queued"]) == (202, 200, 1)
    _, again = webhook_for(setup, phonon_uuid, 2)
    assert json.loads(again.body)["event-id"] == json.loads(first.body)["event-id"]


def test_webhooks_redrive_brings_dead_lettered_events_back(setup: Setup) -> None:
    # Given a receiver that refuses (4xx: dead-lettered at once) the first event of one call
    body = create_body()
    marker = body["calls"][0]["client-identifier"]
    refused: list[str] = []

    def refuse_first(request: Recorded) -> Reply:
        event = json.loads(request.body or b"{}")
        if event.get("client-identifier") == marker and not refused:
            refused.append(event["event-id"])
            return Reply(400)
        return Reply(204)

    setup.receiver.responder = refuse_first
    try:
        _, created, _ = http("POST", f"{setup.served.url}/outbound/create", body)
        phonon_uuid = created["call-details"][0]["phonon-uuid"]
        webhook_for(setup, phonon_uuid, 2, None)  # its leg.ended and call.ended, one refused
        # When the operator redrives the webhook DLQ
        deadline = time.monotonic() + 30
        moved = 0
        while not moved and time.monotonic() < deadline:
            result = outdial("webhooks", "redrive", served=setup.served)
            assert result.returncode == 0, result.stderr
            moved = json.loads(result.stdout)["moved"]
        # Then the refused event is delivered again, and taken
        assert moved == 1
        again = webhook_for(setup, phonon_uuid, 3, None)[2]
        assert json.loads(again.body)["event-id"] == refused[0]
    finally:
        setup.receiver.responder = None


def test_the_openapi_document_names_the_controls(setup: Setup) -> None:
    status, document, _ = http("GET", f"{setup.served.url}/openapi.json")
    assert status == 200
    paths = document["paths"]
    assert "patch" in paths["/outbound/calls/{phonon_uuid}"]
    assert "post" in paths["/outbound/webhooks/replay"]
    create_headers = {p["name"] for p in paths["/outbound/create"]["post"]["parameters"]}
    assert {"Idempotency-Key", "Outdial-Dry-Run"} <= create_headers
    response = document["components"]["schemas"]["ApiResponse"]
    assert {603, 606, 607} <= set(response["properties"]["api-response-code"]["enum"])
