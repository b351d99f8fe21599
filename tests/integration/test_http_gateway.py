"""The http gateway adapter against a real HTTP server on 127.0.0.1 playing the gateway.

Exactly once from the adapter's side: one idempotency key per leg across every retry, retries
only where a retry can help, and a bearer token read from Secrets Manager (moto).
"""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.gateways.base import GatewayRefused, GatewayUnavailable, Leg
from outdial.adapters.gateways.http import HttpGatewayAdapter, RetryPolicy, retry_after_seconds
from outdial.adapters.gateways.secrets import GatewaySecrets
from outdial.models.config import HttpGateway
from outdial.observability import logger
from tests.fakes import HttpPeer, Recorded, Reply, mocked_aws, xray_recording

SECRET_ID = "outdial/gateways/gw"
TOKEN = "tok-123"
READ_TIMEOUT = 0.3

pytestmark = pytest.mark.usefixtures("loopback_egress")


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewaySecrets]:
    """Secrets Manager (moto) holding the gateway's credentials."""
    with mocked_aws(monkeypatch):
        aws.client("secretsmanager").create_secret(
            Name=SECRET_ID, SecretString=json.dumps({"token": TOKEN, "event-secret": "evs"})
        )
        yield GatewaySecrets()


@pytest.fixture
def peer() -> Iterator[HttpPeer]:
    with HttpPeer(default=Reply.json(201, {"status": "accepted"})) as server:
        yield server


