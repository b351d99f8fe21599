"""Telephony gateways: one adapter per kind behind the ``Gateway`` interface (SPEC §4, §8)."""

from __future__ import annotations

import urllib3

from outdial.adapters.gateways.base import (
    EventSink,
    Gateway,
    GatewayRateLimited,
    GatewayRefused,
    GatewayUnavailable,
    Leg,
    LegEvent,
    LegOutcome,
)
from outdial.adapters.gateways.callback import (
    Callback,
    CallbackMalformed,
    CallbackRefused,
    OutcomeNotConfirmed,
)
from outdial.adapters.gateways.exotel import ExotelGatewayAdapter
from outdial.adapters.gateways.http import HttpGatewayAdapter
from outdial.adapters.gateways.plivo import NonceLedger, PlivoGatewayAdapter
from outdial.adapters.gateways.secrets import GatewaySecrets
from outdial.adapters.gateways.simulator import SimulatorGatewayAdapter
from outdial.adapters.gateways.twilio import TwilioGatewayAdapter
from outdial.models.config import (
    AnyGateway,
    ExotelGateway,
    HttpGateway,
    PlivoGateway,
    SimulatorGateway,
    TwilioGateway,
)

CarrierGatewayAdapter = TwilioGatewayAdapter | PlivoGatewayAdapter | ExotelGatewayAdapter

__all__ = [
    "Callback",
    "CallbackMalformed",
    "CallbackRefused",
    "CarrierGatewayAdapter",
    "EventSink",
    "ExotelGatewayAdapter",
    "Gateway",
    "GatewayRateLimited",
    "GatewayRefused",
    "GatewayUnavailable",
    "HttpGatewayAdapter",
    "Leg",
    "LegEvent",
    "LegOutcome",
    "OutcomeNotConfirmed",
    "PlivoGatewayAdapter",
    "SimulatorGatewayAdapter",
    "TwilioGatewayAdapter",
    "build_carrier",
    "build_gateway",
]


def build_carrier(
    config: TwilioGateway | PlivoGateway | ExotelGateway,
    *,
    secrets: GatewaySecrets | None = None,
    pool: urllib3.PoolManager | None = None,
    nonces: NonceLedger | None = None,
) -> CarrierGatewayAdapter:
    """The adapter of a carrier gateway (``nonces`` is where Plivo's callback nonces are kept)."""
    if isinstance(config, TwilioGateway):
        return TwilioGatewayAdapter(config, secrets=secrets, pool=pool)
    if isinstance(config, PlivoGateway):
        return PlivoGatewayAdapter(config, secrets=secrets, pool=pool, nonces=nonces)
    return ExotelGatewayAdapter(config, secrets=secrets, pool=pool)


def build_gateway(
    config: AnyGateway,
    emit: EventSink,
    *,
    secrets: GatewaySecrets | None = None,
    pool: urllib3.PoolManager | None = None,
) -> Gateway:
    """The adapter for ``config``'s kind.

    ``emit`` receives the simulator's events; the other kinds post theirs to the events route,
    so they ignore ``emit``. ``secrets`` and ``pool`` default to process-wide shared ones.
    """
    if isinstance(config, SimulatorGateway):
        return SimulatorGatewayAdapter(config, emit)
    if isinstance(config, HttpGateway):
        return HttpGatewayAdapter(config, secrets=secrets, pool=pool)
    return build_carrier(config, secrets=secrets, pool=pool)
