"""The webhook client against a real receiver on 127.0.0.1 that verifies the signature."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from outdial.adapters.webhooks import Delivery, WebhookClient, classify
from outdial.signatures import InvalidSignature, sign, verify
from tests.fakes import HttpPeer, Recorded, Reply, xray_recording

SECURITY_ID = "S" * 32 + "e" * 32
BODY = json.dumps({"event-id": "evt-1", "phonon-uuid": "p-1", "status": "COMPLETED"}).encode()
DEADLINE = 0.5  # the client's wall-clock limit per delivery, shortened for the tests

pytestmark = pytest.mark.usefixtures("loopback_egress")


def verifying_receiver(request: Recorded) -> Reply:
    """A customer's receiver done right: 401 unless the signature verifies."""
    try:
        verify(request.header("Outdial-Signature"), SECURITY_ID, request.body, int(time.time()))
    except InvalidSignature:
        return Reply(401)
    return Reply(204)


@pytest.fixture
def receiver() -> Iterator[HttpPeer]:
    with HttpPeer(responder=verifying_receiver) as peer:
        yield peer


@pytest.fixture
def client() -> WebhookClient:
    return WebhookClient(deadline_seconds=DEADLINE, connect_timeout=1.0)


def signature(body: bytes = BODY, secret: str = SECURITY_ID) -> str:
    return sign(secret, body, int(time.time()))


class TestDelivered:
    def test_a_signed_body_is_delivered_and_verifies(
        self, client: WebhookClient, receiver: HttpPeer
    ) -> None:
        # Given a receiver that verifies signatures / When a signed body is delivered
        outcome = client.deliver(receiver.url_for("/hook"), BODY, signature(), "evt-1")
        # Then it is accepted, body byte for byte, with our headers
        assert outcome is Delivery.DELIVERED
        [request] = receiver.requests
        assert (request.method, request.path, request.body) == ("POST", "/hook", BODY)
        assert request.header("Content-Type") == "application/json"
        assert request.header("Outdial-Event-Id") == "evt-1"
        assert request.header("User-Agent") == "outdial-webhooks/1.0"

    def test_a_wrong_signature_is_rejected_by_the_receiver(
        self, client: WebhookClient, receiver: HttpPeer
    ) -> None:
        outcome = client.deliver(receiver.url, BODY, signature(secret="wrong"), "evt-1")
        assert outcome is Delivery.REJECTED

    def test_consecutive_deliveries_each_arrive(
        self, client: WebhookClient, receiver: HttpPeer
    ) -> None:
        receiver.responder = None
        receiver.default = Reply(200, body=b"x" * 200_000)  # a chatty receiver
        for n in range(3):
            assert client.deliver(receiver.url, BODY, signature(), f"e{n}") is Delivery.DELIVERED
        assert len(receiver.requests) == 3


class TestClassified:
    @pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
    def test_transient_statuses_retry(
        self, client: WebhookClient, receiver: HttpPeer, status: int
    ) -> None:
        receiver.enqueue(Reply(status))
        assert client.deliver(receiver.url, BODY, signature(), "evt-1") is Delivery.RETRY
        assert len(receiver.requests) == 1  # no retry loop inside: the queue retries

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
    def test_other_4xx_are_rejected(
        self, client: WebhookClient, receiver: HttpPeer, status: int
    ) -> None:
        receiver.enqueue(Reply(status))
        assert client.deliver(receiver.url, BODY, signature(), "evt-1") is Delivery.REJECTED

    def test_a_redirect_is_not_followed(self, client: WebhookClient, receiver: HttpPeer) -> None:
        receiver.enqueue(Reply(308, headers={"Location": receiver.url_for("/other")}))
        assert client.deliver(receiver.url, BODY, signature(), "evt-1") is Delivery.REJECTED
        assert len(receiver.requests) == 1

    def test_a_slow_receiver_times_out_for_a_retry(
        self, client: WebhookClient, receiver: HttpPeer
    ) -> None:
        # Given a receiver slower than the read timeout
        receiver.enqueue(Reply(204, delay=3.0))
        # When delivering / Then the attempt ends at the timeout and asks for a retry
        started = time.monotonic()
        assert client.deliver(receiver.url, BODY, signature(), "evt-1") is Delivery.RETRY
        assert time.monotonic() - started < 2.0

    def test_a_dropped_connection_retries(self, client: WebhookClient, receiver: HttpPeer) -> None:
        receiver.enqueue(Reply.drop())
        assert client.deliver(receiver.url, BODY, signature(), "evt-1") is Delivery.RETRY

    def test_nobody_listening_retries(self, client: WebhookClient) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}/hook"
        assert client.deliver(url, BODY, signature(), "evt-1") is Delivery.RETRY

    @pytest.mark.parametrize(
        "url", ["not a url", "ftp://127.0.0.1/hook", "http://", "http://169.254.169.254/hook"]
    )
    def test_an_unusable_url_is_rejected(self, client: WebhookClient, url: str) -> None:
        assert client.deliver(url, BODY, signature(), "evt-1") is Delivery.REJECTED

    @pytest.mark.parametrize(
        ("status", "expected"),
        [
            (200, Delivery.DELIVERED),
            (299, Delivery.DELIVERED),
            (301, Delivery.REJECTED),
            (404, Delivery.REJECTED),
            (408, Delivery.RETRY),
            (429, Delivery.RETRY),
            (500, Delivery.RETRY),
            (599, Delivery.RETRY),
            (100, Delivery.REJECTED),
        ],
    )
    def test_classify(self, status: int, expected: Delivery) -> None:
        assert classify(status) is expected


class TestTracing:
    def test_a_subsegment_wraps_the_delivery(
        self, client: WebhookClient, receiver: HttpPeer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with xray_recording(monkeypatch) as recorder:
            segment = recorder.begin_segment("webhooks")
            assert client.deliver(receiver.url, BODY, signature(), "evt-1") is Delivery.DELIVERED
            [subsegment] = [s for s in segment.subsegments if s.name == "## webhook.deliver"]
            assert subsegment.annotations == {"event_id": "evt-1"}

    def test_tracing_on_without_a_segment_is_harmless(
        self, client: WebhookClient, receiver: HttpPeer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with xray_recording(monkeypatch):
            assert client.deliver(receiver.url, BODY, signature(), "evt-1") is Delivery.DELIVERED
