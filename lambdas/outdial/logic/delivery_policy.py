"""What becomes of a webhook message after one delivery attempt (SPEC §4: at least once,
retried with backoff): done, tried again later, or dead-lettered. Pure: no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass

from outdial.contract import WEBHOOK_MAX_AGE_SECONDS
from outdial.logic.notify import Notified

BASE_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 2 * 3600


@dataclass(frozen=True)
class Done:
    """Nothing more to do: delivered, or nothing to deliver (no webhook-url, no such call)."""

    delivered: bool


@dataclass(frozen=True)
class DeadLetter:
    """Move the message to the webhook DLQ: the receiver will never take it (``rejected``) or
    has not for 24 h (``expired``)."""

    reason: str


@dataclass(frozen=True)
class Postpone:
    """Hide the message for ``seconds``, then try again."""

    seconds: int


Step = Done | DeadLetter | Postpone


def backoff_seconds(receive_count: int, remaining_seconds: float) -> int:
    """How long the message stays hidden before its next try: ``30 s * 2^(n-1)``, at most 2 h,
    and never past the 24 h deadline (so the last try lands near it, not up to 2 h after)."""
    exponent = min(max(receive_count, 1) - 1, 16)  # 2^16 * 30 s is far past the cap already
    delay = min(BASE_BACKOFF_SECONDS * 2**exponent, MAX_BACKOFF_SECONDS)
    return max(1, min(delay, int(remaining_seconds)))


def next_step(outcome: Notified, receive_count: int, age_seconds: float) -> Step:
    """The step after an attempt that ended in ``outcome``, for a message received
    ``receive_count`` times and sent ``age_seconds`` ago."""
    if outcome is Notified.DELIVERED:
        return Done(delivered=True)
    if outcome in (Notified.NO_WEBHOOK, Notified.NO_CALL):
        return Done(delivered=False)
    if outcome is Notified.REJECTED:
        return DeadLetter("rejected")
    # RETRY or DEFERRED (its account's receiver is failing): back off, until the 24 h are up.
    if age_seconds >= WEBHOOK_MAX_AGE_SECONDS:
        return DeadLetter("expired")
    return Postpone(backoff_seconds(receive_count, WEBHOOK_MAX_AGE_SECONDS - age_seconds))
