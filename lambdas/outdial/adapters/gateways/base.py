"""The one small interface every telephony gateway adapter implements (SPEC §4, Gateways).

A gateway has one job: place a leg (one attempt of one number). ``Gateway.place`` returns once
the gateway has *accepted* the leg; how the leg ended arrives later, as a ``LegEvent``, through
the same path whatever the kind: a real gateway posts it to ``POST /gateway/events/{gateway-id}``,
the simulator hands it to an ``EventSink``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from outdial.models import safe_json


class LegOutcome(StrEnum):
    """How a placed leg ended, as the gateway reports it."""

    ANSWERED = "ANSWERED"
    NO_ANSWER = "NO_ANSWER"
    BUSY = "BUSY"
    FAILED = "FAILED"  # placed, but the network could not complete it
    # Never reported, and the gateway could not say when asked past the leg's deadline (SPEC
    # §11): outdial's own verdict, never one a gateway may post.
    UNKNOWN = "UNKNOWN"


REPORTABLE_OUTCOMES = frozenset(o for o in LegOutcome if o is not LegOutcome.UNKNOWN)


class GatewayRefused(Exception):
    """The gateway refused this leg (a 4xx, or the simulator's digit 9).

    The leg was never placed and never will be: it counts as FAILED and is not retried.
    """


class GatewayUnavailable(Exception):
    """The gateway could not be reached, or kept failing (transport errors, 5xx, 429) after
    every retry. Whether the leg was placed is unknown; the gateway dedupes a later retry by the
    leg id it was given as idempotency key (the carriers, which have no such key, are never
    asked again: their state query finds out)."""


class GatewayRateLimited(Exception):
    """The gateway answered with a rate limit (HTTP 429, Twilio 20429): the leg was not placed
    and should wait, ``retry_after`` seconds if the gateway said, then be placed again. Never a
    FAILED leg."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Leg:
    """One dial: attempt ``attempt`` (1-based) of call ``call_id`` to its number ``number_index``
    (0-based). ``leg_id`` is unique per (call, attempt, number) and is the idempotency key.

    ``ring_seconds`` is how long the gateway should ring before giving up (NO_ANSWER);
    ``callback_url`` is where the gateway posts the outcome (None when it is configured there;
    the carriers build theirs from ``callback-base-url``). ``max_call_seconds`` is where the
    gateway should cut a connected leg. ``gateway_ref`` is the gateway's own id for the leg
    (what ``place`` returned), known once it was placed.
    """

    leg_id: str
    call_id: str
    attempt: int
    number_index: int
    from_did: str
    to_number: str
    variables: dict[str, str]
    ring_seconds: float
    callback_url: str | None = None
    max_call_seconds: int = 3600
    gateway_ref: str | None = None
    placed_at: datetime | None = None  # known once the leg was placed (for ``status``)


EVENT_FIELDS = ("event-id", "leg-id", "outcome", "duration-seconds", "started-at", "ended-at")
"""The keys of a gateway event's JSON body (unknown extra keys are ignored)."""

_MAX_ID_LENGTH = 256
# A day: no call lasts longer (and DynamoDB numbers hold 38 digits, not any integer).
MAX_DURATION_SECONDS = 24 * 3600


@dataclass(frozen=True)
class LegEvent:
    """How a leg ended, reported by gateway ``gateway_id``.

    ``started_at`` is when the leg was placed, ``ended_at`` when it ended (both aware);
    ``duration_seconds`` is the talk time (0 unless ANSWERED). ``event_id`` is the gateway's id
    for this report: a repeated delivery carries the same one, so duplicates can be dropped.
    """

    gateway_id: str
    leg_id: str
    outcome: LegOutcome
    duration_seconds: int
    started_at: datetime
    ended_at: datetime
    event_id: str

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None or self.ended_at.tzinfo is None:
            raise ValueError("started-at and ended-at must carry a UTC offset")
        if self.ended_at < self.started_at:
            raise ValueError("ended-at is before started-at")
        if self.duration_seconds < 0:
            raise ValueError("duration-seconds must not be negative")

    def to_dict(self) -> dict[str, Any]:
        """The body a gateway posts to ``POST /gateway/events/{gateway-id}`` (the id is in the
        path, not the body)."""
        return {
            "event-id": self.event_id,
            "leg-id": self.leg_id,
            "outcome": self.outcome.value,
            "duration-seconds": self.duration_seconds,
            "started-at": self.started_at.isoformat(),
            "ended-at": self.ended_at.isoformat(),
        }

    def to_json(self) -> str:
        """``to_dict`` as compact JSON."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, gateway_id: str, body: str | bytes) -> LegEvent:
        """Parse a gateway event body posted for ``gateway_id``; ValueError says what is wrong."""
        try:
            data = safe_json.loads(body)
        except safe_json.UnsafeJson as exc:
            raise ValueError(f"event body: {exc}") from exc
        return cls.from_dict(gateway_id, data)

    @classmethod
    def from_dict(cls, gateway_id: str, data: Any) -> LegEvent:
        """Like ``from_json`` for an already parsed body."""
        if not isinstance(data, dict):
            raise ValueError("event body must be a JSON object")
        missing = [key for key in EVENT_FIELDS if key not in data]
        if missing:
            raise ValueError(f"event lacks {', '.join(missing)}")
        outcome = data["outcome"]
        if not isinstance(outcome, str) or outcome not in REPORTABLE_OUTCOMES:
            raise ValueError(
                f"outcome must be one of {', '.join(sorted(REPORTABLE_OUTCOMES))}, not {outcome!r}"
            )
        duration = data["duration-seconds"]
        # bool is an int in Python, but true is no duration.
        if (
            not isinstance(duration, int)
            or isinstance(duration, bool)
            or not 0 <= duration <= MAX_DURATION_SECONDS
        ):
            raise ValueError(
                f"duration-seconds must be an integer from 0 to {MAX_DURATION_SECONDS}"
            )
        return cls(
            gateway_id=gateway_id,
            leg_id=_identifier(data, "leg-id"),
            outcome=LegOutcome(outcome),
            duration_seconds=duration,
            started_at=_timestamp(data, "started-at"),
            ended_at=_timestamp(data, "ended-at"),
            event_id=_identifier(data, "event-id"),
        )


def _identifier(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_ID_LENGTH:
        raise ValueError(f"{key} must be a non-empty string of at most {_MAX_ID_LENGTH} chars")
    return value


def _timestamp(data: dict[str, Any], key: str) -> datetime:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{key} {value!r} is not ISO-8601") from exc
    if moment.tzinfo is None:
        raise ValueError(f"{key} {value!r} has no UTC offset")
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{key} {value!r} is out of range") from None
    return moment


class Gateway(Protocol):
    """A telephony gateway adapter."""

    gateway_id: str

    def place(self, leg: Leg) -> str | None:
        """Hand ``leg`` to the gateway; return once it is accepted, with the gateway's own id for
        the leg when it has one (a carrier's call sid), which ``status`` needs later.

        Raises ``GatewayRefused`` (never placed, do not retry), ``GatewayRateLimited`` (not
        placed: wait, then place again) or ``GatewayUnavailable`` (placement unknown).
        """
        ...

    def status(self, leg: Leg) -> LegEvent | None:
        """How ``leg`` ended, asked of the gateway once its outcome is overdue (SPEC §11);
        None when the gateway cannot say (unknown leg, still running, unreachable)."""
        ...


EventSink = Callable[[LegEvent, float], None]
"""Where a gateway that reports in-process (the simulator) delivers ``(event, delay_seconds)``:
the event is due ``delay_seconds`` from now, when the leg would end."""
