"""``POST /gateway/events/{gateway-id}``: a gateway reports how a leg ended.

The event is authenticated with the gateway's shared secret and handed to the dialer through
the dial queue, the same path the simulator's events take; the dialer applies it idempotently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from outdial.adapters.calls_store import CallsStore, leg_pk
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.dial_queue import DialMessage, DialQueue
from outdial.adapters.gateways import LegEvent
from outdial.adapters.gateways.secrets import GatewaySecrets, shared_gateway_secrets
from outdial.models.codes import Code, ContractError
from outdial.models.config import HttpGateway
from outdial.observability import logger
from outdial.signatures import InvalidSignature, verify


@dataclass
class GatewayEvents:
    config: ConfigStore = field(default_factory=ConfigStore)
    queue: DialQueue = field(default_factory=DialQueue)
    secrets: GatewaySecrets = field(default_factory=shared_gateway_secrets)
    calls: CallsStore = field(default_factory=CallsStore)

    def receive(self, gateway_id: str, raw: bytes, signature: str | None, now: int) -> LegEvent:
        gateway = self.config.get_gateway(gateway_id)
        if not isinstance(gateway, HttpGateway) or not gateway.enabled:
            raise ContractError(Code.INVALID_GATEWAY_ID, f"no enabled http gateway {gateway_id!r}")
        secret = self.secrets.get(gateway.secret_id).event_secret
        try:
            verify(signature, secret, raw, now)
        except InvalidSignature as error:
            raise ContractError(Code.INVALID_SECURITY_ID, f"event signature: {error}") from None
        try:
            event = LegEvent.from_json(gateway_id, raw)
        except ValueError as error:
            raise ContractError(Code.INVALID_FORMAT, str(error)) from None
        leg = self.calls.get(leg_pk(event.leg_id))
        if leg is not None and leg.get("gateway-id") not in (None, gateway_id):
            # Only the gateway that placed a leg may end it (SPEC §11): another gateway's secret
            # proves nothing about this leg, so it is answered as a bad signature would be.
            raise ContractError(Code.INVALID_SECURITY_ID, "the leg was not placed by this gateway")
        self.queue.send([DialMessage(gateway_id=gateway_id, event=event.to_dict())])
        logger.info("gateway event queued", leg_id=event.leg_id, outcome=event.outcome.value)
        return event
