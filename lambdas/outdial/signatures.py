"""HMAC signatures of HTTP bodies: ``t=<unix seconds>,v1=<hex>`` (SPEC §4).

``<hex>`` is HMAC-SHA256 with the shared secret as key over ``"<t>." + raw body``. The timestamp
is signed with the body so a captured request cannot be replayed later than ``tolerance``.
One scheme serves both directions:

- our webhooks to customers carry ``Outdial-Signature``, keyed by the flow's security-id;
- gateways' outcome events to us carry ``Gateway-Signature``, keyed by the gateway's
  event-secret.

A header may hold several ``v1`` entries (one per secret while a secret is being rotated); it
verifies when any of them matches. Entries of other schemes (``v0=...``) are ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable

OUTDIAL_SIGNATURE_HEADER = "Outdial-Signature"
GATEWAY_SIGNATURE_HEADER = "Gateway-Signature"
DEFAULT_TOLERANCE_SECONDS = 300

_MAX_HEADER_LENGTH = 4096  # a few signatures; anything longer is not ours
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class InvalidSignature(Exception):
    """The signature header is missing, malformed, does not match, or is outside the tolerance."""


def _key(secret: str | bytes) -> bytes:
    return secret if isinstance(secret, bytes) else secret.encode()


def _digest(secret: str | bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The header value signing ``body`` at ``timestamp`` (unix seconds) with ``secret``."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def sign_rotating(secrets: Iterable[str | bytes], body: bytes, timestamp: int) -> str:
    """Like ``sign`` with one ``v1`` entry per secret, for while a secret is being rotated."""
    entries = [f"v1={_digest(secret, body, timestamp)}" for secret in secrets]
    if not entries:
        raise ValueError("at least one secret is needed")
    return ",".join([f"t={timestamp}", *entries])


def sign_standard(keys: Iterable[bytes], message_id: str, body: bytes, timestamp: int) -> str:
    """The Standard Webhooks ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256>`` of
    ``"<id>.<timestamp>.<body>"`` per key, space-separated."""
    content = f"{message_id}.{timestamp}.".encode() + body
    entries = [
        "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        for key in keys
    ]
    if not entries:
        raise ValueError("at least one key is needed")
    return " ".join(entries)


def _parse(header: str) -> tuple[int, list[str]]:
    if len(header) > _MAX_HEADER_LENGTH:
        raise InvalidSignature("signature header too long")
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise InvalidSignature("signature header is not a list of key=value")
        if key == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                raise InvalidSignature("signature header needs exactly one t=<unix seconds>")
            timestamp = int(value)
        elif key == "v1":
            if not _HEX_DIGEST.match(value):
                raise InvalidSignature("v1 must be 64 lowercase hex digits")
            digests.append(value)
    if timestamp is None:
        raise InvalidSignature("signature header lacks t=<unix seconds>")
    if not digests:
        raise InvalidSignature("signature header lacks v1=<hex>")
    return timestamp, digests


def verify(
    header: str | None,
    secret: str | bytes,
    body: bytes,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Return when ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of
    ``now`` (either way: a clock ahead is as suspect as a replay); raise ``InvalidSignature``
    otherwise."""
    if not header:
        raise InvalidSignature("signature header missing")
    timestamp, digests = _parse(header)
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature(f"signature timestamp {timestamp} is outside {tolerance}s of now")
    expected = _digest(secret, body, timestamp)
    # Compare with every entry, not stopping at the first match, so timing says nothing about
    # which entry matched.
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(expected, digest)
    if not matched:
        raise InvalidSignature("signature does not match")
