"""HTTPS to one carrier's API (SPEC §8), one request per placing, never repeated: none of Twilio,
Plivo or Exotel takes an idempotency key, so a POST whose answer was lost may have placed the
call, and posting it again could ring the customer twice. Its answer sorts the leg into placed
(2xx), refused (4xx: never placed), rate-limited (429 and the carriers' own limit codes: not
placed, wait) or unknown (timeout, transport error, 5xx: the state query finds out). The
credentials come from Secrets Manager."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

import urllib3
from urllib3.exceptions import HTTPError, LocationValueError

from outdial.adapters.errors import AdapterError
from outdial.adapters.gateways.base import (
    GatewayRateLimited,
    GatewayRefused,
    GatewayUnavailable,
    Leg,
)
from outdial.adapters.gateways.http import USER_AGENT, retry_after_seconds
from outdial.adapters.gateways.secrets import GatewaySecrets, SecretNotFound
from outdial.models.config import CarrierGateway
from outdial.models.phone import mask
from outdial.observability import logger

_SNIPPET_BYTES = 300


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CarrierAnswer:
    """A carrier's HTTP answer."""

    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body as JSON; {} when it is not."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return {}


@cache
def _shared_pool() -> urllib3.PoolManager:
    return urllib3.PoolManager(num_pools=10, maxsize=50)


class CarrierClient:
    """HTTPS to one carrier's API with Basic auth, each request sent once."""

    def __init__(
        self,
        config: CarrierGateway,
        secrets: GatewaySecrets,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self.gateway_id = config.gateway_id
        self.config = config
        self._secrets = secrets
        self._pool = pool or _shared_pool()
        self._timeout = urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout)

    def credential(self, name: str) -> str:
        """Field ``name`` of the gateway's secret.

        Raises ``GatewayRefused`` when the secret is absent or lacks the field (a configuration
        fault: nothing was sent and waiting will not help) and ``GatewayRateLimited`` when
        Secrets Manager could not be read just now (nothing was sent; try again later).
        """
        try:
            values = self._secrets.values(self.config.secret_id)
        except SecretNotFound as error:
            raise GatewayRefused(f"gateway {self.gateway_id}: {error}; nothing was sent") from None
        except AdapterError as error:
            raise GatewayRateLimited(
                f"gateway {self.gateway_id}: credentials unreadable ({error}); nothing was sent",
                retry_after=5,
            ) from None
        value = values.get(name)
        if not isinstance(value, str) or not value:
            raise GatewayRefused(
                f"gateway {self.gateway_id}: secret {self.config.secret_id} lacks {name!r}"
            )
        return value

    def send(
        self,
        method: str,
        url: str,
        user: str,
        password: str,
        *,
        form: list[tuple[str, str]] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> CarrierAnswer:
        """One request; ``GatewayUnavailable`` when no answer came (it may have arrived)."""
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers = {
            "Authorization": f"Basic {token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        body: bytes | None = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = self._pool.request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=self._timeout,
                retries=False,  # never re-sent: a carrier has no idempotency key
                redirect=False,
            )
        except LocationValueError as error:
            raise GatewayRefused(f"gateway {self.gateway_id}: bad url: {error}") from None
        except HTTPError as error:
            raise GatewayUnavailable(
                f"gateway {self.gateway_id}: no answer ({type(error).__name__}); "
                "whether the call was placed is unknown"
            ) from None
        return CarrierAnswer(response.status, response.data, dict(response.headers.items()))

    def placing_failed(self, answer: CarrierAnswer, leg: Leg, rate_limited: bool) -> Exception:
        """The exception for a placing request the carrier did not accept with a 2xx."""
        status = answer.status
        keys: dict[str, Any] = {
            "gateway_id": self.gateway_id,
            "leg_id": leg.leg_id,
            "status": status,
        }
        if rate_limited:
            wait = retry_after_seconds(answer.headers.get("Retry-After"), utcnow())
            logger.info("carrier rate-limited the leg; it waits", **keys)
            return GatewayRateLimited(
                f"gateway {self.gateway_id}: rate limited (HTTP {status})", retry_after=wait
            )
        if 400 <= status < 500:
            snippet = answer.body[:_SNIPPET_BYTES].decode("utf-8", "replace")
            for form in (leg.to_number, leg.to_number.lstrip("+")):
                snippet = snippet.replace(form, mask(form))
            logger.warning("carrier refused leg", body=snippet, **keys)
            return GatewayRefused(f"gateway {self.gateway_id} refused: HTTP {status}")
        logger.warning("carrier answered with a fault; placement unknown", **keys)
        return GatewayUnavailable(
            f"gateway {self.gateway_id}: HTTP {status}; whether the call was placed is unknown"
        )
