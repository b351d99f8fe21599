"""notify's decisions with fake adapters (no AWS, no sockets), and the handler's backoff rule."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from outdial.adapters.gateways.secrets import SecretNotFound
from outdial.adapters.receiver_backoff import Backoff
from outdial.adapters.webhook_client import Delivery
from outdial.adapters.webhook_queue import WebhookMessage
from outdial.contract import WEBHOOK_MAX_AGE_SECONDS as MAX_AGE_SECONDS
from outdial.logic.delivery_policy import backoff_seconds
from outdial.logic.notify import Notified, NotifyServices, notify, webhook_body
from outdial.models.calls import Call, CallStatus
from outdial.signatures import verify

NOW = 1_800_000_000
FLOW_ID = "AB12cd34"
URL = "https://hooks.example.com/outdial?token=abc"
MESSAGE = WebhookMessage(phonon_uuid="p-1", event_id="p-1:COMPLETED")


def a_call() -> Call:
    return Call(
        phonon_uuid="p-1",
        client_identifier="order-ü",
        request_id="r-1",
        flow_id=FLOW_ID,
        account_id="acme",
        api_version="1.0",
        status=CallStatus.NOT_CONNECTED,
        start_time="2026-12-01T10:30:00+05:30",
        due_at=datetime.fromisoformat("2026-12-01T10:30:00+05:30"),
        contact_numbers=("+919812345670",),
        attempt=1,
        number_index=0,
        cost=Decimal(1),
    )


class Calls:
    def __init__(self, call: Call | None) -> None:
        self.stored = call

    def call(self, phonon_uuid: str) -> Call | None:
        return self.stored if self.stored and self.stored.phonon_uuid == phonon_uuid else None


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
class AccountKeys:
    """An account's webhook signing keys (none: the flow security-id scheme)."""

    keys: list[bytes] = field(default_factory=list)
    stored: list[bytes] | None = None
    invalidated: int = 0

    def valid_keys(self, account_id: str, now: Any) -> list[bytes]:
        return list(self.keys)

    def invalidate(self, key: str | None = None) -> None:
        self.invalidated += 1
        if self.stored is not None:
            self.keys = self.stored


@dataclass
class Receiver:
    """Accepts only bodies signed with ``accepts``; records every attempt."""

    accepts: str | bytes = "secret-1"
    answer: Delivery | None = None
    attempts: list[tuple[str, bytes, str, str]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def deliver(
        self,
        url: str,
        body: bytes,
        signature: str,
        event_id: str,
        extra_headers: dict[str, str] | None = None,
    ) -> Delivery:
        self.attempts.append((url, body, signature, event_id))
        self.headers.append(extra_headers or {})
        if self.answer is not None:
            return self.answer
        try:
            verify(signature, self.accepts, body, NOW)
        except Exception:
            return Delivery.REJECTED
        return Delivery.DELIVERED


class Backoffs:
    """No account's receiver is failing; failures and recoveries are recorded."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def get(self, account_id: str) -> Backoff | None:
        return None

    def failed(self, account_id: str, now: float) -> Backoff:
        self.failures.append(account_id)
        return Backoff(len(self.failures), now + 30)

    def recovered(self, account_id: str) -> None:
        return None


def services(
    *,
    call: Call | None = None,
    url: str | None = URL,
    flow_exists: bool = True,
    secrets: Secrets | None = None,
    receiver: Receiver | None = None,
    account_keys: AccountKeys | None = None,
    now: float = NOW + 0.9,
) -> NotifyServices:
    return NotifyServices(
        calls=Calls(call if call is not None else a_call()),  # type: ignore[arg-type]
        config=Config(url, flow_exists),  # type: ignore[arg-type]
        secrets=secrets or Secrets(),  # type: ignore[arg-type]
        account_secrets=account_keys or AccountKeys(),  # type: ignore[arg-type]
        client=receiver or Receiver(),  # type: ignore[arg-type]
        backoff=Backoffs(),  # type: ignore[arg-type]
        clock=lambda: now,
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
        assert body == webhook_body(a_call(), MESSAGE.event_id)

    def test_the_body_is_compact_ascii_json_with_event_id(self) -> None:
        body = webhook_body(a_call(), "e-1")
        assert body.isascii() and b": " not in body and b", " not in body
        decoded = json.loads(body)
        assert decoded["event-id"] == "e-1" and decoded["client-identifier"] == "order-ü"
        assert decoded["event-type"] == "call.ended"

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


KEY_NEW, KEY_OLD = b"n" * 32, b"o" * 32


class TestAccountSecrets:
    def test_every_valid_secret_signs_and_the_standard_headers_verify(self) -> None:
        import time

        from standardwebhooks import Webhook

        # Given an account with two valid signing secrets (a rotation's overlap)
        now = int(time.time())  # the library checks the timestamp against its own clock
        receiver = Receiver(answer=Delivery.DELIVERED)
        keys = AccountKeys([KEY_NEW, KEY_OLD])
        # When notified
        outcome = notify(MESSAGE, services(receiver=receiver, account_keys=keys, now=now))
        assert outcome is Notified.DELIVERED
        [(_, body, signature, event_id)] = receiver.attempts
        # Then Outdial-Signature has one v1 per secret, keyed by the secret's bytes
        entries = signature.split(",")
        assert entries[0] == f"t={now}" and len(entries) == 3
        for key in (KEY_NEW, KEY_OLD):
            verify(signature, key, body, now)
        # And the Standard Webhooks headers verify with either secret
        headers = receiver.headers[0]
        assert headers["webhook-id"] == event_id == MESSAGE.event_id
        assert headers["webhook-timestamp"] == str(now)
        assert headers["webhook-signature"].count("v1,") == 2
        for key in (KEY_NEW, KEY_OLD):
            assert Webhook(key).verify(body, headers) == json.loads(body)
        # And a secret that is not one of them does not verify
        with pytest.raises(Exception, match=r"(?i)signature"):
            Webhook(b"x" * 32).verify(body, headers)

    def test_without_secrets_the_security_id_signs_and_no_standard_headers(self) -> None:
        receiver = Receiver()
        assert notify(MESSAGE, services(receiver=receiver)) is Notified.DELIVERED
        assert receiver.headers == [{}]

    def test_a_rejection_rereads_the_secrets_and_retries_once_when_they_changed(self) -> None:
        keys = AccountKeys([KEY_OLD], stored=[KEY_NEW])
        receiver = Receiver(accepts=KEY_NEW)
        assert notify(MESSAGE, services(receiver=receiver, account_keys=keys)) is (
            Notified.DELIVERED
        )
        assert len(receiver.attempts) == 2 and keys.invalidated == 1


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
