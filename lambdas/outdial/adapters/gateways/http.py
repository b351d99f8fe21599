"""A JSON-over-HTTPS telephony gateway (SPEC §4, kind ``http``): POST a leg, with retries.

Exactly once, from the gateway's side: every request for a leg carries ``Idempotency-Key: <leg
id>``, so retrying after a timeout (when the gateway may well have accepted the first request) is
safe. Retried: connection errors, timeouts, 408, 409 (same key still in progress), 429 and 5xx,
with exponential backoff and full jitter, at least as long as ``Retry-After`` asks (up to a cap).
Never retried: any other 4xx, a refusal of this leg, which no retry would change.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any
from urllib.parse import quote

import urllib3
from urllib3.exceptions import HTTPError, LocationValueError

from outdial.adapters import egress
from outdial.adapters.errors import AdapterError
from outdial.adapters.gateways.base import GatewayRefused, GatewayUnavailable, Leg, LegEvent
from outdial.adapters.gateways.secrets import GatewaySecrets, shared_gateway_secrets
from outdial.models.config import HttpGateway
from outdial.models.phone import mask
from outdial.observability import logger, tracer

USER_AGENT = "outdial-dialer/1.0"
# 409: the Idempotency-Key draft (draft-ietf-httpapi-idempotency-key-header) answers a request
# whose key is still being processed with 409. Ours are retries of one leg (after a timeout, or
# by a dialer taking over a crashed one's claim): the leg is in flight, so ask again for its result
# rather than call it refused.
_RETRYABLE_4XX = frozenset({408, 409, 429})
_SNIPPET_BYTES = 300  # of a refusal's body, for the log


@dataclass(frozen=True)
class RetryPolicy:
    """How hard ``place`` tries: ``max_attempts`` requests in all, the n-th retry after a random
    delay in ``[0, min(max_delay, base_delay * 2**(n-1))]`` ("full jitter", so a fleet of dialers
    does not retry in lockstep), or after ``Retry-After`` capped at ``max_retry_after``."""

    max_attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 4.0
    max_retry_after: float = 10.0

    def backoff(self, retry: int, rng: Callable[[], float]) -> float:
        """The delay before retry number ``retry`` (1-based)."""
        return rng() * min(self.max_delay, self.base_delay * 2 ** (retry - 1))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def _redact(data: bytes, number: str) -> str:
    """``data`` as text with ``number`` masked: gateways like to echo the number they refuse."""
    text = data.decode("utf-8", "replace")
    for form in (number, number.lstrip("+")):
        text = text.replace(form, mask(form))
    return text


@cache
def _shared_pool() -> urllib3.PoolManager:
    # One pool per process: keep-alive connections to the gateway survive across invocations.
    return urllib3.PoolManager(num_pools=10, maxsize=50)


class HttpGatewayAdapter:
    """Places legs on an http gateway; its bearer token comes from ``secrets`` (cached)."""

    def __init__(
        self,
        config: HttpGateway,
        secrets: GatewaySecrets | None = None,
        pool: urllib3.PoolManager | None = None,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
        rng: Callable[[], float] = random.random,
        resolver: egress.Resolver = egress.system_resolver,
    ) -> None:
        self.gateway_id = config.gateway_id
        self._config = config
        self._url = str(config.url)
        self._secrets = secrets or shared_gateway_secrets()
        self._pool = pool or _shared_pool()
        self._sleep = sleep
        self._retry = retry or RetryPolicy()
        self._rng = rng
        self._resolver = resolver
        self._timeout = urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout)

    @staticmethod
    def request_body(leg: Leg) -> bytes:
        """What the gateway receives for ``leg``."""
        return json.dumps(
            {
                "leg-id": leg.leg_id,
                "from": leg.from_did,
                "to": leg.to_number,
                "variables": leg.variables,
                "ring-timeout": leg.ring_seconds,
                "callback-url": leg.callback_url,
            },
            separators=(",", ":"),
        ).encode()

    def place(self, leg: Leg) -> str | None:
        """POST ``leg``; return once the gateway answered 2xx.

        Raises ``GatewayRefused`` on a 4xx other than 408/409/429 (a 401 is first retried once
        with the token read afresh, in case it was rotated), and ``GatewayUnavailable`` when every
        attempt failed, the URL is unusable, or the token cannot be read from Secrets Manager
        (nothing was sent then).
        """
        with tracer.provider.in_subsegment(name="## gateway.place") as subsegment:
            # None when tracing is on but this thread has no segment: X-Ray logs it, we dial on.
            if subsegment is not None:
                subsegment.put_annotation("gateway_id", self.gateway_id)
                subsegment.put_annotation("leg_id", leg.leg_id)
            attempts = self._place(leg)
            if subsegment is not None:
                subsegment.put_metadata("attempts", attempts, namespace="outdial")
        return None

    def _connection(self, url: str) -> tuple[egress.Target, urllib3.HTTPConnectionPool]:
        """The pool for ``url``'s address, resolved and checked now (SPEC §10/§12): the
        connection goes to the checked address, the name kept for TLS and ``Host``."""
        target = egress.parse_target(url)
        rules = egress.policy(allow_private=self._config.allow_private_endpoint)
        address = egress.checked_address(target, rules, self._resolver)
        tls = {"server_hostname": target.host, "assert_hostname": target.host}
        pool = self._pool.connection_from_host(
            address,
            port=target.port,
            scheme=target.scheme,
            pool_kwargs=tls if target.scheme == "https" else None,
        )
        return target, pool

    def status_url(self, leg: Leg) -> str:
        """Where the gateway answers how a leg went: the placing URL plus ``/<leg id>``."""
        return f"{self._url.rstrip('/')}/{quote(leg.leg_id, safe='')}"

    def status(self, leg: Leg) -> LegEvent | None:
        """``GET`` the leg; its final state when the gateway answers 200 with a body in the
        events route's shape, else None (unknown to it, still running, unreachable, malformed).
        One request: the reconciler asks again on its next run only for legs it could not end."""
        try:
            target, pool = self._connection(self.status_url(leg))
            response = pool.urlopen(
                "GET",
                target.path,
                headers={
                    "Authorization": f"Bearer {self._token(False)}",
                    "Accept": "application/json",
                    "User-Agent": USER_AGENT,
                    "Host": target.host_header,
                },
                timeout=self._timeout,
                retries=False,
                redirect=False,
                assert_same_host=False,
            )
        except (HTTPError, LocationValueError, GatewayUnavailable, egress.EgressRefused) as exc:
            logger.warning("gateway status unavailable", leg_id=leg.leg_id, error=str(exc))
            return None
        if response.status != 200:
            logger.info("gateway cannot say how the leg ended", status=response.status)
            return None
        try:
            return LegEvent.from_json(self.gateway_id, response.data)
        except ValueError as exc:
            logger.warning("gateway status unreadable", leg_id=leg.leg_id, error=str(exc))
            return None

    def _token(self, refresh: bool) -> str:
        if refresh:
            self._secrets.invalidate(self._config.secret_id)
        try:
            return self._secrets.get(self._config.secret_id).token
        except AdapterError as exc:
            raise GatewayUnavailable(
                f"gateway {self.gateway_id}: no token ({exc}); nothing was sent"
            ) from exc

    def _place(self, leg: Leg) -> int:
        body = self.request_body(leg)
        log_keys: dict[str, Any] = {
            "gateway_id": self.gateway_id,
            "leg_id": leg.leg_id,
            "to": mask(leg.to_number),
        }
        refreshed = False
        refresh = False
        last = "no attempt"
        for attempt in range(1, self._retry.max_attempts + 1):
            headers = {
                "Authorization": f"Bearer {self._token(refresh)}",
                "Idempotency-Key": leg.leg_id,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
            refresh = False
            delay = self._retry.backoff(attempt, self._rng)
            try:
                target, pool = self._connection(self._url)
                response = pool.urlopen(
                    "POST",
                    target.path,
                    body=body,
                    headers={**headers, "Host": target.host_header},
                    timeout=self._timeout,
                    retries=False,  # the loop below retries, with the policy above
                    redirect=False,  # a redirected POST is a misconfiguration, not a leg outcome
                    assert_same_host=False,
                )
            except (LocationValueError, egress.EgressRefused) as exc:
                raise GatewayUnavailable(f"gateway {self.gateway_id}: bad url: {exc}") from exc
            except HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status
                if 200 <= status < 300:
                    logger.debug(
                        "gateway accepted leg", status=status, attempts=attempt, **log_keys
                    )
                    return attempt
                last = f"HTTP {status}"
                if status == 401 and not refreshed and attempt < self._retry.max_attempts:
                    refreshed = refresh = True
                    delay = 0.0
                elif status in _RETRYABLE_4XX or 500 <= status < 600:
                    asked = retry_after_seconds(
                        response.headers.get("Retry-After"), datetime.now(UTC)
                    )
                    if asked is not None:
                        delay = max(delay, min(asked, self._retry.max_retry_after))
                elif 400 <= status < 500:
                    snippet = _redact(response.data[:_SNIPPET_BYTES], leg.to_number)
                    logger.warning("gateway refused leg", status=status, body=snippet, **log_keys)
                    raise GatewayRefused(f"gateway {self.gateway_id} refused: HTTP {status}")
                else:
                    raise GatewayUnavailable(f"gateway {self.gateway_id}: unexpected HTTP {status}")
            if attempt < self._retry.max_attempts:
                logger.warning(
                    "gateway attempt failed; retrying",
                    attempt=attempt,
                    reason=last,
                    retry_in_seconds=round(delay, 3),
                    **log_keys,
                )
                self._sleep(delay)
        logger.error(
            "gateway unavailable", attempts=self._retry.max_attempts, reason=last, **log_keys
        )
        raise GatewayUnavailable(
            f"gateway {self.gateway_id}: {self._retry.max_attempts} attempts failed, last {last}"
        )
