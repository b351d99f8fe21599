"""``POST /gateway/events/{gateway-id}``: a gateway reports how a leg ended.

An http gateway posts outdial's own JSON event, signed with its shared secret. A carrier posts
its own callback (SPEC §8), checked its own way: Twilio's and Plivo's signatures, Exotel's
per-leg token and a lookup of the call. Either way a final outcome is handed to the dialer
through the outcome queue, the same path the simulator's events take, and the dialer applies it
once; a non-final callback (ringing, in progress) is acknowledged and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from outdial.adapters.call_reads import CallReads
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.dial_queue import DialMessage, DialQueue, OutcomeQueue
from outdial.adapters.errors import AdapterError, EnqueueError
from outdial.adapters.gateways import (
    Callback,
    CallbackMalformed,
    CallbackRefused,
    OutcomeNotConfirmed,
    build_carrier,
)
from outdial.adapters.gateways.plivo import NONCE_HEADER
from outdial.adapters.gateways.secrets import GatewaySecrets, shared_gateway_secrets
from outdial.adapters.nonces import NonceStore
from outdial.logic.ports import CallReader
from outdial.models.codes import Code, ContractError
from outdial.models.config import (
    ExotelGateway,
    HttpGateway,
    PlivoGateway,
    TwilioGateway,
    event_secret_problem,
    plausible_id,
)
from outdial.models.legs import LegEvent
from outdial.observability import logger
from outdial.signatures import GATEWAY_SIGNATURE_HEADER, InvalidSignature, verify


def _unauthenticated() -> ContractError:
    return ContractError(Code.INVALID_SECURITY_ID, "gateway event not authenticated")


@dataclass
class GatewayEvents:
    config: ConfigStore = field(default_factory=ConfigStore)
    queue: DialQueue = field(default_factory=OutcomeQueue)
    secrets: GatewaySecrets = field(default_factory=shared_gateway_secrets)
    reads: CallReader = field(default_factory=CallReads)
    nonces: NonceStore = field(default_factory=NonceStore)

    def receive(self, gateway_id: str, post: Callback, now: int) -> LegEvent | None:
        """A post to the events route, read as the gateway's kind says: its final outcome queued
        for the dialer, or None for a carrier's non-final callback. An unknown or disabled
        gateway, a secret too short to trust and a bad signature all get the same answer (401,
        202), so that answers tell a stranger nothing about which gateway ids exist."""
        gateway = self.config.get_gateway(gateway_id) if plausible_id(gateway_id) else None
        if isinstance(gateway, TwilioGateway | PlivoGateway | ExotelGateway) and gateway.enabled:
            return self._carrier_callback(gateway, post)
        if not isinstance(gateway, HttpGateway) or not gateway.enabled:
            logger.info("gateway event refused: no such enabled gateway")
            raise _unauthenticated()
        secret = self.secrets.get(gateway.secret_id).event_secret
        if event_secret_problem(secret):
            logger.error(
                "gateway event refused: the gateway's event-secret is too short",
                gateway_id=gateway_id,
            )
            raise _unauthenticated()
        try:
            verify(post.header(GATEWAY_SIGNATURE_HEADER), secret, post.body, now)
        except InvalidSignature as error:
            logger.info("gateway event refused", gateway_id=gateway_id, reason=str(error))
            raise _unauthenticated() from None
        try:
            event = LegEvent.from_json(gateway_id, post.body)
        except ValueError as error:
            raise ContractError(Code.INVALID_FORMAT, str(error)) from None
        leg = self.reads.leg(event.leg_id)
        if leg is not None and leg.gateway_id not in (None, gateway_id):
            # Only the gateway that placed a leg may end it (SPEC §11): another gateway's secret
            # proves nothing about this leg, so it is answered as a bad signature would be.
            logger.info("gateway event refused: the leg was not placed by this gateway")
            raise _unauthenticated()
        self.queue.send([DialMessage(gateway_id=gateway_id, event=event.to_dict())])
        logger.info("gateway event queued", leg_id=event.leg_id, outcome=event.outcome.value)
        return event

    def _carrier_callback(
        self, gateway: TwilioGateway | PlivoGateway | ExotelGateway, callback: Callback
    ) -> LegEvent | None:
        """A carrier's callback. Raises ``ContractError``: 202 when it is not the carrier's,
        400 when it cannot be read, 500 when Exotel does not confirm it yet (it posts again)."""
        gateway_id = gateway.gateway_id
        carrier = build_carrier(gateway, secrets=self.secrets, nonces=self.nonces)
        try:
            leg = self.reads.leg(callback.leg_id)
            if leg is None or leg.gateway_id not in (None, gateway_id):
                # Not a leg this gateway placed: whatever it says is not ours to apply.
                raise CallbackRefused("no such leg on this gateway")
            event = carrier.receive(callback, leg.gateway_ref)
        except CallbackRefused as error:
            raise ContractError(Code.INVALID_SECURITY_ID, f"callback: {error}") from None
        except CallbackMalformed as error:
            raise ContractError(Code.INVALID_FORMAT, str(error)) from None
        except OutcomeNotConfirmed as error:
            raise ContractError(Code.FAILURE, f"{error}; post it again") from None
        if event is None:
            logger.info("non-final callback acknowledged", leg_id=callback.leg_id)
            return None
        try:
            self.queue.send([DialMessage(gateway_id=gateway_id, event=event.to_dict())])
        except EnqueueError:
            nonce = callback.header(NONCE_HEADER)
            if isinstance(gateway, PlivoGateway) and nonce:
                try:  # so the carrier's next delivery of this callback is not a "replay"
                    self.nonces.forget(gateway_id, nonce)
                except AdapterError:
                    logger.exception("could not forget the nonce of an unqueued callback")
            raise
        logger.info("carrier outcome queued", leg_id=event.leg_id, outcome=event.outcome.value)
        return event
