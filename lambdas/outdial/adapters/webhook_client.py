"""Customer webhooks: one signed POST, classified for the queue that retries it.

No retry loop here: the webhook queue's redelivery (with backoff) retries, so a slow or dead
receiver holds up one message for one short timeout, never the dialer.
"""

from __future__ import annotations

import ssl
from enum import StrEnum
from http.client import HTTPException
from urllib.parse import urlsplit

from outdial.adapters import egress
from outdial.observability import logger, tracer
from outdial.signatures import OUTDIAL_SIGNATURE_HEADER

USER_AGENT = "outdial-webhooks/1.0"
EVENT_ID_HEADER = "Outdial-Event-Id"
# SPEC §10: one delivery takes at most 10 s in all (connect, TLS, send, read), however slowly
# the receiver drips its answer.
DELIVERY_DEADLINE_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 2.0
_RETRYABLE_4XX = frozenset({408, 429})


class Delivery(StrEnum):
    """What became of one delivery attempt."""

    DELIVERED = "DELIVERED"  # 2xx
    RETRY = "RETRY"  # timeout, connection error, 5xx, 408, 429: try again later
    REJECTED = "REJECTED"  # any other status, or a URL we may not post to: retrying will not help


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
    """POSTs signed webhook bodies to customers' receivers: only where ``egress`` allows, each
    within ``deadline_seconds`` of wall clock."""

    def __init__(
        self,
        deadline_seconds: float = DELIVERY_DEADLINE_SECONDS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        resolver: egress.Resolver = egress.system_resolver,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._deadline = deadline_seconds
        self._connect_timeout = connect_timeout
        self._resolver = resolver
        self._tls = tls  # None: the system's trust store

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
                target = egress.parse_target(url)
                address = egress.checked_address(target, egress.policy(), self._resolver)
            except egress.Unresolvable as exc:
                logger.warning("webhook host unresolvable", host=host, error=str(exc))
                return Delivery.RETRY
            except egress.EgressRefused as exc:
                logger.error("webhook url refused", host=host, event_id=event_id, error=str(exc))
                return Delivery.REJECTED
            try:
                reply = egress.post(
                    target,
                    address,
                    body,
                    headers,
                    deadline_seconds=self._deadline,
                    connect_timeout=self._connect_timeout,
                    tls=self._tls,
                )
            except (egress.DeadlineExceeded, OSError, HTTPException) as exc:
                logger.warning(
                    "webhook not delivered", host=host, event_id=event_id, error=type(exc).__name__
                )
                return Delivery.RETRY
            outcome = classify(reply.status)
            if subsegment is not None:
                subsegment.put_metadata("status", reply.status, namespace="outdial")
            # (The handler's keys name the call and the event.)
            logger.info("webhook attempt", host=host, status=reply.status, delivery=outcome.value)
            return outcome
