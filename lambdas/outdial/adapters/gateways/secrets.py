"""Secrets Manager: gateway credentials and flow security-ids, cached in-process with a TTL.

A cache per process keeps Secrets Manager off the per-leg path (it is billed and throttled per
call); the TTL bounds how long a rotated secret goes unnoticed, and ``invalidate`` lets a caller
that was just told "401" pick up a rotation at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from outdial.adapters import aws
from outdial.adapters.errors import AdapterError
from outdial.adapters.ttl_cache import TtlCache
from outdial.models.config import flow_secret_prefix
from outdial.process import process_cached

T = TypeVar("T")

DEFAULT_TTL_SECONDS = 300.0


class SecretNotFound(AdapterError):
    """The secret does not exist (or has no current value)."""


@dataclass(frozen=True)
class GatewayCredentials:
    """What an http gateway's secret holds: ``{"token": ..., "event-secret": ...}``.

    ``token`` authenticates our requests to the gateway (bearer); ``event_secret`` is the HMAC
    key of the events it posts back (header ``Gateway-Signature``).
    """

    token: str
    event_secret: str


class _SecretsBase(Generic[T]):
    def __init__(
        self,
        client: Any | None,
        ttl_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._client = client
        self._cache: TtlCache[T] = TtlCache(ttl_seconds, clock)

    @property
    def client(self) -> Any:
        return self._client or aws.client("secretsmanager")

    def invalidate(self, key: str | None = None) -> None:
        """Forget one cached secret (or all): the next ``get`` reads Secrets Manager again."""
        self._cache.invalidate(key)

    def write(self, name: str, text: str, description: str = "") -> bool:
        """Create secret ``name`` with ``text``, or make ``text`` its current value; an unchanged
        value writes nothing (each write is a new version). True when something was written."""
        try:
            try:
                self.client.create_secret(Name=name, SecretString=text, Description=description)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceExistsException":
                    raise
                try:
                    current: str | None = self._read(name)
                except SecretNotFound:  # exists, but without a current value
                    current = None
                if current == text:
                    return False
                self.client.put_secret_value(SecretId=name, SecretString=text)
        except (ClientError, BotoCoreError) as exc:
            raise AdapterError(f"writing secret {name}: {exc}") from exc
        self.invalidate(name)
        return True

    def _read(self, secret_id: str) -> str:
        try:
            value = self.client.get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                raise SecretNotFound(f"secret {secret_id} not found") from exc
            raise AdapterError(f"reading secret {secret_id}: {exc}") from exc
        except BotoCoreError as exc:
            raise AdapterError(f"reading secret {secret_id}: {exc}") from exc
        text = value.get("SecretString")
        if text is None:
            raise AdapterError(f"secret {secret_id} has no SecretString")
        return str(text)


def _json_object(secret_id: str, text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AdapterError(f"secret {secret_id} is not JSON") from exc
    if not isinstance(data, dict):
        raise AdapterError(f"secret {secret_id} is not a JSON object")
    return data


class GatewaySecrets(_SecretsBase[dict[str, Any]]):
    """Reads gateways' credentials (the secret named by the gateway's ``secret-id``): an http
    gateway's ``{token, event-secret}``, a carrier's (SPEC §8)."""

    def __init__(
        self,
        client: Any | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(client, ttl_seconds, clock)

    def values(self, secret_id: str) -> dict[str, Any]:
        """The JSON object in ``secret_id``; ``SecretNotFound`` when absent, ``AdapterError``
        when unreadable or not a JSON object."""
        return self._cache.get(secret_id, lambda: _json_object(secret_id, self._read(secret_id)))

    def get(self, secret_id: str) -> GatewayCredentials:
        """An http gateway's credentials in ``secret_id``; ``AdapterError`` when unreadable or
        malformed."""
        data = self.values(secret_id)
        token, event_secret = data.get("token"), data.get("event-secret")
        if not isinstance(token, str) or not token or not isinstance(event_secret, str):
            raise AdapterError(
                f"secret {secret_id} must be a JSON object with string token and event-secret"
            )
        return GatewayCredentials(token=token, event_secret=event_secret)


class FlowSecrets(_SecretsBase[str]):
    """Each flow's security-id in the clear, for signing the customer's webhooks.

    The config table only keeps a hash of it (enough to check a request), but an HMAC needs the
    key itself, so it lives in Secrets Manager as ``<prefix><flow-id>``:
    ``{"security-id": "..."}``; the prefix is the deployment's (``outdial/flows/`` locally,
    ``outdial/<stack>/flows/`` on AWS).
    """

    def __init__(
        self,
        client: Any | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        prefix: str | None = None,
    ) -> None:
        super().__init__(client, ttl_seconds, clock)
        self._prefix = prefix or flow_secret_prefix()

    def name(self, flow_id: str) -> str:
        """The secret's name for ``flow_id``."""
        return f"{self._prefix}{flow_id}"

    def put(self, flow_id: str, security_id: str) -> None:
        """Create or update the flow's secret; an unchanged value writes nothing (each write is a
        new secret version, and ``config apply`` puts every flow every time)."""
        self.write(
            self.name(flow_id),
            json.dumps({"security-id": security_id}),
            f"outdial flow {flow_id}: security-id (webhook signing key)",
        )
        self._cache.put(flow_id, security_id)

    def get(self, flow_id: str) -> str:
        """The flow's security-id; raises ``SecretNotFound`` for a flow never put."""
        return self._cache.get(flow_id, lambda: self._load(flow_id))

    def _load(self, flow_id: str) -> str:
        name = self.name(flow_id)
        security_id = _json_object(name, self._read(name)).get("security-id")
        if not isinstance(security_id, str) or not security_id:
            raise AdapterError(f"secret {name} lacks a security-id string")
        return security_id


@process_cached
def shared_gateway_secrets() -> GatewaySecrets:
    """The process-wide gateway credentials cache (until ``reset_process_state()``)."""
    return GatewaySecrets()


@process_cached
def shared_flow_secrets() -> FlowSecrets:
    """The process-wide flow secrets cache (until ``reset_process_state()``)."""
    return FlowSecrets()
