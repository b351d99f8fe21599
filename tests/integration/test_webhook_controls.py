"""Webhooks a developer trusts (SPEC §10), on moto with a receiver on 127.0.0.1: rotating
signing secrets (CLI), Standard Webhooks headers verified with the ``standardwebhooks`` library,
``event-type`` and opt-in ``leg.ended`` events, replay through the API, and DLQ redrive."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from outdial import cli
from outdial.adapters import aws
from outdial.adapters.gateways.secrets import FlowSecrets, shared_flow_secrets
from outdial.adapters.webhook_client import WebhookClient
from outdial.adapters.webhook_secrets import AccountSecrets, secret_key, shared_account_secrets
from outdial.handlers import webhooks
from outdial.logic.notify import NotifyServices
from outdial.settings import get_settings
from outdial.signatures import InvalidSignature, verify
from tests.clock import Clock
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
from tests.fakes import HttpPeer, Recorded, Reply
from tests.integration.dialing import Harness
from tests.integration.webhook_queue import (
    DEADLINE,
    completed_call,
    dlq,
    enqueue,
    event_of,
    handle,
    receive,
)

pytestmark = pytest.mark.usefixtures("loopback_egress")


@pytest.fixture
def receiver() -> Iterator[HttpPeer]:
    with HttpPeer(default=Reply(204)) as peer:
        yield peer


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hooked(
    resources: Any,
    apply: Any,
    config_doc: dict[str, Any],
    receiver: HttpPeer,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """The test account's webhook-url is ``receiver``; fresh secret caches."""
    config_doc["accounts"][0]["webhook-url"] = receiver.url_for("/hook")
    shared_flow_secrets.cache_clear()
    shared_account_secrets.cache_clear()
    apply(config_doc)
    FlowSecrets().put(FLOW_ID, SECURITY_ID)
    made = webhooks.WebhookServices(
        notify=NotifyServices(
            client=WebhookClient(deadline_seconds=DEADLINE, connect_timeout=0.5),
            clock=clock,
            account_secrets=AccountSecrets(ttl_seconds=0),
        ),
        clock=clock,
    )
    monkeypatch.setattr(webhooks, "services", lambda: made)
    yield config_doc
    shared_flow_secrets.cache_clear()
    shared_account_secrets.cache_clear()


