"""Telephony gateways: one adapter per kind behind the ``Gateway`` interface (SPEC §4)."""

from __future__ import annotations

import urllib3

from outdial.adapters.gateways.base import (
    EventSink,
    Gateway,
    GatewayRefused,
    GatewayUnavailable,
    Leg,
    LegEvent,
    LegOutcome,
)
from outdial.adapters.gateways.http import HttpGatewayAdapter
from outdial.adapters.gateways.secrets import GatewaySecrets
from outdial.adapters.gateways.simulator import SimulatorGatewayAdapter
from outdial.models.config import HttpGateway, SimulatorGateway

__all__ = [
    "EventSink",
    "Gateway",
    "GatewayRefused",
    "GatewayUnavailable",
    "HttpGatewayAdapter",
    "Leg",
    "LegEvent",
    "LegOutcome",
    "SimulatorGatewayAdapter",
    "build_gateway",
]


def build_gateway(
    config: SimulatorGateway | HttpGateway,
    emit: EventSink,
    *,
    secrets: GatewaySecrets | None = None,
    pool: urllib3.PoolManager | None = None,
) -> Gateway:
    """The adapter for ``config``'s kind.

    ``emit`` receives the simulator's events; an http gateway posts its own to the events route,
    so it ignores ``emit``. ``secrets`` and ``pool`` default to process-wide shared ones.
    """
    if isinstance(config, SimulatorGateway):
        return SimulatorGatewayAdapter(config, emit)
    if isinstance(config, HttpGateway):
        return HttpGatewayAdapter(config, secrets=secrets, pool=pool)
    raise ValueError(f"no adapter for gateway kind {getattr(config, 'kind', None)!r}")
