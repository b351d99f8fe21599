"""The carrier adapters against fakes of their APIs on 127.0.0.1: what each sends, how each
answer is read, and the state lookups the reconciler relies on."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl

import pytest

from outdial.adapters.errors import AdapterError
from outdial.adapters.gateways import (
    Callback,
    CallbackRefused,
    ExotelGatewayAdapter,
    GatewayRateLimited,
    GatewayRefused,
    GatewayUnavailable,
    Leg,
    LegOutcome,
    OutcomeNotConfirmed,
    PlivoGatewayAdapter,
    TwilioGatewayAdapter,
)
from outdial.adapters.gateways.exotel import leg_token
from outdial.adapters.gateways.secrets import GatewaySecrets, SecretNotFound
from outdial.models.config import ExotelGateway, PlivoGateway, TwilioGateway
from tests.fakes import HttpPeer, Reply
from tests.fakes.carriers import FakeExotel, FakePlivo, FakeTwilio

PUBLIC = "https://outdial.example.test"


class Secrets(GatewaySecrets):
    """A gateway secret in memory (``None``: absent; an exception: unreadable)."""

    def __init__(self, values: dict[str, Any] | Exception | None) -> None:
        super().__init__(client=object())
        self._values = values

    def values(self, secret_id: str) -> dict[str, Any]:
        if self._values is None:
            raise SecretNotFound(f"secret {secret_id} not found")
        if isinstance(self._values, Exception):
            raise self._values
        return self._values


def leg(number: str = "+919812000010", ref: str | None = None) -> Leg:
    return Leg(
        leg_id="call-1-a1-n0",
        call_id="call-1",
        attempt=1,
        number_index=0,
        from_did="+918030000001",
        to_number=number,
        variables={"$flow.key.name": "Ravi Kumar", "$flow.key.order": "A&B"},
        ring_seconds=60,
        max_call_seconds=900,
        gateway_ref=ref,
    )


def twilio(url: str, secrets: Secrets | None = None, **extra: Any) -> TwilioGatewayAdapter:
    config = TwilioGateway.model_validate(
        {
            "gateway-id": "tw",
            "kind": "twilio",
            "account-sid": "AC1",
            "secret-id": "outdial/gateways/tw",
            "flow-url": "https://flows.example/twiml?v=2",
            "callback-base-url": PUBLIC,
            "api-base": url,
            "read-timeout": 0.5,
            **extra,
        }
    )
    return TwilioGatewayAdapter(config, secrets=secrets or Secrets({"auth-token": "tok"}))


# --- Twilio ---------------------------------------------------------------------------------


def test_twilio_places_a_call_with_the_legs_particulars() -> None:
    with FakeTwilio("AC1", "tok") as fake:
        # When a leg is placed
        sid = twilio(fake.url).place(leg())
        # Then one form POST carried it, and Twilio's sid is its reference
        (placement,) = fake.placements
        assert sid == placement.sid
        params = placement.params
        assert (params["To"], params["From"]) == ("+919812000010", "+918030000001")
        assert (params["Timeout"], params["TimeLimit"]) == ("60", "900")
        assert params["StatusCallbackEvent"] == "completed"
        assert params["StatusCallback"] == f"{PUBLIC}/gateway/events/tw?leg=call-1-a1-n0"
        flow, query = params["Url"].split("?")
        assert flow == "https://flows.example/twiml"
        assert parse_qsl(query) == [("v", "2"), ("key.name", "Ravi Kumar"), ("key.order", "A&B")]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply.json(400, {"code": 21211, "message": "Invalid To"}), GatewayRefused),
        (Reply.json(403, {"code": 21210, "message": "Caller id not verified"}), GatewayRefused),
        (Reply.json(429, {"code": 20429, "status": 429}), GatewayRateLimited),
        (Reply.json(503, {"message": "unavailable"}), GatewayUnavailable),
        (Reply.json(500, {"message": "oops"}), GatewayUnavailable),
        (Reply(200, delay=2), GatewayUnavailable),  # past the read timeout
        (Reply.drop(), GatewayUnavailable),
    ],
)
def test_twilio_answers_sort_the_leg_and_nothing_is_posted_twice(
    reply: Reply, error: type[Exception]
) -> None:
    with HttpPeer(default=reply) as peer:
        with pytest.raises(error):
            twilio(peer.url).place(leg())
        time.sleep(0.1)
        assert len(peer.requests) == 1


def test_a_rate_limit_says_how_long_to_wait() -> None:
    reply = Reply.json(429, {"code": 20429}, headers={"Retry-After": "7"})
    with HttpPeer(default=reply) as peer, pytest.raises(GatewayRateLimited) as limited:
        twilio(peer.url).place(leg())
    assert limited.value.retry_after == 7


def test_twilio_status_reads_the_call_back() -> None:
    with FakeTwilio("AC1", "tok", ring_seconds=0.05, talk_seconds=3) as fake:
        adapter = twilio(fake.url)
        answered = adapter.place(leg())
        busy = adapter.place(leg("+919812000017"))
        # While the calls ring, nothing is final
        assert adapter.status(leg(ref=answered)) is None
        time.sleep(3.3)
        event = adapter.status(leg(ref=answered))
        assert event is not None
        assert (event.outcome, event.duration_seconds) == (LegOutcome.ANSWERED, 3)
        busy_event = adapter.status(leg("+919812000017", ref=busy))
        assert busy_event is not None and busy_event.outcome is LegOutcome.BUSY
        # An unknown sid, or a leg never placed, says nothing
        assert adapter.status(leg(ref="CAnope")) is None
        assert adapter.status(leg()) is None


def test_without_credentials_nothing_is_sent() -> None:
    with HttpPeer() as peer:
        with pytest.raises(GatewayRefused):
            twilio(peer.url, secrets=Secrets(None)).place(leg())
        with pytest.raises(GatewayRefused):
            twilio(peer.url, secrets=Secrets({"token": "wrong field"})).place(leg())
        with pytest.raises(GatewayRateLimited):  # Secrets Manager unreachable: try later
            twilio(peer.url, secrets=Secrets(AdapterError("throttled"))).place(leg())
        assert peer.requests == []


# --- Plivo ----------------------------------------------------------------------------------


def plivo(url: str) -> PlivoGatewayAdapter:
    config = PlivoGateway.model_validate(
        {
            "gateway-id": "pl",
            "kind": "plivo",
            "auth-id": "MA1",
            "secret-id": "outdial/gateways/pl",
            "flow-url": "https://flows.example/answer",
            "callback-base-url": PUBLIC,
            "api-base": url,
            "read-timeout": 0.5,
        }
    )
    return PlivoGatewayAdapter(config, secrets=Secrets({"auth-token": "tok"}))


def test_plivo_places_a_call_as_json_and_reads_its_record() -> None:
    with FakePlivo("MA1", "tok", ring_seconds=0.05, talk_seconds=0) as fake:
        adapter = plivo(fake.url)
        ref = adapter.place(leg("+919812000018"))
        (placement,) = fake.placements
        assert placement.params == {
            "from": "918030000001",
            "to": "919812000018",
            "answer_url": "https://flows.example/answer?key.name=Ravi+Kumar&key.order=A%26B",
            "answer_method": "POST",
            "ring_timeout": 60,
            "time_limit": 900,
            "hangup_url": f"{PUBLIC}/gateway/events/pl?leg=call-1-a1-n0",
            "hangup_method": "POST",
        }
        time.sleep(0.3)
        event = adapter.status(leg(ref=ref))
        assert event is not None and event.outcome is LegOutcome.NO_ANSWER


def test_plivo_refusals_and_limits() -> None:
    for reply, error in (
        (Reply.json(400, {"error": "invalid"}), GatewayRefused),
        (Reply.json(429, {"error": "too many"}), GatewayRateLimited),
        (Reply.json(502, {}), GatewayUnavailable),
    ):
        with HttpPeer(default=reply) as peer, pytest.raises(error):
            plivo(peer.url).place(leg())


# --- Exotel ---------------------------------------------------------------------------------

EXOTEL_SECRET = {"api-key": "key", "api-token": "token", "event-secret": "s" * 40}


def exotel(url: str) -> ExotelGatewayAdapter:
    config = ExotelGateway.model_validate(
        {
            "gateway-id": "ex",
            "kind": "exotel",
            "account-sid": "exo-account",
            "secret-id": "outdial/gateways/ex",
            "flow-url": "http://my.exotel.com/exo-account/exoml/start_voice/1",
            "callback-base-url": PUBLIC,
            "api-base": url,
        }
    )
    return ExotelGatewayAdapter(config, secrets=Secrets(EXOTEL_SECRET))


def callback(params: dict[str, str], token: str | None) -> Callback:
    query = {"leg": ["call-1-a1-n0"]} | ({"token": [token]} if token else {})
    return Callback(
        query=query,
        headers={"content-type": "application/json"},
        body=json.dumps(params).encode(),
        content_type="application/json",
    )


def test_exotel_places_with_the_keys_in_custom_field() -> None:
    with FakeExotel("key", "token") as fake:
        sid = exotel(fake.url).place(leg())
        (placement,) = fake.placements
        assert sid == placement.sid
        assert placement.params["From"] == "+919812000010"
        assert placement.params["CallerId"] == "+918030000001"
        assert placement.params["CallType"] == "trans"
        assert json.loads(placement.params["CustomField"]) == {"name": "Ravi Kumar", "order": "A&B"}
        token = leg_token(EXOTEL_SECRET["event-secret"], "call-1-a1-n0")
        assert placement.params["StatusCallback"] == (
            f"{PUBLIC}/gateway/events/ex?leg=call-1-a1-n0&token={token}"
        )


def test_exotel_trusts_its_lookup_not_the_callback() -> None:
    token = leg_token(EXOTEL_SECRET["event-secret"], "call-1-a1-n0")
    with FakeExotel("key", "token", ring_seconds=30) as fake:
        adapter = exotel(fake.url)
        sid = adapter.place(leg())
        assert sid is not None
        says_completed = {"CallSid": sid, "Status": "completed"}
        # A wrong token, or a call that is not the leg's, is refused outright
        with pytest.raises(CallbackRefused):
            adapter.receive(callback(says_completed, "0" * 64), sid)
        with pytest.raises(CallbackRefused):
            adapter.receive(callback(says_completed, None), sid)
        with pytest.raises(CallbackRefused):
            adapter.receive(callback({**says_completed, "CallSid": "other"}, token), sid)
        # A final callback for a call Exotel says is still ringing is not believed (yet)
        with pytest.raises(OutcomeNotConfirmed):
            adapter.receive(callback(says_completed, token), sid)
        # A non-final one is just acknowledged
        assert adapter.receive(callback({"CallSid": sid, "Status": "ringing"}, token), sid) is None
        # Once Exotel's record shows the call ended, its record decides, not the callback
        fake.calls[sid].status, fake.calls[sid].duration = "busy", None
        event = adapter.receive(callback(says_completed, token), sid)
        assert event is not None and event.outcome is LegOutcome.BUSY


def test_exotel_duration_stands_in_until_its_record_fills_in() -> None:
    token = leg_token(EXOTEL_SECRET["event-secret"], "call-1-a1-n0")
    with FakeExotel("key", "token", ring_seconds=30) as fake:
        adapter = exotel(fake.url)
        sid = adapter.place(leg())
        assert sid is not None
        fake.calls[sid].status, fake.calls[sid].duration = "completed", None
        params = {"CallSid": sid, "Status": "completed", "ConversationDuration": "42"}
        event = adapter.receive(callback(params, token), sid)
        assert event is not None
        assert (event.outcome, event.duration_seconds) == (LegOutcome.ANSWERED, 42)
