"""notify's decisions with fake adapters (no AWS, no sockets), and the handler's backoff rule."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from outdial.adapters.gateways.secrets import SecretNotFound
from outdial.adapters.webhook_queue import WebhookMessage
from outdial.adapters.webhooks import Delivery
from outdial.contract import WEBHOOK_MAX_AGE_SECONDS as MAX_AGE_SECONDS
from outdial.logic.delivery_policy import backoff_seconds
from outdial.logic.notify import Notified, NotifyServices, notify, webhook_body
from outdial.signatures import verify

NOW = 1_800_000_000
FLOW_ID = "AB12cd34"
URL = "https://hooks.example.com/outdial?token=abc"
MESSAGE = WebhookMessage(phonon_uuid="p-1", event_id="p-1:COMPLETED")


def call_item() -> dict[str, Any]:
    return {
        "phonon-uuid": "p-1",
        "client-identifier": "order-ü",
        "request-id": "r-1",
        "flow-id": FLOW_ID,
        "api-version": "1.0",
        "status": "NOT_CONNECTED",
        "start-time": "2026-12-01T10:30:00+05:30",
        "contact-numbers": ["+919812345670"],
        "legs": {},
    }


class Calls:
    def __init__(self, item: dict[str, Any] | None) -> None:
        self.item = item

    def get_call(self, phonon_uuid: str) -> dict[str, Any] | None:
        return self.item if self.item and self.item["phonon-uuid"] == phonon_uuid else None


class Config:
    def __init__(self, webhook_url: str | None, exists: bool = True) -> None:
        self.view = SimpleNamespace(
            account=SimpleNamespace(account_id="acme", webhook_url=webhook_url)
        )
        self.exists = exists

    def get_flow_view(self, flow_id: str) -> Any:
        return self.view if self.exists else None


@dataclass
class Secrets:
    """A secret store whose value can change behind the cache, as a rotation does."""

    cached: str | None = "secret-1"
    stored: str | None = "secret-1"
    invalidated: int = 0

    def get(self, flow_id: str) -> str:
        if self.cached is None:
            if self.stored is None:
                raise SecretNotFound(flow_id)
            self.cached = self.stored
        return self.cached

    def invalidate(self, key: str | None = None) -> None:
        self.invalidated += 1
        self.cached = None


@dataclass
class Receiver:
    """Accepts only bodies signed with ``accepts``; records every attempt."""

    accepts: str = "secret-1"
    answer: Delivery | None = None
    attempts: list[tuple[str, bytes, str, str]] = field(default_factory=list)

    def deliver(self, url: str, body: bytes, signature: str, event_id: str) -> Delivery:
        self.attempts.append((url, body, signature, event_id))
        if self.answer is not None:
            return self.answer
        try:
            verify(signature, self.accepts, body, NOW)
        except Exception:
            return Delivery.REJECTED
        return Delivery.DELIVERED


def services(
    *,
    item: dict[str, Any] | None = None,
    url: str | None = URL,
    flow_exists: bool = True,
    secrets: Secrets | None = None,
    receiver: Receiver | None = None,
) -> NotifyServices:
    return NotifyServices(
        calls=Calls(item if item is not None else call_item()),  # type: ignore[arg-type]
        config=Config(url, flow_exists),  # type: ignore[arg-type]
        secrets=secrets or Secrets(),  # type: ignore[arg-type]
        client=receiver or Receiver(),  # type: ignore[arg-type]
        clock=lambda: NOW + 0.9,
    )


class TestNotify:
    def test_delivers_the_signed_body_to_the_accounts_url(self) -> None:
        # Given a call and an account with a webhook-url
        receiver = Receiver()
        # When notified
        outcome = notify(MESSAGE, services(receiver=receiver))
        # Then one attempt, to that url, signed at the clock's whole second
        assert outcome is Notified.DELIVERED
        [(url, body, signature, event_id)] = receiver.attempts
        assert (url, event_id) == (URL, MESSAGE.event_id)
        assert signature.startswith(f"t={NOW},v1=")
        assert body == webhook_body(call_item(), MESSAGE.event_id)

    def test_the_body_is_compact_ascii_json_with_event_id(self) -> None:
        body = webhook_body(call_item(), "e-1")
        assert body.isascii() and b": " not in body and b", " not in body
        decoded = json.loads(body)
        assert decoded["event-id"] == "e-1" and decoded["client-identifier"] == "order-ü"

    @pytest.mark.parametrize(
        ("answer", "expected"),
        [(Delivery.RETRY, Notified.RETRY), (Delivery.DELIVERED, Notified.DELIVERED)],
    )
    def test_the_receivers_answer_decides(self, answer: Delivery, expected: Notified) -> None:
        assert notify(MESSAGE, services(receiver=Receiver(answer=answer))) is expected

    def test_no_call_no_attempt(self) -> None:
        receiver = Receiver()
        outcome = notify(WebhookMessage("gone", "e"), services(receiver=receiver))
        assert outcome is Notified.NO_CALL and receiver.attempts == []

    @pytest.mark.parametrize(("url", "flow_exists"), [(None, True), (URL, False)])
    def test_no_webhook_url_or_no_flow_means_nothing_to_send(
        self, url: str | None, flow_exists: bool
    ) -> None:
        receiver = Receiver()
        outcome = notify(MESSAGE, services(url=url, flow_exists=flow_exists, receiver=receiver))
        assert outcome is Notified.NO_WEBHOOK and receiver.attempts == []

    def test_a_missing_flow_secret_is_retried_later(self) -> None:
        receiver = Receiver()
        secrets = Secrets(cached=None, stored=None)
        assert notify(MESSAGE, services(secrets=secrets, receiver=receiver)) is Notified.RETRY
        assert receiver.attempts == []

    def test_a_rejection_after_a_rotation_is_retried_once_with_the_new_secret(self) -> None:
        # Given a cached security-id the flow has since rotated away from
        secrets = Secrets(cached="secret-1", stored="secret-2")
        receiver = Receiver(accepts="secret-2")
        # When notified / Then the rejection made it re-read the secret and try again, once
        assert notify(MESSAGE, services(secrets=secrets, receiver=receiver)) is Notified.DELIVERED
        assert len(receiver.attempts) == 2 and secrets.invalidated == 1

    def test_a_rejection_with_an_unchanged_secret_is_final(self) -> None:
        receiver = Receiver(accepts="something-else")
        assert notify(MESSAGE, services(receiver=receiver)) is Notified.REJECTED
        assert len(receiver.attempts) == 1


class TestBackoff:
    @pytest.mark.parametrize(
        ("receives", "seconds"),
        [(1, 30), (2, 60), (3, 120), (8, 3840), (9, 7200), (100, 7200), (0, 30)],
    )
    def test_doubles_from_30_seconds_up_to_two_hours(self, receives: int, seconds: int) -> None:
        assert backoff_seconds(receives, MAX_AGE_SECONDS) == seconds

    def test_never_past_the_deadline_and_at_least_a_second(self) -> None:
        assert backoff_seconds(9, 100.5) == 100
        assert backoff_seconds(9, 0.2) == 1
