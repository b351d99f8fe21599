"""The simulated gateway of SPEC §4 and §8: the number's last digit decides the outcome.

``9`` refuses the leg; ``7`` BUSY, ``8`` NO_ANSWER; ``6`` accepts it and never reports (asked,
it does not know); ``5`` lets the placing request time out although the leg rings and is
ANSWERED; anything else is ANSWERED.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from outdial.adapters.gateways.base import (
    EventSink,
    GatewayRefused,
    GatewayUnavailable,
    Leg,
    LegEvent,
    LegOutcome,
)
from outdial.models.config import SimulatorGateway
from outdial.models.phone import mask
from outdial.observability import logger

TALK_SECONDS = 5
"""How long an answered simulated leg talks."""

_OUTCOME_BY_LAST_DIGIT = {"7": LegOutcome.BUSY, "8": LegOutcome.NO_ANSWER}
_REFUSING_DIGIT = "9"
_SILENT_DIGIT = "6"  # accepted, never reported, unknown when asked
_TIMING_OUT_DIGIT = "5"  # the placing request times out, yet the leg is answered


def _utcnow() -> datetime:
    return datetime.now(UTC)


def simulated_outcome(number: str) -> LegOutcome | None:
    """The outcome the simulator gives ``number``; None means it refuses to dial it."""
    digit = number[-1:]
    if digit == _REFUSING_DIGIT:
        return None
    return _OUTCOME_BY_LAST_DIGIT.get(digit, LegOutcome.ANSWERED)


class SimulatorGatewayAdapter:
    """Places legs nowhere and reports, through ``emit``, the event a real gateway would post.

    Every leg rings for the gateway's ``ring-seconds``; an answered one then talks for
    ``TALK_SECONDS``. The event is emitted with the delay after which the leg would have ended,
    so the sink can deliver it then (a delayed queue message, a timer). Its ``event_id`` is
    derived from the leg id: placing the same leg twice emits the same event id, which the
    event path drops as a duplicate, just as it would a real gateway's repeated post.
    """

    def __init__(
        self,
        config: SimulatorGateway,
        emit: EventSink,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.gateway_id = config.gateway_id
        self._ring_seconds = float(config.ring_seconds)
        self._emit = emit
        self._clock = clock

    def place(self, leg: Leg) -> str | None:
        """Accept ``leg`` and emit its outcome; raises ``GatewayRefused`` for a last digit 9 and
        ``GatewayUnavailable`` for a 5 (after emitting its outcome all the same). The simulator
        keeps no reference of its own: None."""
        outcome = simulated_outcome(leg.to_number)
        keys: dict[str, Any] = {
            "gateway_id": self.gateway_id,
            "leg_id": leg.leg_id,
            "to": mask(leg.to_number),
        }
        if outcome is None:
            logger.debug("simulator refused leg", **keys)
            raise GatewayRefused(f"simulator refuses numbers ending in 9 (leg {leg.leg_id})")
        digit = leg.to_number[-1:]
        if digit == _SILENT_DIGIT:
            logger.debug("simulator placed leg; it will never report", **keys)
            return None
        event = self._event(leg, outcome, self._clock())
        delay = (event.ended_at - event.started_at).total_seconds()
        logger.debug(  # the dialer logs each placement at INFO ("leg placed")
            "simulator placed leg",
            outcome=outcome.value,
            delay_seconds=delay,
            placed_at=event.started_at.isoformat(timespec="milliseconds"),
            **keys,
        )
        self._emit(event, delay)
        if digit == _TIMING_OUT_DIGIT:
            raise GatewayUnavailable(f"simulated timeout placing leg {leg.leg_id}")
        return None

    def status(self, leg: Leg) -> LegEvent | None:
        """What the simulator would have reported for ``leg`` (placed at ``leg.placed_at``, or
        now); None for a silent number (6) or one it refuses (9)."""
        outcome = simulated_outcome(leg.to_number)
        if outcome is None or leg.to_number[-1:] == _SILENT_DIGIT:
            return None
        return self._event(leg, outcome, leg.placed_at or self._clock())

    def _event(self, leg: Leg, outcome: LegOutcome, started: datetime) -> LegEvent:
        """The leg's outcome event; its id derives from the leg id, so a repeat is a duplicate."""
        talk = TALK_SECONDS if outcome is LegOutcome.ANSWERED else 0
        return LegEvent(
            gateway_id=self.gateway_id,
            leg_id=leg.leg_id,
            outcome=outcome,
            duration_seconds=talk,
            started_at=started,
            ended_at=started + timedelta(seconds=self._ring_seconds + talk),
            event_id=f"sim-{leg.leg_id}",
        )