class Sleeps:
    """Records the backoff delays instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The service's log lines, as Powertools formats them (JSON with every key)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(handler)
    yield stream
    logging.getLogger(logger.name).removeHandler(handler)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_adapter(
    url: str, secrets: GatewaySecrets, sleeps: Sleeps, **retry: Any
) -> HttpGatewayAdapter:
    config = HttpGateway(
        gateway_id="gw",
        kind="http",
        url=url,
        secret_id=SECRET_ID,
        connect_timeout=1,
        read_timeout=READ_TIMEOUT,
    )
    return HttpGatewayAdapter(
        config,
        secrets=secrets,
        sleep=sleeps,
        retry=RetryPolicy(**retry),
        rng=lambda: 1.0,  # the top of the jitter range: delays are predictable
    )


@pytest.fixture
def adapter(peer: HttpPeer, secrets: GatewaySecrets, sleeps: Sleeps) -> HttpGatewayAdapter:
    return make_adapter(peer.url_for("/v1/legs"), secrets, sleeps)


LEG = Leg(
    leg_id="c46e46f4#1#0",
    call_id="c46e46f4",
    attempt=1,
    number_index=0,
    from_did="+918030000001",
    to_number="+919812345670",
    variables={"$flow.key.name": "Asha"},
    ring_seconds=25,
    callback_url="https://api.example/gateway/events/gw",
)


def idempotency_keys(requests: list[Recorded]) -> set[str | None]:
    return {r.header("Idempotency-Key") for r in requests}


class TestAccepted:
    def test_one_request_with_the_leg(self, adapter: HttpGatewayAdapter, peer: HttpPeer) -> None:
        # Given a gateway that accepts legs / When a leg is placed
        adapter.place(LEG)
        # Then exactly one request carries it, authenticated and keyed by the leg id
        [request] = peer.requests
        assert (request.method, request.path) == ("POST", "/v1/legs")
        assert request.header("Authorization") == f"Bearer {TOKEN}"
        assert request.header("Idempotency-Key") == LEG.leg_id
        assert request.header("Content-Type") == "application/json"
        assert request.json() == {
            "leg-id": LEG.leg_id,
            "from": "+918030000001",
            "to": "+919812345670",
            "variables": {"$flow.key.name": "Asha"},
            "ring-timeout": 25,
            "callback-url": "https://api.example/gateway/events/gw",
        }

    @pytest.mark.parametrize("status", [200, 201, 202, 204])
    def test_any_2xx_is_accepted(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer, sleeps: Sleeps, status: int
    ) -> None:
        peer.enqueue(Reply(status))
        adapter.place(LEG)
        assert len(peer.requests) == 1
        assert sleeps.delays == []

    def test_connections_are_reused_across_legs(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer
    ) -> None:
        for index in range(3):
            adapter.place(Leg(**{**LEG.__dict__, "leg_id": f"c#1#{index}"}))
        assert [r.header("Idempotency-Key") for r in peer.requests] == ["c#1#0", "c#1#1", "c#1#2"]

    def test_the_token_is_cached(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer, secrets: GatewaySecrets
    ) -> None:
        # Given a leg placed (the token read once)
        adapter.place(LEG)
        # When the secret disappears and another leg is placed
        aws.client("secretsmanager").delete_secret(
            SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True
        )
        adapter.place(LEG)
        # Then the cached token still serves
        assert [r.header("Authorization") for r in peer.requests] == [f"Bearer {TOKEN}"] * 2


class TestRetried:
    @pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 409, 429])
    def test_transient_status_then_accepted(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer, sleeps: Sleeps, status: int
    ) -> None:
        # Given a gateway failing twice before accepting
        peer.enqueue(Reply(status), Reply(status))
        # When a leg is placed
        adapter.place(LEG)
        # Then it took three requests, every one with the same key and body
        requests = peer.requests
        assert len(requests) == 3
        assert idempotency_keys(requests) == {LEG.leg_id}
        assert len({r.body for r in requests}) == 1
        # ...after exponential backoff (jitter at its top here)
        assert sleeps.delays == [0.25, 0.5]

    def test_exhausted_is_unavailable(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer, sleeps: Sleeps
    ) -> None:
        # Given a gateway that keeps failing
        peer.default = Reply(503)
        # When a leg is placed / Then after max-attempts requests the gateway is unavailable
        with pytest.raises(GatewayUnavailable, match="4 attempts"):
            adapter.place(LEG)
        assert len(peer.requests) == 4
        assert idempotency_keys(peer.requests) == {LEG.leg_id}
        assert sleeps.delays == [0.25, 0.5, 1.0]

    def test_max_attempts_is_configurable(
        self, peer: HttpPeer, secrets: GatewaySecrets, sleeps: Sleeps
    ) -> None:
        peer.default = Reply(500)
        adapter = make_adapter(peer.url, secrets, sleeps, max_attempts=2)
        with pytest.raises(GatewayUnavailable):
            adapter.place(LEG)
        assert len(peer.requests) == 2

    def test_backoff_is_capped(
        self, peer: HttpPeer, secrets: GatewaySecrets, sleeps: Sleeps
    ) -> None:
        peer.default = Reply(500)
        adapter = make_adapter(peer.url, secrets, sleeps, max_attempts=6, max_delay=1.0)
        with pytest.raises(GatewayUnavailable):
            adapter.place(LEG)
        assert sleeps.delays == [0.25, 0.5, 1.0, 1.0, 1.0]

    def test_retry_after_is_honoured(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer, sleeps: Sleeps
    ) -> None:
        # Given a 429 asking to come back in 3 s
        peer.enqueue(Reply(429, headers={"Retry-After": "3"}))
        adapter.place(LEG)
        # Then the adapter waited 3 s (more than its own backoff) before the second request
        assert len(peer.requests) == 2
        assert sleeps.delays == [3.0]

    def test_retry_after_is_capped(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer, sleeps: Sleeps
    ) -> None:
        peer.enqueue(Reply(503, headers={"Retry-After": "3600"}))
        adapter.place(LEG)
        assert sleeps.delays == [10.0]

    def test_a_hung_gateway_is_retried_with_the_same_key(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer
    ) -> None:
        # Given a gateway that hangs past the read timeout once (it may have taken the leg)
        peer.enqueue(Reply(201, delay=READ_TIMEOUT * 10))
        # When the leg is placed
        adapter.place(LEG)
        # Then the retry carries the same idempotency key, so the gateway dials it once
        assert len(peer.requests) == 2
        assert idempotency_keys(peer.requests) == {LEG.leg_id}

    def test_a_gateway_that_always_hangs_is_unavailable(
        self, peer: HttpPeer, secrets: GatewaySecrets, sleeps: Sleeps
    ) -> None:
        peer.default = Reply(201, delay=READ_TIMEOUT * 10)
        adapter = make_adapter(peer.url, secrets, sleeps, max_attempts=2)
        with pytest.raises(GatewayUnavailable, match="ReadTimeoutError"):
            adapter.place(LEG)
        assert len(peer.requests) == 2

    def test_a_dropped_connection_is_retried(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer
    ) -> None:
        peer.enqueue(Reply.drop())
        adapter.place(LEG)
        assert len(peer.requests) == 2
        assert idempotency_keys(peer.requests) == {LEG.leg_id}

    def test_nobody_listening_is_unavailable(self, secrets: GatewaySecrets, sleeps: Sleeps) -> None:
        # Given a port nobody listens on
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        adapter = make_adapter(f"http://127.0.0.1:{port}/legs", secrets, sleeps)
        # When placing / Then every attempt fails to connect
        with pytest.raises(GatewayUnavailable, match="4 attempts"):
            adapter.place(LEG)
        assert len(sleeps.delays) == 3

    def test_a_rotated_token_is_picked_up_after_a_401(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer, sleeps: Sleeps
    ) -> None:
        # Given a leg placed with the cached token, then the token rotated at the gateway
        adapter.place(LEG)
        aws.client("secretsmanager").put_secret_value(
            SecretId=SECRET_ID, SecretString=json.dumps({"token": "tok-new", "event-secret": "e"})
        )
        peer.responder = lambda request: (
            Reply(201) if request.header("Authorization") == "Bearer tok-new" else Reply(401)
        )
        # When the next leg is placed
        adapter.place(LEG)
        # Then the 401 made the adapter re-read the secret and retry at once
        assert [r.header("Authorization") for r in peer.requests] == [
            f"Bearer {TOKEN}",
            f"Bearer {TOKEN}",
            "Bearer tok-new",
        ]
        assert sleeps.delays == [0.0]


class TestRefused:
    @pytest.mark.parametrize("status", [400, 403, 404, 413, 422])
    def test_4xx_is_refused_without_retry(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer, sleeps: Sleeps, status: int
    ) -> None:
        # Given a gateway that rejects the leg
        peer.enqueue(Reply.json(status, {"error": "invalid number"}))
        # When placed / Then it is refused after exactly one request
        with pytest.raises(GatewayRefused, match=str(status)):
            adapter.place(LEG)
        assert len(peer.requests) == 1
        assert sleeps.delays == []

    def test_logs_never_show_the_number(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer, logs: io.StringIO
    ) -> None:
        # Given a gateway that fails once, then refuses the leg echoing the number in its reply
        peer.enqueue(
            Reply(503),
            Reply.json(400, {"error": "+919812345670 (919812345670) is barred"}),
        )
        with pytest.raises(GatewayRefused):
            adapter.place(LEG)
        # Then the logs carry the last four digits only
        text = logs.getvalue()
        assert "gateway refused leg" in text
        assert "5670" in text
        assert "9812345670" not in text

    def test_a_401_with_a_fresh_token_is_refused(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer
    ) -> None:
        peer.default = Reply(401)
        with pytest.raises(GatewayRefused, match="401"):
            adapter.place(LEG)
        assert len(peer.requests) == 2  # once more with a re-read token, no more

    def test_a_redirect_is_not_followed(self, adapter: HttpGatewayAdapter, peer: HttpPeer) -> None:
        peer.enqueue(Reply(307, headers={"Location": peer.url_for("/elsewhere")}))
        with pytest.raises(GatewayUnavailable, match="307"):
            adapter.place(LEG)
        assert [r.path for r in peer.requests] == ["/v1/legs"]


class TestNoToken:
    def test_missing_secret_sends_nothing(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer
    ) -> None:
        aws.client("secretsmanager").delete_secret(
            SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True
        )
        with pytest.raises(GatewayUnavailable, match="nothing was sent"):
            adapter.place(LEG)
        assert peer.requests == []


class TestTracing:
    def test_a_subsegment_wraps_the_placement(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given tracing on inside a segment (as in a traced Lambda invocation)
        with xray_recording(monkeypatch) as recorder:
            segment = recorder.begin_segment("dialer")
            # When a leg is placed
            adapter.place(LEG)
            # Then a gateway.place subsegment names the gateway and the leg
            [subsegment] = [s for s in segment.subsegments if s.name == "## gateway.place"]
            assert subsegment.annotations == {"gateway_id": "gw", "leg_id": LEG.leg_id}

    def test_tracing_on_without_a_segment_is_harmless(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given tracing on but no segment (a thread X-Ray knows nothing about)
        with xray_recording(monkeypatch):
            # When a leg is placed / Then it is placed all the same
            adapter.place(LEG)
        assert len(peer.requests) == 1


class TestRetryAfterHeader:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (None, None),
            ("", None),
            ("5", 5.0),
            (" 12 ", 12.0),
            ("-3", None),
            ("soon", None),
            ("Tue, 01 Dec 2026 05:00:30 GMT", 30.0),
            ("Tue, 01 Dec 2026 04:59:00 GMT", 0.0),
        ],
    )
    def test_parsing(self, value: str | None, expected: float | None) -> None:
        from datetime import UTC, datetime

        now = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
        assert retry_after_seconds(value, now) == expected


class TestStatus:
    """Asked past a leg's deadline (SPEC §11): one GET on the leg."""

    def test_a_final_state_is_the_legs_event(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer
    ) -> None:
        # Given a gateway that knows how the leg ended
        event = {
            "event-id": "evt-9",
            "leg-id": LEG.leg_id,
            "outcome": "NO_ANSWER",
            "duration-seconds": 0,
            "started-at": "2026-12-01T05:00:00+00:00",
            "ended-at": "2026-12-01T05:00:30+00:00",
        }
        peer.enqueue(Reply.json(200, event))
        # When asked / Then it answers that event, from a GET on the leg, authenticated
        answer = adapter.status(LEG)
        assert answer is not None and answer.outcome.value == "NO_ANSWER"
        assert answer.event_id == "evt-9" and answer.gateway_id == "gw"
        [request] = peer.requests
        assert (request.method, request.path) == ("GET", "/v1/legs/c46e46f4%231%230")
        assert request.header("Authorization") == f"Bearer {TOKEN}"

    @pytest.mark.parametrize(
        "reply",
        [Reply(404), Reply(500), Reply.json(200, {"status": "in-progress"}), Reply.drop()],
    )
    def test_anything_else_is_unknown(
        self, adapter: HttpGatewayAdapter, peer: HttpPeer, reply: Reply
    ) -> None:
        peer.enqueue(reply)
        assert adapter.status(LEG) is None
        assert len(peer.requests) == 1
