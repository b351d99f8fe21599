"""The simulated gateway of SPEC §4: the number's last digit decides the outcome."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from outdial.adapters.gateways.base import (
    EventSink,
    GatewayRefused,
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
        """Accept ``leg`` and emit its outcome; raises ``GatewayRefused`` for a last digit 9."""
        outcome = simulated_outcome(leg.to_number)
        if outcome is None:
            logger.info(
                "simulator refused leg",
                gateway_id=self.gateway_id,
                leg_id=leg.leg_id,
                to=mask(leg.to_number),
            )
            raise GatewayRefused(f"simulator refuses numbers ending in 9 (leg {leg.leg_id})")
        talk = TALK_SECONDS if outcome is LegOutcome.ANSWERED else 0
        delay = self._ring_seconds + talk
        started = self._clock()
        event = LegEvent(
            gateway_id=self.gateway_id,
            leg_id=leg.leg_id,
            outcome=outcome,
            duration_seconds=talk,
            started_at=started,
            ended_at=started + timedelta(seconds=delay),
            event_id=f"sim-{leg.leg_id}",
        )
        logger.info(
            "simulator placed leg",
            gateway_id=self.gateway_id,
            leg_id=leg.leg_id,
            to=mask(leg.to_number),
            outcome=outcome.value,
            delay_seconds=delay,
            placed_at=started.isoformat(timespec="milliseconds"),
        )
        self._emit(event, delay)
        return None

    def status(self, leg: Leg) -> LegEvent | None:
        """The simulator keeps no state: it cannot say."""
        return None
