"""What the three carrier adapters (SPEC §8) share: their config and HTTPS client
(``carrier_client.py``), the state lookup, a final state turned into the leg's outcome, and the
flow URL with the call's keys in its query. Their callbacks are read by ``callback.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import urllib3

from outdial.adapters.gateways.base import (
    GatewayRateLimited,
    GatewayRefused,
    GatewayUnavailable,
    LegEvent,
    LegOutcome,
)
from outdial.adapters.gateways.carrier_client import CarrierAnswer, CarrierClient, utcnow
from outdial.adapters.gateways.secrets import GatewaySecrets, shared_gateway_secrets
from outdial.models.config import ExotelGateway, PlivoGateway, TwilioGateway
from outdial.observability import logger

KEY_PREFIX = "$flow.key."


LOOKUP_ERRORS = (GatewayRefused, GatewayRateLimited, GatewayUnavailable)
"""What a state lookup may raise: each means the carrier did not say."""


def flow_variables(variables: Mapping[str, str]) -> dict[str, str]:
    """The call's keys by bare name: ``$flow.key.name`` → ``name``."""
    return {
        (name[len(KEY_PREFIX) :] if name.startswith(KEY_PREFIX) else name): value
        for name, value in variables.items()
    }


def flow_url_with_keys(flow_url: str, variables: Mapping[str, str]) -> str:
    """``flow_url`` with each key added to its query as ``key.<var>=<value>`` (after whatever
    query the URL already has)."""
    if not variables:
        return flow_url
    parts = urlsplit(flow_url)
    extra = urlencode([(f"key.{name}", value) for name, value in flow_variables(variables).items()])
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def final_event_id(kind: str, call_ref: str, status: str) -> str:
    """A carrier's final report of a call, the same however often it is delivered."""
    return f"{kind}-{call_ref}-{status}"


ConfigT = TypeVar("ConfigT", TwilioGateway, PlivoGateway, ExotelGateway)


class CarrierAdapter(Generic[ConfigT]):
    """What each carrier's adapter is made of: its config, an HTTPS client, its final states."""

    kind: str
    outcomes: Mapping[str, LegOutcome]
    """The carrier's final states (as ``state_key`` folds them) and their outcomes."""

    def __init__(
        self,
        config: ConfigT,
        secrets: GatewaySecrets | None = None,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self.gateway_id = config.gateway_id
        self._config: ConfigT = config
        self._client = CarrierClient(config, secrets or shared_gateway_secrets(), pool)

    def _send(self, method: str, url: str, body: Any = None) -> CarrierAnswer:
        raise NotImplementedError

    @staticmethod
    def state_key(state: object) -> str:
        return str(state or "")

    def lookup(self, leg_id: str, url: str) -> Any:
        """``GET url``'s JSON when the carrier answered 200; None when it did not say."""
        try:
            answer = self._send("GET", url)
        except LOOKUP_ERRORS as error:
            logger.warning("carrier lookup failed", leg_id=leg_id, error=str(error))
            return None
        return answer.json() if answer.status == 200 else None

    def final_event(
        self,
        leg_id: str,
        call_ref: str,
        state: object,
        duration: int,
        ended: datetime | None = None,
    ) -> LegEvent | None:
        """The leg's outcome when ``state`` is final (None otherwise): talk time only when
        answered; ended when the carrier says, else now."""
        key = self.state_key(state)
        outcome = self.outcomes.get(key)
        if outcome is None:
            return None
        talk = duration if outcome is LegOutcome.ANSWERED else 0
        ended = ended or utcnow()
        return LegEvent(
            gateway_id=self.gateway_id,
            leg_id=leg_id,
            outcome=outcome,
            duration_seconds=talk,
            started_at=ended - timedelta(seconds=talk),
            ended_at=ended,
            event_id=final_event_id(self.kind, call_ref, key),
        )
