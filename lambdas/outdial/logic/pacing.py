"""Pacing legs to a gateway's calls-per-second, across every dialer (SPEC §8).

A leg may be handed to a gateway only in a second whose slots (``calls-per-second`` of them, per
gateway, in DynamoDB) are not all taken. A leg refused a slot learns its place in line among the
legs refused in that second and comes back that many seconds' worth of slots later (its call
is put back on the dial queue with that delay), so a burst spreads over the seconds ahead
instead of every leg retrying each second.

A slot is taken only early enough in its second that the placing request leaves within it: in
the last ``margin`` of a second the leg waits for the next one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from outdial.adapters.pace import PaceStore
from outdial.models.config import AnyGateway
from outdial.observability import count, logger

MARGIN_SECONDS = 0.15


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
        limit = gateway.calls_per_second
        if limit is None:
            return 0
        now = self.clock()
        second = math.floor(now)
        if now - second > 1 - self.margin:
            self.sleep(second + 1 - now)
            second += 1
        if self.store.take(gateway.gateway_id, second, limit):
            return 0
        position = self.store.wait_in_line(gateway.gateway_id, second)
        wait = max(1, math.ceil(position / limit))
        count("LegsPaced", 1, gateway_id=gateway.gateway_id)
        logger.info("leg waits for pace", gateway_id=gateway.gateway_id, wait_seconds=wait)
        return wait
