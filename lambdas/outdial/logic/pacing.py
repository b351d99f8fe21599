"""Pacing legs to a gateway's calls-per-second, across every dialer (SPEC §8).

Time is cut into windows (a second, or for a rate below one a second as many seconds as one
call needs) and each window of each gateway has slots in DynamoDB: as many as the rate allows
in it, rounded down, so no second ever holds more legs than the rate. A leg may be handed to the
gateway only after taking a slot of the current window. A leg refused a slot learns its place in
line among the legs refused in that window and comes back that many windows' worth of slots
later (its call is put back on the dial queue with that delay), so a burst spreads over the
seconds ahead instead of every leg retrying each second.

A slot is taken only early enough in its window that the placing request leaves within it: in
the last ``margin`` of a window the leg waits for the next one, and so does a leg whose slot
was granted only after its window ended.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from outdial.adapters.pace import PaceStore
from outdial.contract import Metric
from outdial.models.config import AnyGateway
from outdial.observability import count, logger

MARGIN_SECONDS = 0.15


def window(calls_per_second: float) -> tuple[int, int]:
    """(window length in seconds, slots in a window) for a rate."""
    length = 1 if calls_per_second >= 1 else math.ceil(1 / calls_per_second - 1e-9)
    return length, max(1, math.floor(calls_per_second * length + 1e-9))


@dataclass
class Pacer:
    """Admits legs to gateways at their calls-per-second."""

    store: PaceStore = field(default_factory=PaceStore)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    margin: float = MARGIN_SECONDS

    def admit(self, gateway: AnyGateway) -> int:
        """0 when a leg may be placed through ``gateway`` now; otherwise how many seconds it
        should wait before asking again."""
        rate = gateway.calls_per_second
        if rate is None:
            return 0
        length, slots = window(rate)
        now = self.clock()
        start = math.floor(now / length) * length
        if now - start > length - self.margin:
            self.sleep(start + length - now)
            start += length
        if self.store.take(gateway.gateway_id, start, slots):
            if self.clock() < start + length:
                return 0
            # The window ended while its slot was being taken (a slow answer, a busy CPU: a
            # dial group's legs contend for it): placed now, the leg would count in the next
            # window, over its slots. The slot goes unused; the leg waits for the next window.
            count(Metric.LEGS_PACED, 1, gateway_id=gateway.gateway_id)
            logger.info(
                "slot taken too late in its window; leg waits", gateway_id=gateway.gateway_id
            )
            return length
        position = self.store.wait_in_line(gateway.gateway_id, start)
        wait = max(1, math.ceil(position / slots)) * length
        count(Metric.LEGS_PACED, 1, gateway_id=gateway.gateway_id)
        logger.info("leg waits for pace", gateway_id=gateway.gateway_id, wait_seconds=wait)
        return wait
