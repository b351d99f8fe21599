"""A carrier gateway (Twilio's API, faked on 127.0.0.1) driven by the dialer and the events
route on moto: placing, pacing and rate limits, interrupted placings, and signed callbacks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from outdial.adapters import aws
from outdial.adapters.call_reads import CallReads
from outdial.adapters.calls_store import CallsStore
from outdial.adapters.dial_queue import dial_message
from outdial.adapters.gateways.secrets import shared_gateway_secrets
from outdial.handlers import dialer as dialer_handler
from outdial.local.apigateway import LambdaContext
from outdial.logic.dial import Dialer
from outdial.models.legs import LegRecord, LegState
from outdial.settings import get_settings
from tests import factories
from tests.conftest import FLOW_ID, SECURITY_ID, api_event, call, create_body, invoke, sqs_event
from tests.fakes.carriers import FakeTwilio

PUBLIC = "https://outdial.example.test"
HEADERS = {"x-flow-id": FLOW_ID, "x-security-id": SECURITY_ID}


@pytest.fixture
def twilio(
    resources: Any, config_doc: dict[str, Any], apply: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeTwilio]:
    aws.client("secretsmanager").create_secret(
        Name="outdial/gateways/tw", SecretString=json.dumps({"auth-token": "tw-token"})
    )
    shared_gateway_secrets.cache_clear()
    with FakeTwilio("AC1", "tw-token", ring_seconds=60) as fake:
        config_doc["gateways"].append(
            {
                "gateway-id": "tw",
                "kind": "twilio",
                "account-sid": "AC1",
                "secret-id": "outdial/gateways/tw",
                "flow-url": "https://flows.example/twiml",
                "callback-base-url": PUBLIC,
                "api-base": fake.url,
                "calls-per-second": 50,
            }
        )
        config_doc["flows"][0]["gateway-id"] = "tw"
        config_doc["flows"][0]["max-attempts"] = 1
        apply(config_doc)
        monkeypatch.setattr(dialer_handler, "dialer", lambda: Dialer())
        yield fake
    shared_gateway_secrets.cache_clear()


def accept(*numbers: str) -> str:
    body = create_body([call(**{"contact-numbers": list(numbers)})])
    status, answer = invoke(api_event("POST", "/outbound/create", body))
    assert status == 200, answer
    queued()  # the tests deliver the call's dial message themselves
    return str(answer["call-details"][0]["phonon-uuid"])


def dial(phonon_uuid: str) -> None:
    response = dialer_handler.handler(sqs_event([dial_message([phonon_uuid])]), LambdaContext())
    assert response["batchItemFailures"] == []


def queued() -> list[dict[str, Any]]:
    """The messages of the dial and outcome queues (delayed ones included)."""
    settings = get_settings()
    return _taken(settings.dial_queue_url) + _taken(settings.outcome_queue_url)


def _taken(url: str) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def leg(phonon_uuid: str) -> LegRecord:
    found = CallReads().leg(f"{phonon_uuid}-a1-n0")
    assert found is not None
    return found


def call_view(phonon_uuid: str) -> dict[str, Any]:
    status, body = invoke(api_event("GET", f"/outbound/calls/{phonon_uuid}", headers=HEADERS))
    assert status == 200
    return body["call"]  # type: ignore[no-any-return]


def test_a_placed_leg_keeps_the_carriers_call_sid(twilio: FakeTwilio) -> None:
    phonon_uuid = accept("9812345670")
    dial(phonon_uuid)
    (placement,) = twilio.placements
    placed = leg(phonon_uuid)
    assert (placed.state, placed.gateway_ref, placed.gateway_id) == (
        LegState.PLACED,
        placement.sid,
        "tw",
    )
    started = call_view(phonon_uuid)["attempts"][0]["legs"][0]["started-at"]
    assert datetime.fromisoformat(started) <= datetime.now(UTC)


def test_a_rate_limited_leg_waits_and_is_placed_later(twilio: FakeTwilio) -> None:
    # Given the carrier answering 20429 (no calls admitted this second)
    twilio.calls_per_second = 0
    phonon_uuid = accept("9812345670")
    dial(phonon_uuid)
    # Then the leg is not failed: it waits, its call back on the queue with a delay
    assert leg(phonon_uuid).state is LegState.PACED
    assert call_view(phonon_uuid)["status"] == "DIALING"
    assert queued() == []  # not at once ...
    time.sleep(1.2)
    assert queued() == [{"call-ids": [phonon_uuid]}]  # ... a second later
    # When the call comes back and the carrier admits it
    twilio.calls_per_second = 10
    dial(phonon_uuid)
    # Then it is placed, once
    assert [p.answer for p in twilio.placements] == [429, 201]
    assert leg(phonon_uuid).state is LegState.PLACED
    dial(phonon_uuid)
    assert len(twilio.placements) == 2


def test_an_interrupted_carrier_leg_is_never_posted_again(twilio: FakeTwilio) -> None:
    # Given a leg claimed long ago by a dialer that died before Twilio answered
    phonon_uuid = accept("9812345670")
    store = CallsStore()
    stale = datetime.now(UTC) - timedelta(seconds=600)
    store.put_items([factories.leg(store.get_call(phonon_uuid) or {}, now=stale, gateway_id="tw")])
    # When its message comes back
    dial(phonon_uuid)
    # Then Twilio is not asked again (it may have placed the call): the leg awaits its outcome
    assert twilio.placements == []
    assert (leg(phonon_uuid).state, leg(phonon_uuid).placed_at) == (LegState.PLACED, None)


def _callback(phonon_uuid: str, twilio: FakeTwilio, status: str, sign: bool = True) -> int:
    sid = twilio.placed[-1].sid
    assert sid is not None
    url = f"{PUBLIC}/gateway/events/tw?leg={phonon_uuid}-a1-n0"
    params = twilio.callback_params(twilio.calls[sid], status=status)
    signature = twilio.sign(url, params) if sign else "AAAA"
    code, _ = invoke(
        api_event(
            "POST",
            f"/gateway/events/tw?leg={phonon_uuid}-a1-n0",
            raw=urlencode(params).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
                # What a client says the host is does not enter the signature check
                "Host": "attacker.example",
            },
        )
    )
    return code


def test_signed_callbacks_end_the_call_and_forged_ones_are_refused(twilio: FakeTwilio) -> None:
    phonon_uuid = accept("9812345670")
    dial(phonon_uuid)
    # A forged final callback is refused and queues nothing
    assert _callback(phonon_uuid, twilio, "busy", sign=False) == 401
    assert queued() == []
    # A signed ringing callback is acknowledged and queues nothing
    assert _callback(phonon_uuid, twilio, "ringing") == 200
    assert queued() == []
    # A signed completed callback ends the call
    assert _callback(phonon_uuid, twilio, "completed") == 200
    for message in queued():
        dialer_handler.handler(sqs_event([json.dumps(message)]), LambdaContext())
    view = call_view(phonon_uuid)
    assert (view["status"], view["attempts"][0]["legs"][0]["outcome"]) == (
        "COMPLETED",
        "ANSWERED",
    )
