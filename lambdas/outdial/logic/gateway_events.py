"""``POST /gateway/events/{gateway-id}``: a gateway reports how a leg ended.

The event is authenticated with the gateway's shared secret and handed to the dialer through
the dial queue, the same path the simulator's events take; the dialer applies it idempotently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from outdial.adapters.config_store import ConfigStore
from outdial.adapters.dial_queue import DialMessage, DialQueue
from outdial.adapters.gateways import LegEvent
from outdial.adapters.gateways.secrets import GatewaySecrets, shared_gateway_secrets
from outdial.models.codes import Code, ContractError
from outdial.models.config import HttpGateway, event_secret_problem, plausible_id
from outdial.observability import logger
from outdial.signatures import InvalidSignature, verify


def _unauthenticated() -> ContractError:
    return ContractError(Code.INVALID_SECURITY_ID, "gateway event not authenticated")


@dataclass
class GatewayEvents:
    config: ConfigStore = field(default_factory=ConfigStore)
    queue: DialQueue = field(default_factory=DialQueue)
    secrets: GatewaySecrets = field(default_factory=shared_gateway_secrets)

    def receive(self, gateway_id: str, raw: bytes, signature: str | None, now: int) -> LegEvent:
        """Verify and queue one event. An unknown or disabled gateway, a secret too short to
        trust and a bad signature all get the same answer (401, 202), so that answers tell a
        stranger nothing about which gateway ids exist."""
        gateway = self.config.get_gateway(gateway_id) if plausible_id(gateway_id) else None
        if not isinstance(gateway, HttpGateway) or not gateway.enabled:
            logger.info("gateway event refused: no such enabled http gateway")
            raise _unauthenticated()
        secret = self.secrets.get(gateway.secret_id).event_secret
        if event_secret_problem(secret):
            logger.error(
                "gateway event refused: the gateway's event-secret is too short",
                gateway_id=gateway_id,
            )
            raise _unauthenticated()
        try:
            verify(signature, secret, raw, now)
        except InvalidSignature as error:
            logger.info("gateway event refused", gateway_id=gateway_id, reason=str(error))
            raise _unauthenticated() from None
        try:
            event = LegEvent.from_json(gateway_id, raw)
        except ValueError as error:
            raise ContractError(Code.INVALID_FORMAT, str(error)) from None
        self.queue.send([DialMessage(gateway_id=gateway_id, event=event.to_dict())])
        logger.info("gateway event queued", leg_id=event.leg_id, outcome=event.outcome.value)
        return event
