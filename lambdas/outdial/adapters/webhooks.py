"""Customer webhooks: one signed POST, classified for the queue that retries it.

No retry loop here: the webhook queue's redelivery (with backoff) retries, so a slow or dead
receiver holds up one message for one short timeout, never the dialer.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError, LocationValueError

from outdial.observability import logger, tracer
from outdial.signatures import OUTDIAL_SIGNATURE_HEADER

USER_AGENT = "outdial-webhooks/1.0"
EVENT_ID_HEADER = "Outdial-Event-Id"
DEFAULT_TIMEOUT = urllib3.Timeout(connect=2.0, read=5.0)
_RETRYABLE_4XX = frozenset({408, 429})
_MAX_RESPONSE_BYTES = 64 * 1024  # a receiver's reply is not read beyond this


class Delivery(StrEnum):
    """What became of one delivery attempt."""

    DELIVERED = "DELIVERED"  # 2xx
    RETRY = "RETRY"  # timeout, connection error, 5xx, 408, 429: try again later
    REJECTED = "REJECTED"  # any other status, or an unusable URL: retrying will not help


@cache
def _shared_pool() -> urllib3.PoolManager:
    # Customers' receivers are many hosts; keep a few pools warm, not one per host forever.
    return urllib3.PoolManager(num_pools=50, maxsize=10)


def classify(status: int) -> Delivery:
    """The delivery outcome of an HTTP ``status`` from the receiver."""
    if 200 <= status < 300:
        return Delivery.DELIVERED
    if status in _RETRYABLE_4XX or 500 <= status < 600:
        return Delivery.RETRY
    # Redirects are not followed (a POST that moves is the receiver's misconfiguration), and
    # other 4xx will say the same thing next time.
    return Delivery.REJECTED


class WebhookClient:
    """POSTs signed webhook bodies to customers' receivers."""

    def __init__(
        self,
        pool: urllib3.PoolManager | None = None,
        timeout: urllib3.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._pool = pool or _shared_pool()
        self._timeout = timeout

    def deliver(
        self,
        url: str,
        body: bytes,
        signature: str,
        event_id: str,
        extra_headers: dict[str, str] | None = None,
    ) -> Delivery:
        """POST ``body`` to ``url`` once, with ``signature`` as ``Outdial-Signature`` (and any
        ``extra_headers``: the Standard Webhooks ones)."""
        host = urlsplit(url).hostname or "?"  # the path or query may hold a customer's token
        headers = {
            "Content-Type": "application/json",
            OUTDIAL_SIGNATURE_HEADER: signature,
            EVENT_ID_HEADER: event_id,
            "User-Agent": USER_AGENT,
            **(extra_headers or {}),
        }
        with tracer.provider.in_subsegment(name="## webhook.deliver") as subsegment:
            # None when tracing is on but this thread has no segment: X-Ray logs it, we go on.
            if subsegment is not None:
                subsegment.put_annotation("event_id", event_id)
            try:
                response = self._pool.request(
                    "POST",
                    url,
                    body=body,
                    headers=headers,
                    timeout=self._timeout,
                    retries=False,
                    redirect=False,
                    preload_content=False,
                )
            except LocationValueError as exc:
                logger.error("webhook url unusable", host=host, event_id=event_id, error=str(exc))
                return Delivery.REJECTED
            except HTTPError as exc:
                logger.warning(
                    "webhook not delivered", host=host, event_id=event_id, error=type(exc).__name__
                )
                return Delivery.RETRY
            status = response.status
            try:
                # The reply does not matter, but reading it lets the connection be reused.
                response.read(_MAX_RESPONSE_BYTES)
            except HTTPError:
                pass  # the status is what counts
            finally:
                response.release_conn()
            outcome = classify(status)
            if subsegment is not None:
                subsegment.put_metadata("status", status, namespace="outdial")
            logger.info(
                "webhook attempt",
                host=host,
                event_id=event_id,
                status=status,
                delivery=outcome.value,
            )
            return outcome
