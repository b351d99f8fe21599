"""Real-carrier gateways through `outdial serve`: Twilio, Plivo and Exotel, each pointed (by
``api-base``) at a local fake of its API that posts signed callbacks back to outdial."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest

from tests.conftest import config_document
from tests.e2e.conftest import Served, http, outdial, start_serve, stop_serve
from tests.fakes import HttpPeer, Reply
from tests.fakes.carriers import FakeCarrier, FakeExotel, FakePlivo, FakeTwilio

pytestmark = pytest.mark.e2e

PUBLIC = "https://outdial.example.test"  # callback-base-url: what the carriers are told
DID = "+918030000009"
TALK = 2


@dataclass(frozen=True)
class Carrier:
    kind: str
    gateway_id: str
    flow_id: str
    security_id: str
    fake: FakeCarrier
    secret: dict[str, str]
    gateway: dict[str, Any]


def _carriers() -> list[Carrier]:
    # Twilio's fake admits fewer calls a second than outdial sends it: its 429/20429 answers
    # must make legs wait, never fail.
    twilio = FakeTwilio("AC0123456789", "tw-auth-token", calls_per_second=2, talk_seconds=TALK)
    plivo = FakePlivo("MAPLIVOAUTHID", "pl-auth-token", talk_seconds=TALK)
    exotel = FakeExotel("exo-key", "exo-token", talk_seconds=TALK)
    base = {"flow-url": "https://flows.example.test/start?v=1", "callback-base-url": PUBLIC}
    return [
        Carrier(
            "twilio",
            "tw",
            "TWflow01",
            "T" * 64,
            twilio,
            {"auth-token": "tw-auth-token"},
            {**base, "account-sid": "AC0123456789", "calls-per-second": 5},
        ),
        Carrier(
            "plivo",
            "pl",
            "PLflow01",
            "P" * 64,
            plivo,
            {"auth-token": "pl-auth-token"},
            {**base, "auth-id": "MAPLIVOAUTHID", "calls-per-second": 10},
        ),
        Carrier(
            "exotel",
            "ex",
            "EXflow01",
            "X" * 64,
            exotel,
            {"api-key": "exo-key", "api-token": "exo-token", "event-secret": "e" * 40},
            {**base, "account-sid": "exo-account", "calls-per-second": 10},
        ),
    ]


@dataclass
class World:
    served: Served
    receiver: HttpPeer
    carriers: dict[str, Carrier]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    carriers = {c.kind: c for c in _carriers()}
    with HttpPeer(default=Reply(204)) as receiver:
        for carrier in carriers.values():
            carrier.fake.__enter__()
        document = config_document()
        document["accounts"][0]["webhook-url"] = receiver.url_for("/hook")
        for carrier in carriers.values():
            document["flows"].append(
                {
                    "flow-id": carrier.flow_id,
                    "account-id": "acme",
                    "security-id": carrier.security_id,
                    "gateway-id": carrier.gateway_id,
                    "dids": [{"number": DID}],
                    "max-attempts": 1,
                }
            )
            document["gateways"].append(
                {
                    "gateway-id": carrier.gateway_id,
                    "kind": carrier.kind,
                    "secret-id": f"outdial/gateways/{carrier.gateway_id}",
                    "api-base": carrier.fake.url,
                    **carrier.gateway,
                }
            )
        path = Path(tmp_path_factory.mktemp("carriers")) / "outdial.json"
        path.write_text(json.dumps(document))
        served = start_serve("--config", str(path))
        try:
            secrets = boto3.client(
                "secretsmanager",
                endpoint_url=served.banner["aws-endpoint"],
                region_name="ap-south-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            for carrier in carriers.values():
                secrets.create_secret(
                    Name=f"outdial/gateways/{carrier.gateway_id}",
                    SecretString=json.dumps(carrier.secret),
                )
                # The carrier's callbacks reach this serve, the way a load balancer in front
                # of the public URL would forward them.
                carrier.fake.deliver_to = lambda url: url.replace(PUBLIC, served.url, 1)
            yield World(served, receiver, carriers)
        finally:
            stop_serve(served)
            for carrier in carriers.values():
                carrier.fake.__exit__()


def _numbers(index: int) -> list[str]:
    """Five shapes of call: answered; busy; no answer then answered; refused; failed."""
    stem = f"+91981200{index:03d}"
    return {
        0: [f"{stem}0"],
        1: [f"{stem}7"],
        2: [f"{stem}8", f"{stem}1"],
        3: [f"{stem}9"],
        4: [f"{stem}4"],
    }[index % 5]


def _submit(world: World, carrier: Carrier, calls: int) -> tuple[str, list[str]]:
    body = {
        "api-version": "1.0",
        "security-id": carrier.security_id,
        "flow-id": carrier.flow_id,
        "calls": [
            {
                "client-identifier": f"{carrier.kind}-{i}",
                "start-time": datetime.now(UTC).isoformat(),
                "contact-numbers": _numbers(i),
                "keys": [{"name": "$flow.key.name", "value": f"Ravi {i}"}],
            }
            for i in range(calls)
        ],
    }
    status, answer = http("POST", f"{world.served.url}/outbound/create", body)
    assert status == 200, answer
    return answer["request-id"], [d["phonon-uuid"] for d in answer["call-details"]]


def _get(world: World, carrier: Carrier, path: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{world.served.url}{path}",
        headers={"x-flow-id": carrier.flow_id, "x-security-id": carrier.security_id},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _wait_until_ended(world: World, carrier: Carrier, uuids: list[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 150
    while True:
        calls = [_get(world, carrier, f"/outbound/calls/{u}")["call"] for u in uuids]
        pending = [c for c in calls if c["status"] in ("SCHEDULED", "QUEUED", "DIALING")]
        if not pending:
            return calls
        assert time.monotonic() < deadline, f"{len(pending)} calls never ended: {pending[:2]}"
        time.sleep(1)


EXPECTED = {
    0: ("COMPLETED", ["ANSWERED"]),
    1: ("NOT_CONNECTED", ["BUSY"]),
    2: ("COMPLETED", ["NO_ANSWER", "ANSWERED"]),
    3: ("FAILED", ["FAILED"]),
    4: ("NOT_CONNECTED", ["FAILED"]),
}


@pytest.mark.parametrize("kind", ["twilio", "plivo", "exotel"])
def test_twenty_calls_end_with_the_carriers_outcomes(world: World, kind: str) -> None:
    carrier = world.carriers[kind]
    # Given 20 calls due now on a flow dialled through the carrier
    _, uuids = _submit(world, carrier, 20)
    # When the carrier rings them and posts its callbacks
    calls = _wait_until_ended(world, carrier, uuids)
    # Then each call ends as its numbers decide, leg by leg
    for index, call in enumerate(calls):
        status, outcomes = EXPECTED[index % 5]
        legs = [leg for attempt in call["attempts"] for leg in attempt["legs"]]
        assert call["status"] == status, call
        assert [leg["outcome"] for leg in legs] == outcomes, call
        assert all(leg["did"] == DID for leg in legs)
        if status == "COMPLETED":
            assert call["connected-number"] == call["contact-numbers"][-1]
            assert legs[-1]["duration-seconds"] == TALK
        if status == "FAILED":
            assert call["error-code"] == 206
    # And the carrier was asked exactly once per leg it placed, with the call's particulars
    placed = carrier.fake.placed
    assert len(placed) == sum(1 + (i % 5 == 2) for i in range(20)) - 4  # refused: not placed
    numbers = {n for call in calls for n in call["contact-numbers"]}
    for placement in placed:
        _assert_placement(kind, placement.params, numbers)
    # And every call's webhook reached the customer with its final status
    _assert_webhooks(world, calls)


def _assert_placement(kind: str, params: dict[str, Any], numbers: set[str]) -> None:
    if kind == "twilio":
        assert params["From"] == DID and params["To"] in numbers
        assert params["Timeout"] == "60" and params["TimeLimit"] == "3600"
        assert params["StatusCallbackEvent"] == "completed"
        assert parse_qs(urlsplit(params["Url"]).query)["key.name"][0].startswith("Ravi ")
        callback = params["StatusCallback"]
    elif kind == "plivo":
        assert params["from"] == DID.lstrip("+") and f"+{params['to']}" in numbers
        assert (params["ring_timeout"], params["time_limit"]) == (60, 3600)
        assert parse_qs(urlsplit(params["answer_url"]).query)["key.name"][0].startswith("Ravi ")
        callback = params["hangup_url"]
    else:
        assert params["CallerId"] == DID and params["From"] in numbers
        assert params["CallType"] == "trans" and params["TimeOut"] == "60"
        assert json.loads(params["CustomField"])["name"].startswith("Ravi ")
        callback = params["StatusCallback"]
        assert "token=" in callback
    assert callback.startswith(f"{PUBLIC}/gateway/events/")


def _assert_webhooks(world: World, calls: list[dict[str, Any]]) -> None:
    want = {call["phonon-uuid"]: call["status"] for call in calls}
    deadline = time.monotonic() + 60
    while True:
        got = {}
        for request in world.receiver.requests:
            event = request.json()
            if event["phonon-uuid"] in want:
                got[event["phonon-uuid"]] = event["status"]
        if got == want:
            return
        assert time.monotonic() < deadline, f"webhooks: {len(got)} of {len(want)}"
        time.sleep(0.5)


def test_twilio_rate_limits_made_legs_wait_not_fail(world: World) -> None:
    carrier = world.carriers["twilio"]
    if not any(p.answer == 429 for p in carrier.fake.placements):
        _, uuids = _submit(world, carrier, 10)
        _wait_until_ended(world, carrier, uuids)
    # Then the fake did answer 20429 (outdial sends 5 a second, it takes 2) ...
    assert any(p.answer == 429 for p in carrier.fake.placements)
    # ... and no placement ever exceeded what outdial allows in a second
    per_second: dict[int, int] = {}
    for placement in carrier.fake.placements:
        per_second[int(placement.at)] = per_second.get(int(placement.at), 0) + 1
    assert max(per_second.values()) <= 5


def _one_answered_leg(world: World, carrier: Carrier) -> tuple[dict[str, Any], str]:
    _, uuids = _submit(world, carrier, 1)
    (call,) = _wait_until_ended(world, carrier, uuids)
    assert call["status"] == "COMPLETED"
    placement = carrier.fake.placed[-1]
    callback = placement.params.get("StatusCallback") or placement.params["hangup_url"]
    return call, callback


def _post(world: World, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(
        url.replace(PUBLIC, world.served.url, 1), data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("kind", ["twilio", "plivo", "exotel"])
def test_a_forged_callback_is_refused_and_changes_nothing(world: World, kind: str) -> None:
    carrier = world.carriers[kind]
    call, callback = _one_answered_leg(world, carrier)
    sid = carrier.fake.placed[-1].sid
    assert sid is not None
    fake_call = carrier.fake.calls[sid]
    params = carrier.fake.callback_params(fake_call, status="busy")  # type: ignore[attr-defined]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if kind == "twilio":
        headers["X-Twilio-Signature"] = "bm90IHR3aWxpbydzIHNpZ25hdHVyZQ=="
    elif kind == "plivo":
        headers["X-Plivo-Signature-V3"] = "bm90IHBsaXZvJ3Mgc2lnbmF0dXJl"
        headers["X-Plivo-Signature-V3-Nonce"] = "12345"
    else:
        callback = callback.split("token=")[0] + "token=" + "0" * 64
    # When a callback not signed by the carrier says the answered leg was busy
    status, body = _post(world, callback, urlencode(params).encode(), headers)
    # Then it is refused, as an unknown gateway would be, and the call is as it was
    assert (status, body["api-response-code"]) == (401, 202)
    after = _get(world, carrier, f"/outbound/calls/{call['phonon-uuid']}")["call"]
    assert after == call


def test_a_replayed_plivo_callback_is_refused(world: World) -> None:
    carrier = world.carriers["plivo"]
    fake = carrier.fake
    assert isinstance(fake, FakePlivo)
    _, callback = _one_answered_leg(world, carrier)
    sid = fake.placed[-1].sid
    assert sid is not None
    params = fake.callback_params(fake.calls[sid])
    signature = fake.sign(callback, params, "nonce-once")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Plivo-Signature-V3": signature,
        "X-Plivo-Signature-V3-Nonce": "nonce-once",
    }
    body = urlencode(params).encode()
    # A correctly signed callback is taken once (a repeat of a final one changes nothing) ...
    assert _post(world, callback, body, headers)[0] == 200
    # ... and its nonce is never accepted again
    status, answer = _post(world, callback, body, headers)
    assert (status, answer["api-response-code"]) == (401, 202)


def test_non_final_callbacks_are_acknowledged_and_ignored(world: World) -> None:
    carrier = world.carriers["twilio"]
    fake = carrier.fake
    assert isinstance(fake, FakeTwilio)
    call, callback = _one_answered_leg(world, carrier)
    sid = fake.placed[-1].sid
    assert sid is not None
    params = fake.callback_params(fake.calls[sid], status="ringing")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": fake.sign(callback, params),
    }
    status, body = _post(world, callback, urlencode(params).encode(), headers)
    assert (status, body["api-response-code"]) == (200, 200)
    assert _get(world, carrier, f"/outbound/calls/{call['phonon-uuid']}")["call"] == call


@pytest.mark.parametrize("encoding", ["form", "multipart"])
def test_exotel_callbacks_in_every_encoding(world: World, encoding: str) -> None:
    carrier = world.carriers["exotel"]
    fake = carrier.fake
    assert isinstance(fake, FakeExotel)
    fake.encoding = encoding
    try:
        _, uuids = _submit(world, carrier, 2)
        calls = _wait_until_ended(world, carrier, uuids)
    finally:
        fake.encoding = "json"
    assert [c["status"] for c in calls] == ["COMPLETED", "NOT_CONNECTED"]


def test_config_check_refuses_a_carrier_missing_its_essentials(tmp_path: Path) -> None:

    # Given a file with an exotel gateway lacking its account and ringing over a minute,
    # and a twilio gateway lacking its callback base URL
    document = config_document()
    document["gateways"] += [
        {
            "gateway-id": "ex",
            "kind": "exotel",
            "secret-id": "outdial/gateways/ex",
            "flow-url": "https://flows.example.test/x",
            "callback-base-url": PUBLIC,
            "ring-seconds": 90,
        },
        {
            "gateway-id": "tw",
            "kind": "twilio",
            "account-sid": "AC1",
            "secret-id": "outdial/gateways/tw",
            "flow-url": "https://flows.example.test/x",
        },
    ]
    path = tmp_path / "outdial.json"
    path.write_text(json.dumps(document))
    # When it is checked
    result = outdial("config", "check", str(path))
    # Then it is refused, each problem at its path
    assert result.returncode == 1
    for problem in (
        "$.gateways[1].account-sid",
        "$.gateways[1].ring-seconds",
        "$.gateways[2].callback-base-url",
    ):
        assert problem in result.stderr
