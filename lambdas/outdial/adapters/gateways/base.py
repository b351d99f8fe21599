"""The one small interface every telephony gateway adapter implements (SPEC §4, Gateways).

A gateway has one job: place a leg (one attempt of one number). ``Gateway.place`` returns once
the gateway has *accepted* the leg; how the leg ended arrives later, as a ``LegEvent``, through
the same path whatever the kind: a real gateway posts it to ``POST /gateway/events/{gateway-id}``,
the simulator hands it to an ``EventSink``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from outdial.models.legs import (
    EVENT_FIELDS,
    MAX_DURATION_SECONDS,
    REPORTABLE_OUTCOMES,
    Leg,
    LegEvent,
    LegOutcome,
)

__all__ = [
    "EVENT_FIELDS",
    "MAX_DURATION_SECONDS",
    "REPORTABLE_OUTCOMES",
    "EventSink",
    "Gateway",
    "GatewayRateLimited",
    "GatewayRefused",
    "GatewayUnavailable",
    "Leg",
    "LegEvent",
    "LegOutcome",
]


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
