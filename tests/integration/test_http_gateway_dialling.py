"""The http gateway kind, end to end on moto: legs POSTed to a gateway on 127.0.0.1, outcomes
posted back to ``POST /gateway/events/{gateway-id}`` with an HMAC signature."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.call_repository import DynamoCallRepository
from outdial.adapters.dial_queue import dial_message
from outdial.adapters.gateways.secrets import shared_gateway_secrets
from outdial.handlers import dialer as dialer_handler
from outdial.local.apigateway import LambdaContext
from outdial.logic.dial import Dialer
from outdial.logic.placing import leg_id_of
from outdial.logic.reconcile import reconcile
from outdial.models.legs import LegState
from outdial.settings import get_settings
from outdial.signatures import GATEWAY_SIGNATURE_HEADER, sign
from tests import factories
from tests.conftest import (
    FLOW_ID,
    OTHER_FLOW_ID,
    OTHER_SECURITY_ID,
    SECURITY_ID,
    api_event,
    call,
    create_body,
    invoke,
    sqs_event,
)
from tests.fakes import HttpPeer, Reply

EVENT_SECRET = "gw-event-secret-0123456789abcdefghij"  # at least 32 characters
DIALER_TIMEOUT = 150.0  # the stack's: one leg against a gateway that keeps failing fits

pytestmark = pytest.mark.usefixtures("loopback_egress")
HEADERS = {"x-flow-id": FLOW_ID, "x-security-id": SECURITY_ID}


@pytest.fixture
def gateway(
    resources: Any, config_doc: dict[str, Any], apply: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HttpPeer]:
    """A fake telephony gateway on 127.0.0.1 and a flow that dials through it."""
    aws.client("secretsmanager").create_secret(
        Name="outdial/gateways/acme-gw",
        SecretString=json.dumps({"token": "tok-1", "event-secret": EVENT_SECRET}),
    )
    with HttpPeer(default=Reply.json(201, {"status": "accepted"})) as peer:
        config_doc["gateways"].append(
            {
                "gateway-id": "acme-gw",
                "kind": "http",
                "url": peer.url_for("/v1/legs"),
                "secret-id": "outdial/gateways/acme-gw",
                "connect-timeout": 1,
                "read-timeout": 1,
            }
        )
        config_doc["flows"][0]["gateway-id"] = "acme-gw"
        config_doc["flows"][0]["max-attempts"] = 1
        apply(config_doc)
        monkeypatch.setattr(dialer_handler, "dialer", lambda: Dialer())
        yield peer


def accept(*numbers: str) -> str:
    body = create_body([call(**{"contact-numbers": list(numbers)})])
    status, answer = invoke(api_event("POST", "/outbound/create", body))
    assert status == 200, answer
    return str(answer["call-details"][0]["phonon-uuid"])


def dial(phonon_uuid: str) -> None:
    response = dialer_handler.handler(
        sqs_event([dial_message([phonon_uuid])]), LambdaContext(timeout_seconds=DIALER_TIMEOUT)
    )
    assert response["batchItemFailures"] == []


def post_event(
    body: dict[str, Any], *, secret: str = EVENT_SECRET, at: int | None = None
) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode()
    signature = sign(secret, raw, at or int(time.time()))
    return invoke(
        api_event(
            "POST",
            "/gateway/events/acme-gw",
            raw=raw,
            headers={GATEWAY_SIGNATURE_HEADER: signature},
        )
    )


def pump_dial_queue() -> None:
    """Hand the dialer what waits on the dial queue (a message at a time) and on the outcome
    queue (ten at a time), as the stack's event sources do."""
    sqs, settings = aws.client("sqs"), get_settings()
    for url, batch in ((settings.outcome_queue_url, 10), (settings.dial_queue_url, 1)):
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for start in range(0, len(messages), batch):
                chunk = messages[start : start + batch]
                response = dialer_handler.handler(
                    sqs_event([m["Body"] for m in chunk]),
                    LambdaContext(timeout_seconds=DIALER_TIMEOUT),
                )
                assert response["batchItemFailures"] == []
                for message in chunk:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _visible(url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def call_view(phonon_uuid: str) -> dict[str, Any]:
    return invoke(api_event("GET", f"/outbound/calls/{phonon_uuid}", headers=HEADERS))[1]["call"]  # type: ignore[no-any-return]


def event_for(leg_id: str, outcome: str, duration: int = 0) -> dict[str, Any]:
    return {
        "event-id": f"ev-{leg_id}-{outcome}",
        "leg-id": leg_id,
        "outcome": outcome,
        "duration-seconds": duration,
        "started-at": "2026-12-01T05:00:00Z",
        "ended-at": "2026-12-01T05:00:30Z",
    }


def test_leg_is_posted_with_token_and_idempotency_key(gateway: HttpPeer) -> None:
    phonon_uuid = accept("9812345670")
    dial(phonon_uuid)
    (request,) = gateway.requests
    leg_id = f"{phonon_uuid}-a1-n0"
    assert request.header("Idempotency-Key") == leg_id
    assert request.header("Authorization") == "Bearer tok-1"
    assert request.json()["to"] == "+919812345670" and request.json()["from"] == "+918030000001"
    assert request.json()["variables"] == {"$flow.key.name": "Asha"}
    assert call_view(phonon_uuid)["status"] == "DIALING"


def test_signed_events_drive_the_call_to_its_end(gateway: HttpPeer) -> None:
    phonon_uuid = accept("9812345671", "9812345670")
    dial(phonon_uuid)
    settings = get_settings()
    dial_queue_depth = _visible(settings.dial_queue_url)
    # When the gateway reports the first leg unanswered and the second answered
    assert post_event(event_for(f"{phonon_uuid}-a1-n0", "NO_ANSWER"))[0] == 200
    # Then the event waits on the outcome queue, not on the dial queue
    assert settings.outcome_queue_url != settings.dial_queue_url
    assert _visible(settings.dial_queue_url) == dial_queue_depth
    assert _visible(settings.outcome_queue_url) == 1
    pump_dial_queue()
    assert [r.header("Idempotency-Key") for r in gateway.requests] == [
        f"{phonon_uuid}-a1-n0",
        f"{phonon_uuid}-a1-n1",
    ]
    assert post_event(event_for(f"{phonon_uuid}-a1-n1", "ANSWERED", 42))[0] == 200
    # And the same event again
    assert post_event(event_for(f"{phonon_uuid}-a1-n1", "ANSWERED", 42))[0] == 200
    pump_dial_queue()
    view = call_view(phonon_uuid)
    assert (view["status"], view["connected-number"], view["duration-seconds"]) == (
        "COMPLETED",
        "+919812345670",
        42,
    )
    assert len(gateway.requests) == 2


@pytest.mark.parametrize("secret,age,code", [("wrong-secret", 0, 202), (EVENT_SECRET, 3600, 202)])
def test_bad_or_stale_signatures_are_refused(
    gateway: HttpPeer, secret: str, age: int, code: int
) -> None:
    status, body = post_event(
        event_for("x-a1-n0", "BUSY"), secret=secret, at=int(time.time()) - age
    )
    assert (status, body["api-response-code"]) == (401, code)


def test_an_event_for_a_leg_another_gateway_placed_is_refused(gateway: HttpPeer) -> None:
    # Given a call whose leg was claimed through another gateway
    phonon_uuid = accept("9812345670")
    repository = DynamoCallRepository()
    call = repository.store.get_call(phonon_uuid)
    assert call is not None
    repository.store.put_items([factories.leg(call, gateway_id="other-gw")])
    leg_id = leg_id_of(phonon_uuid, 1, 0)
    # When this gateway, signing with its own secret, says the leg was answered
    status, body = post_event(event_for(leg_id, "ANSWERED", 42))
    # Then it is answered as a bad signature is, and nothing reaches the dialer
    assert (status, body["api-response-code"]) == (401, 202)
    sqs = aws.client("sqs")
    queued = sqs.receive_message(QueueUrl=get_settings().dial_queue_url, MaxNumberOfMessages=10)
    assert [json.loads(m["Body"]).get("event") for m in queued["Messages"]] == [None]
    assert _visible(get_settings().outcome_queue_url) == 0
    assert call_view(phonon_uuid)["status"] == "DIALING"
    still = repository.get_leg(leg_id)
    assert still is not None and still.state is LegState.CLAIMED


@pytest.mark.parametrize("gateway_id", ["nope", "sim", "x" * 3000, "%ED%A0%80"])
def test_an_unknown_gateway_gets_the_answer_of_a_bad_signature(
    gateway: HttpPeer, gateway_id: str
) -> None:
    # Given a gateway id that is not an enabled http gateway (unknown, simulator, absurd)
    event = event_for("x-a1-n0", "BUSY")
    raw = json.dumps(event).encode()
    headers = {GATEWAY_SIGNATURE_HEADER: sign(EVENT_SECRET, raw, int(time.time()))}
    # When an event is posted to it, signed even with a real gateway's secret
    unknown = invoke(api_event("POST", f"/gateway/events/{gateway_id}", raw=raw, headers=headers))
    # Then it gets exactly what a bad signature on a real gateway gets: ids cannot be enumerated
    bad = post_event(event, secret="wrong-secret-0123456789abcdefghijk")
    assert unknown == bad
    assert (bad[0], bad[1]["api-response-code"]) == (401, 202)


def test_a_short_event_secret_authenticates_nothing(gateway: HttpPeer) -> None:
    # Given the gateway's event-secret was set to the empty string (or anything under 32)
    aws.client("secretsmanager").put_secret_value(
        SecretId="outdial/gateways/acme-gw",
        SecretString=json.dumps({"token": "tok-1", "event-secret": ""}),
    )
    shared_gateway_secrets.cache_clear()
    phonon_uuid = accept("9812345670")
    dial(phonon_uuid)
    # When an event signed with the empty key says the call was answered for an hour
    status, body = post_event(
        event_for(f"{phonon_uuid}-a1-n0", "ANSWERED", duration=3600), secret=""
    )
    # Then it is refused like any bad signature, and nothing is settled
    assert (status, body["api-response-code"]) == (401, 202)
    pump_dial_queue()
    assert call_view(phonon_uuid)["status"] == "DIALING"


def test_gateway_down_leaves_placement_unknown_until_the_deadline(gateway: HttpPeer) -> None:
    from outdial.adapters.config_store import ConfigStore

    # Given a gateway answering 503 to every request, and a call with two numbers
    gateway.default = Reply.json(503, {"error": "overloaded"})
    phonon_uuid = accept("9812345670", "9812345671")
    dial(phonon_uuid)
    # Then the adapter retried (several requests, one idempotency key) and gave up
    keys = {r.header("Idempotency-Key") for r in gateway.requests}
    assert len(gateway.requests) > 1 and keys == {f"{phonon_uuid}-a1-n0"}
    # And the leg may have been placed: the call waits, the next number is not dialled
    assert call_view(phonon_uuid)["status"] == "DIALING"
    dial(phonon_uuid)  # a redelivery places nothing again
    assert {r.header("Idempotency-Key") for r in gateway.requests} == keys
    assert ConfigStore().get_balance("acme") == 999
    # When its deadline passes and the gateway cannot say how the leg went
    requests = len(gateway.requests)
    reconcile(datetime.now(UTC) + timedelta(hours=2), Dialer())
    # Then it asked (one GET on the leg), the leg is UNKNOWN, the call FAILED 206, refunded
    assert [r.method for r in gateway.requests[requests:]] == ["GET"]
    view = call_view(phonon_uuid)
    assert (view["status"], view["error-code"]) == ("FAILED", 206)
    assert [leg["outcome"] for leg in view["attempts"][0]["legs"]] == ["UNKNOWN"]
    assert ConfigStore().get_balance("acme") == 1000


def test_a_late_outcome_of_an_unknown_placement_is_applied(gateway: HttpPeer) -> None:
    # Given a leg whose placing request timed out (503s) on a call with two numbers
    gateway.default = Reply.json(503, {"error": "overloaded"})
    phonon_uuid = accept("9812345670", "9812345671")
    dial(phonon_uuid)
    # When the gateway reports it answered after all
    assert post_event(event_for(f"{phonon_uuid}-a1-n0", "ANSWERED", 30))[0] == 200
    pump_dial_queue()
    # Then the call completed on that number; the second number was never dialled
    view = call_view(phonon_uuid)
    assert (view["status"], view["connected-number"]) == ("COMPLETED", "+919812345670")
    assert {r.header("Idempotency-Key") for r in gateway.requests} == {f"{phonon_uuid}-a1-n0"}


def test_an_overdue_leg_takes_the_outcome_the_gateway_tells(gateway: HttpPeer) -> None:
    # Given a placed leg whose event never came
    phonon_uuid = accept("9812345670")
    dial(phonon_uuid)
    leg_id = f"{phonon_uuid}-a1-n0"
    gateway.default = Reply.json(200, event_for(leg_id, "NO_ANSWER"))
    # When the reconciler finds it overdue, Then the gateway's answer ends it
    reconcile(datetime.now(UTC) + timedelta(hours=2), Dialer())
    view = call_view(phonon_uuid)
    assert view["status"] == "NOT_CONNECTED"
    assert [leg["outcome"] for leg in view["attempts"][0]["legs"]] == ["NO_ANSWER"]


def test_an_event_from_another_gateway_is_refused(gateway: HttpPeer) -> None:
    # Given a leg placed through the simulator (the second flow's gateway)
    body = create_body([call()], **{"flow-id": OTHER_FLOW_ID, "security-id": OTHER_SECURITY_ID})
    status, answer = invoke(api_event("POST", "/outbound/create", body))
    assert status == 200, answer
    phonon_uuid = answer["call-details"][0]["phonon-uuid"]
    dial(phonon_uuid)
    # When an http gateway posts, correctly signed, an outcome for it
    status, body = post_event(event_for(f"{phonon_uuid}-a1-n0", "NO_ANSWER"))
    # Then it is refused as a bad signature would be, and the call is unchanged
    assert (status, body["api-response-code"]) == (401, 202)
    assert call_view_of(phonon_uuid)["status"] == "DIALING"


def call_view_of(phonon_uuid: str) -> dict[str, Any]:
    headers = {"x-flow-id": OTHER_FLOW_ID, "x-security-id": OTHER_SECURITY_ID}
    return invoke(api_event("GET", f"/outbound/calls/{phonon_uuid}", headers=headers))[1]["call"]  # type: ignore[no-any-return]


def test_gateway_refusal_is_not_retried(gateway: HttpPeer) -> None:
    gateway.default = Reply.json(400, {"error": "bad number"})
    phonon_uuid = accept("9812345670")
    dial(phonon_uuid)
    assert len(gateway.requests) == 1
    assert call_view(phonon_uuid)["status"] == "FAILED"
