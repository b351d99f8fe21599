"""The one small interface every telephony gateway adapter implements (SPEC §4, Gateways).

A gateway has one job: place a leg (one attempt of one number). ``Gateway.place`` returns once
the gateway has *accepted* the leg; how the leg ended arrives later, as a ``LegEvent``, through
the same path whatever the kind: a real gateway posts it to ``POST /gateway/events/{gateway-id}``,
the simulator hands it to an ``EventSink``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from outdial.models.legs import Leg, LegEvent, LegOutcome

__all__ = [
    "EventSink",
    "Gateway",
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
    leg id it was given as idempotency key."""


class Gateway(Protocol):
    """A telephony gateway adapter."""

    gateway_id: str

    def place(self, leg: Leg) -> None:
        """Hand ``leg`` to the gateway; return once it is accepted.

        Raises ``GatewayRefused`` (never placed, do not retry) or ``GatewayUnavailable``.
        """
        ...


EventSink = Callable[[LegEvent, float], None]
"""Where a gateway that reports in-process (the simulator) delivers ``(event, delay_seconds)``:
the event is due ``delay_seconds`` from now, when the leg would end."""