def rotate(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(["webhook-secret", "rotate", "acme", *args]) == 0
    out, err = capsys.readouterr()
    assert "shown once" in err
    return out.strip()


def deliver_one(receiver: HttpPeer) -> Recorded:
    item = completed_call()
    enqueue(item["phonon-uuid"])
    assert handle(event_of(receive())) == []
    return receiver.requests[-1]


def standard_headers(request: Recorded) -> dict[str, str]:
    return {
        name: request.header(name) or ""
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }


@pytest.mark.usefixtures("hooked")
class TestSigningSecrets:
    def test_rotate_prints_a_whsec_secret_once_and_stores_it(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        secret = rotate(capsys)
        assert secret.startswith("whsec_") and len(secret_key(secret)) == 32
        stored = json.loads(
            aws.client("secretsmanager").get_secret_value(SecretId="outdial/accounts/acme")[
                "SecretString"
            ]
        )
        assert [s["secret"] for s in stored["secrets"]] == [secret]
        # A second rotation makes another secret
        assert rotate(capsys) != secret

    def test_deliveries_verify_with_either_secret_during_the_overlap(
        self, capsys: pytest.CaptureFixture[str], receiver: HttpPeer, clock: Clock
    ) -> None:
        # Given an account rotated twice, the first secret kept for an hour
        old = rotate(capsys)
        new = rotate(capsys, "--keep-previous", "1h")
        # When a call's webhook is delivered
        request = deliver_one(receiver)
        # Then a Standard Webhooks receiver verifies it with either secret
        headers = standard_headers(request)
        assert headers["webhook-id"] == request.json()["event-id"]
        for secret in (old, new):
            assert Webhook(secret).verify(request.body, headers)["event-type"] == "call.ended"
        # And Outdial-Signature carries one v1 per secret, keyed by the secret's bytes
        signature = request.header("Outdial-Signature") or ""
        assert signature.count("v1=") == 2
        for secret in (old, new):
            verify(signature, secret_key(secret), request.body, int(time.time()))
        # And the flow's security-id no longer signs
        with pytest.raises(InvalidSignature):
            verify(signature, SECURITY_ID, request.body, int(time.time()))

        # When the overlap has passed
        clock.now = time.time() + 3601
        request = deliver_one(receiver)
        # Then only the new secret signs
        assert (request.header("Outdial-Signature") or "").count("v1=") == 1
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(request.body, standard_headers(request))

    def test_keep_previous_0_ends_the_old_secret_at_once(
        self, capsys: pytest.CaptureFixture[str], receiver: HttpPeer
    ) -> None:
        old = rotate(capsys)
        new = rotate(capsys, "--keep-previous", "0")
        request = deliver_one(receiver)
        assert Webhook(new).verify(request.body, standard_headers(request))
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(request.body, standard_headers(request))

    def test_an_account_without_secrets_keeps_the_security_id_scheme(
        self, receiver: HttpPeer
    ) -> None:
        request = deliver_one(receiver)
        verify(request.header("Outdial-Signature"), SECURITY_ID, request.body, int(time.time()))
        assert request.header("webhook-signature") is None

    def test_an_unknown_account_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert cli.main(["webhook-secret", "rotate", "nobody"]) == 1
        assert "no account 'nobody'" in capsys.readouterr().err

    def test_a_bad_overlap_is_a_usage_error(self) -> None:
        with pytest.raises(SystemExit) as exit_:
            cli.main(["webhook-secret", "rotate", "acme", "--keep-previous", "soon"])
        assert exit_.value.code == 2


class TestEventTypes:
    def _dial(
        self, harness: Harness, receiver: HttpPeer, numbers: list[str]
    ) -> list[dict[str, Any]]:
        _, body = invoke(
            api_event(
                "POST", "/outbound/create", create_body([call(**{"contact-numbers": numbers})])
            )
        )
        assert body["api-response-code"] == 200
        harness.settle()
        messages = receive()
        assert handle(event_of(messages)) == []
        return [r.json() for r in receiver.requests]

    def test_by_default_only_call_ended(
        self, hooked: dict[str, Any], receiver: HttpPeer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        harness = Harness().install(monkeypatch)
        events = self._dial(harness, receiver, ["9812345678", "9812345670"])
        assert [e["event-type"] for e in events] == ["call.ended"]

    def test_leg_ended_adds_one_event_per_leg_each_with_its_own_stable_id(
        self,
        hooked: dict[str, Any],
        apply: Any,
        receiver: HttpPeer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # Given an account that asks for leg.ended too
        hooked["accounts"][0]["webhook-events"] = ["call.ended", "leg.ended"]
        apply(hooked)
        harness = Harness().install(monkeypatch)
        # When a call's first number does not answer and its second does
        events = self._dial(harness, receiver, ["9812345678", "9812345670"])
        # Then two leg.ended events (one per leg, with the leg) and one call.ended
        legs = [e for e in events if e["event-type"] == "leg.ended"]
        ended = [e for e in events if e["event-type"] == "call.ended"]
        assert len(ended) == 1 and len(legs) == 2
        assert sorted(e["leg"]["number"] for e in legs) == ["+919812345670", "+919812345678"]
        assert {e["leg"]["outcome"] for e in legs} == {"NO_ANSWER", "ANSWERED"}
        assert len({e["event-id"] for e in events}) == 3
        for event in legs:
            assert event["event-id"] == f"{event['leg']['leg-id']}:leg.ended"
            assert event["phonon-uuid"] == ended[0]["phonon-uuid"]
        # And a repeated outcome (applied again, as the dialer does) sends no leg event again
        answer = harness.deliver(
            json.dumps(
                {
                    "gateway-id": "sim",
                    "event": {
                        "event-id": "again",
                        "leg-id": legs[0]["leg"]["leg-id"],
                        "outcome": legs[0]["leg"]["outcome"],
                        "started-at": legs[0]["leg"]["started-at"],
                        "ended-at": legs[0]["leg"]["ended-at"],
                        "duration-seconds": 0,
                    },
                }
            )
        )
        assert answer["batchItemFailures"] == []
        assert receive() == []

    def test_the_config_refuses_an_unknown_event_type(self, config_doc: dict[str, Any]) -> None:
        from outdial.logic.configure import ConfigInvalid, check_config

        config_doc["accounts"][0]["webhook-events"] = ["call.ended", "call.started"]
        with pytest.raises(ConfigInvalid):
            check_config(config_doc)


def replay(body: Any) -> tuple[int, dict[str, Any]]:
    return invoke(api_event("POST", "/outbound/webhooks/replay", body))


def replay_body(uuids: list[Any], **overrides: Any) -> dict[str, Any]:
    return {"security-id": SECURITY_ID, "flow-id": FLOW_ID, "phonon-uuids": uuids} | overrides


@pytest.mark.usefixtures("hooked")
class TestReplay:
    def test_ended_calls_are_queued_again_with_their_event_id(self, receiver: HttpPeer) -> None:
        # Given a call delivered once, a call still waiting and another flow's ended call
        ended = completed_call()
        first_id = enqueue(ended["phonon-uuid"])
        handle(event_of(receive()))
        _, accepted = invoke(api_event("POST", "/outbound/create", create_body()))
        waiting = accepted["call-details"][0]["phonon-uuid"]
        receive()  # (the dial queue is another queue; nothing else is on the webhook queue)
        # When all three are replayed
        status, body = replay_body_of([ended["phonon-uuid"], waiting, "unknown"])
        # Then only the ended one is queued, answered 202 with code 200
        assert (status, body) == (
            202,
            {"api-response-code": 200, "api-response-message": "Success", "queued": 1},
        )
        assert handle(event_of(receive())) == []
        first, again = receiver.requests
        assert again.json()["event-id"] == first.json()["event-id"] == first_id
        assert again.body == first.body

    def test_none_ended_is_213(self) -> None:
        _, accepted = invoke(api_event("POST", "/outbound/create", create_body()))
        status, body = replay_body_of([accepted["call-details"][0]["phonon-uuid"]])
        assert (status, body["api-response-code"]) == (404, 213)

    def test_another_flows_calls_are_not_replayed(self) -> None:
        ended = completed_call()
        status, body = replay(
            replay_body(
                [ended["phonon-uuid"]],
                **{"flow-id": OTHER_FLOW_ID, "security-id": OTHER_SECURITY_ID},
            )
        )
        assert (status, body["api-response-code"]) == (404, 213)
        assert receive() == []

    @pytest.mark.parametrize(
        ("body", "http", "code"),
        [
            (b"not json", 400, 400),
            (replay_body([], **{"phonon-uuids": "x"}), 400, 400),
            (replay_body(["x"], **{"flow-id": None}), 400, 210),
            (replay_body(["x"], **{"security-id": "y" * 64}), 401, 202),
            (replay_body(["x"], **{"flow-id": "Nope1234"}), 404, 301),
            (replay_body([]), 400, 302),
            (replay_body([f"u{i}" for i in range(501)]), 400, 303),
        ],
    )
    def test_the_body_is_checked_like_pull(self, body: Any, http: int, code: int) -> None:
        event = (
            api_event("POST", "/outbound/webhooks/replay", raw=body)
            if isinstance(body, bytes)
            else api_event("POST", "/outbound/webhooks/replay", body)
        )
        status, answer = invoke(event)
        assert (status, answer["api-response-code"]) == (http, code)


def replay_body_of(uuids: list[Any]) -> tuple[int, dict[str, Any]]:
    return replay(replay_body(uuids))


class TestRedrive:
    def test_moves_every_dead_lettered_event_back_to_delivery(
        self, hooked: dict[str, Any], receiver: HttpPeer, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Given 12 events the receiver refused, now on the webhook DLQ
        receiver.default = Reply(400)
        items = [completed_call() for _ in range(12)]
        for item in items:
            enqueue(item["phonon-uuid"])
        while messages := receive():
            handle(event_of(messages))
        assert _count(get_settings().webhook_dlq_url) == 12
        # When the receiver is fixed and the operator redrives
        receiver.default = Reply(204)
        capsys.readouterr()
        assert cli.main(["webhooks", "redrive"]) == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"moved": 12}
        # Then the DLQ is empty and every event is delivered
        assert dlq() == []
        while messages := receive():
            assert handle(event_of(messages)) == []
        delivered = {r.json()["phonon-uuid"] for r in receiver.requests if r.json()}
        assert delivered == {item["phonon-uuid"] for item in items}


def _count(url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])
