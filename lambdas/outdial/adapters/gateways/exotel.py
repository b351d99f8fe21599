"""Exotel (SPEC §8, kind ``exotel``): voice v1's "connect a number to a call flow" over plain HTTPS.

Placing: ``POST {api-base}/v1/Accounts/{account-sid}/Calls/connect.json`` (form, Basic auth
api-key:api-token): ``From`` is the number dialled, ``CallerId`` the DID, ``Url`` the flow,
``CallType=trans``, ``TimeOut`` (ring seconds, at most 60), ``TimeLimit``, ``StatusCallback``
and the call's keys as JSON in ``CustomField``. Its answer's ``Call.Sid`` is the leg's reference.

Exotel does not sign its callbacks. So the callback URL carries a per-leg token (HMAC-SHA256 of
the leg id keyed with the gateway's event-secret, which only outdial knows), and the outcome is
taken from Exotel's own record of the call (``GET …/Calls/{CallSid}.json``), never from the
callback body: a forged body can at most make outdial ask Exotel about a call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import quote, urlencode

from outdial.adapters.gateways.base import Leg, LegEvent, LegOutcome
from outdial.adapters.gateways.callback import (
    LEG_PARAMETER,
    Callback,
    CallbackMalformed,
    CallbackRefused,
    OutcomeNotConfirmed,
)
from outdial.adapters.gateways.carrier import CarrierAdapter, flow_variables
from outdial.adapters.gateways.carrier_client import CarrierAnswer
from outdial.models.config import ExotelGateway
from outdial.observability import logger

TOKEN_PARAMETER = "token"

OUTCOMES = {
    "completed": LegOutcome.ANSWERED,
    "busy": LegOutcome.BUSY,
    "no-answer": LegOutcome.NO_ANSWER,
    "failed": LegOutcome.FAILED,
    "canceled": LegOutcome.FAILED,
}
"""Exotel's final call statuses; queued, ringing and in-progress are not final."""


def leg_token(event_secret: str, leg_id: str) -> str:
    """The token in a leg's callback URL: hex HMAC-SHA256(event-secret, leg id)."""
    return hmac.new(event_secret.encode(), leg_id.encode(), hashlib.sha256).hexdigest()


def _int(value: object) -> int | None:
    try:
        return max(int(float(str(value))), 0)
    except (TypeError, ValueError):
        return None


class ExotelGatewayAdapter(CarrierAdapter[ExotelGateway]):
    """Places legs with Exotel, reads their state back, and checks callbacks against it."""

    kind = "exotel"
    outcomes = OUTCOMES

    def _calls_url(self) -> str:
        return f"{self._config.api_root}/v1/Accounts/{self._config.account_sid}/Calls"

    def callback_url(self, leg_id: str) -> str:
        """The status callback URL of ``leg_id``, with its token."""
        token = leg_token(self._client.credential("event-secret"), leg_id)
        return self._config.callback_url(urlencode({LEG_PARAMETER: leg_id, TOKEN_PARAMETER: token}))

    def _send(self, method: str, url: str, body: Any = None) -> CarrierAnswer:
        user = self._client.credential("api-key")
        password = self._client.credential("api-token")
        return self._client.send(method, url, user, password, form=body)

    def place(self, leg: Leg) -> str | None:
        """POST the call; its ``Call.Sid``. 4xx refused, 429 rate-limited, else unknown."""
        form = [
            ("From", leg.to_number),
            ("CallerId", leg.from_did),
            ("Url", str(self._config.flow_url)),
            ("CallType", "trans"),
            ("TimeOut", str(self._config.ring_seconds)),
            ("TimeLimit", str(leg.max_call_seconds)),
            ("StatusCallback", self.callback_url(leg.leg_id)),
            ("StatusCallbackContentType", "application/json"),
            ("CustomField", json.dumps(flow_variables(leg.variables), separators=(",", ":"))),
        ]
        answer = self._send("POST", f"{self._calls_url()}/connect.json", form)
        if 200 <= answer.status < 300:
            data = answer.json()
            call = data.get("Call") if isinstance(data, dict) else None
            sid = call.get("Sid") if isinstance(call, dict) else None
            logger.debug("exotel accepted leg", gateway_id=self.gateway_id, leg_id=leg.leg_id)
            return str(sid) if sid else None
        raise self._client.placing_failed(answer, leg, rate_limited=answer.status == 429)

    def status(self, leg: Leg) -> LegEvent | None:
        """``GET …/Calls/{sid}.json``: Exotel's record of the call, if it has ended."""
        if not leg.gateway_ref:
            return None
        return self._confirmed(leg.leg_id, leg.gateway_ref, fallback_duration=None)

    def _confirmed(self, leg_id: str, sid: str, fallback_duration: int | None) -> LegEvent | None:
        data = self.lookup(leg_id, f"{self._calls_url()}/{quote(sid, safe='')}.json")
        call = data.get("Call") if isinstance(data, dict) else None
        if not isinstance(call, dict):
            return None
        # Exotel fills a call's details in minutes after it ends: until then the callback's
        # duration stands in for the record's.
        duration = _int(call.get("Duration"))
        if duration is None:
            duration = fallback_duration or 0
        return self.final_event(leg_id, str(call.get("Sid") or sid), call.get("Status"), duration)

    def receive(self, callback: Callback, known_ref: str | None) -> LegEvent | None:
        """A callback whose URL token is the leg's: the outcome Exotel's lookup confirms, None
        for a non-final one; ``OutcomeNotConfirmed`` while the lookup does not say it ended."""
        leg_id = callback.leg_id
        expected = leg_token(self._client.credential("event-secret"), leg_id)
        presented = callback.query_value(TOKEN_PARAMETER) or ""
        if not hmac.compare_digest(expected.encode(), presented.encode()):
            raise CallbackRefused("callback token is not the leg's")
        sid, status = callback.param("CallSid"), callback.param("Status")
        if not sid or not status:
            raise CallbackMalformed("callback lacks CallSid or Status")
        if known_ref and sid != known_ref:
            raise CallbackRefused("callback's CallSid is not the leg's call")
        if status not in OUTCOMES:
            return None
        duration = _int(callback.param("ConversationDuration") or callback.param("Duration"))
        event = self._confirmed(leg_id, sid, fallback_duration=duration)
        if event is None:
            raise OutcomeNotConfirmed(f"exotel does not confirm call {sid} has ended")
        return event
