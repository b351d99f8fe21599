"""Accounts' webhook signing secrets in Secrets Manager (SPEC §10).

One secret per account, ``<prefix><account-id>``:
``{"secrets": [{"secret": "whsec_...", "created-at": ..., "expires-at": null | ...}]}``, newest
first. ``rotate`` adds a new secret and keeps the previous ones valid until their expiry (the
overlap); deliveries are signed with every secret still valid.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from outdial.adapters.errors import AdapterError
from outdial.adapters.gateways.secrets import SecretNotFound, _json_object, _SecretsBase
from outdial.models.config import account_secret_prefix

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# Deliveries notice a rotation within this (a receiver's 4xx makes them look at once).
CACHE_SECONDS = 60.0


def new_secret() -> str:
    """``whsec_`` + base64 of 32 random bytes: the format Standard Webhooks libraries read."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret: its decoded bytes."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


@dataclass(frozen=True)
class SigningSecret:
    secret: str
    created_at: datetime
    expires_at: datetime | None = None

    def valid(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at

    def to_json(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "created-at": self.created_at.isoformat(),
            "expires-at": self.expires_at.isoformat() if self.expires_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SigningSecret:
        expires = data.get("expires-at")
        return cls(
            secret=str(data["secret"]),
            created_at=datetime.fromisoformat(str(data["created-at"])),
            expires_at=datetime.fromisoformat(str(expires)) if expires else None,
        )


@dataclass(frozen=True)
class Rotated:
    """What a rotation made: the new secret (shown once) and until when the old ones hold."""

    secret: str
    previous_valid_until: datetime | None
    kept: int


class AccountSecrets(_SecretsBase[tuple[SigningSecret, ...]]):
    """Reads (cached) and rotates accounts' webhook signing secrets."""

    def __init__(
        self,
        client: Any | None = None,
        ttl_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        prefix: str | None = None,
    ) -> None:
        super().__init__(client, ttl_seconds, clock)
        self._prefix = prefix or account_secret_prefix()  # the deployment's (settings)

    def name(self, account_id: str) -> str:
        return f"{self._prefix}{account_id}"

    def valid_keys(self, account_id: str, now: datetime) -> list[bytes]:
        """The HMAC keys of the account's secrets valid at ``now``, newest first; empty for an
        account that never rotated one (it keeps the flow security-id scheme)."""
        return [
            secret_key(s.secret)
            for s in self._cache.get(account_id, lambda: self._load(account_id))
            if s.valid(now)
        ]

    def _load(self, account_id: str) -> tuple[SigningSecret, ...]:
        try:
            return self._stored(account_id)
        except SecretNotFound:
            return ()

    def _stored(self, account_id: str) -> tuple[SigningSecret, ...]:
        name = self.name(account_id)
        data = _json_object(name, self._read(name))
        try:
            return tuple(SigningSecret.from_json(entry) for entry in data.get("secrets", []))
        except (KeyError, TypeError, ValueError) as exc:
            raise AdapterError(f"secret {name} is not a list of signing secrets") from exc

    def rotate(self, account_id: str, keep_previous: timedelta, now: datetime) -> Rotated:
        """Add a new secret; the ones still valid stay valid for ``keep_previous`` more at most
        (an earlier, shorter overlap is not lengthened). Expired ones are dropped."""
        try:
            current = self._stored(account_id)
        except SecretNotFound:
            current = None
        until = now + keep_previous
        kept = [
            SigningSecret(
                s.secret, s.created_at, min(until, s.expires_at) if s.expires_at else until
            )
            for s in current or ()
            if s.valid(now) and keep_previous > timedelta(0)
        ]
        fresh = SigningSecret(new_secret(), now.astimezone(UTC))
        body = json.dumps({"secrets": [fresh.to_json(), *(s.to_json() for s in kept)]})
        name = self.name(account_id)
        try:
            if current is None:
                try:
                    self.client.create_secret(
                        Name=name,
                        SecretString=body,
                        Description=f"outdial account {account_id}: webhook signing secrets",
                    )
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ResourceExistsException":
                        raise
                    self.client.put_secret_value(SecretId=name, SecretString=body)
            else:
                self.client.put_secret_value(SecretId=name, SecretString=body)
        except (ClientError, BotoCoreError) as exc:
            raise AdapterError(f"writing secret {name}: {exc}") from exc
        self._cache.invalidate(account_id)
        return Rotated(fresh.secret, until if kept else None, len(kept))


@cache
def shared_account_secrets() -> AccountSecrets:
    """The process-wide cache (``cache_clear()`` to forget it in tests)."""
    return AccountSecrets()
