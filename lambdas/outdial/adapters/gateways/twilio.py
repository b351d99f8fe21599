"""Twilio (SPEC §8, kind ``twilio``): Programmable Voice's Calls resource over plain HTTPS.

Placing: ``POST {api-base}/2010-04-01/Accounts/{account-sid}/Calls.json`` (form, Basic auth
account-sid:auth-token) with the DID as ``From``, the flow URL (TwiML) as ``Url``, ``Timeout``
(ring seconds), ``TimeLimit`` and a ``StatusCallback`` naming the leg, for the ``completed``
event only. Its answer's ``sid`` is the leg's reference.

Callbacks are signed: ``X-Twilio-Signature`` = base64 HMAC-SHA1(auth-token, URL + each POST
parameter's name and value, sorted). The URL is the one outdial gave Twilio, rebuilt from
``callback-base-url`` (never from the Host header, which the sender controls).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import ParseResult, urlencode, urlparse

from outdial.adapters.gateways.base import Leg, LegEvent, LegOutcome
from outdial.adapters.gateways.callback import (
    LEG_PARAMETER,
    Callback,
    CallbackMalformed,
    CallbackRefused,
)
from outdial.adapters.gateways.carrier import CarrierAdapter, flow_url_with_keys
from outdial.adapters.gateways.carrier_client import CarrierAnswer
from outdial.models.config import TwilioGateway
from outdial.observability import logger

SIGNATURE_HEADER = "X-Twilio-Signature"
RATE_LIMIT_CODE = 20429  # "Too Many Requests", in the error body of an HTTP 429

OUTCOMES = {
    "completed": LegOutcome.ANSWERED,
    "busy": LegOutcome.BUSY,
    "no-answer": LegOutcome.NO_ANSWER,
    "failed": LegOutcome.FAILED,
    "canceled": LegOutcome.FAILED,
}
"""Twilio's final ``CallStatus`` values; any other (queued, ringing, in-progress) is not final."""


# --- the signature, as twilio.request_validator.RequestValidator computes it -------------------


def _with_port(uri: ParseResult) -> str:
    if uri.port:
        return uri.geturl()
    port = 443 if uri.scheme == "https" else 80
    return uri._replace(netloc=f"{uri.netloc}:{port}").geturl()


def _without_port(uri: ParseResult) -> str:
    if not uri.port:
        return uri.geturl()
    return uri._replace(netloc=uri.netloc.split(":")[0]).geturl()


def compute_signature(auth_token: str, url: str, params: Mapping[str, Sequence[str]]) -> str:
    """base64 HMAC-SHA1 over ``url`` + name + value of each parameter, names sorted and, within
    a name, its distinct values sorted (Twilio's reference drops repeated equal values)."""
    text = url
    for name in sorted(params):
        for value in sorted(set(params[name])):
            text += name + value
    digest = hmac.new(auth_token.encode(), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode().strip()


def valid_signature(
    auth_token: str, url: str, params: Mapping[str, Sequence[str]], signature: str | None
) -> bool:
    """True when ``signature`` signs ``url`` and the POST ``params`` with ``auth_token``.

    Like Twilio's ``RequestValidator.validate`` for a form body: the URL is tried with and
    without its port (Twilio signs either form).
    """
    if signature is None:
        return False
    parsed = urlparse(url)
    matched = False
    for candidate in (_without_port(parsed), _with_port(parsed)):
        matched |= hmac.compare_digest(
            compute_signature(auth_token, candidate, params).encode(), signature.encode()
        )
    return matched


# --- the adapter -----------------------------------------------------------------------------


def _int(value: object) -> int:
    try:
        return max(int(str(value)), 0)
    except (TypeError, ValueError):
        return 0


def _moment(value: object) -> datetime | None:
    """Twilio's RFC 2822 timestamps ("Mon, 16 Aug 2010 03:45:01 +0000")."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


class TwilioGatewayAdapter(CarrierAdapter[TwilioGateway]):
    """Places legs with Twilio, reads their state back, and checks Twilio's callbacks."""

    kind = "twilio"
    outcomes = OUTCOMES

    def _calls_url(self) -> str:
        return f"{self._config.api_root}/2010-04-01/Accounts/{self._config.account_sid}/Calls"

    def callback_url(self, leg_id: str) -> str:
        """The status callback URL of ``leg_id``: what Twilio signs."""
        return self._config.callback_url(urlencode({LEG_PARAMETER: leg_id}))

    def _send(self, method: str, url: str, body: Any = None) -> CarrierAnswer:
        token = self._client.credential("auth-token")
        return self._client.send(method, url, self._config.account_sid, token, form=body)

    def place(self, leg: Leg) -> str | None:
        """POST the call; its ``sid``. 4xx refused, 429/20429 rate-limited, else unknown."""
        form = [
            ("To", leg.to_number),
            ("From", leg.from_did),
            ("Url", flow_url_with_keys(str(self._config.flow_url), leg.variables)),
            ("Method", "POST"),
            ("Timeout", str(self._config.ring_seconds)),
            ("TimeLimit", str(leg.max_call_seconds)),
            ("StatusCallback", self.callback_url(leg.leg_id)),
            ("StatusCallbackMethod", "POST"),
            ("StatusCallbackEvent", "completed"),
        ]
        answer = self._send("POST", f"{self._calls_url()}.json", form)
        body = answer.json()
        if 200 <= answer.status < 300:
            sid = body.get("sid") if isinstance(body, dict) else None
            logger.debug("twilio accepted leg", gateway_id=self.gateway_id, leg_id=leg.leg_id)
            return str(sid) if sid else None
        code = body.get("code") if isinstance(body, dict) else None
        limited = answer.status == 429 or code == RATE_LIMIT_CODE
        raise self._client.placing_failed(answer, leg, rate_limited=limited)

    def status(self, leg: Leg) -> LegEvent | None:
        """``GET …/Calls/{sid}.json``: the final state, or None (not ended, unknown sid, no
        answer)."""
        if not leg.gateway_ref:
            return None
        call = self.lookup(leg.leg_id, f"{self._calls_url()}/{leg.gateway_ref}.json")
        if not isinstance(call, dict):
            return None
        return self.final_event(
            leg.leg_id,
            str(call.get("sid") or leg.gateway_ref),
            call.get("status"),
            _int(call.get("duration")),
            _moment(call.get("end_time")),
        )

    def receive(self, callback: Callback, known_ref: str | None) -> LegEvent | None:
        """A signed status callback: its final outcome, or None for a non-final one."""
        leg_id = callback.leg_id
        token = self._client.credential("auth-token")
        if not valid_signature(
            token,
            self.callback_url(leg_id),
            callback.multi_params(),
            callback.header(SIGNATURE_HEADER),
        ):
            raise CallbackRefused("X-Twilio-Signature does not match")
        sid, status = callback.param("CallSid"), callback.param("CallStatus")
        if not sid or not status:
            raise CallbackMalformed("callback lacks CallSid or CallStatus")
        if known_ref and sid != known_ref:
            raise CallbackRefused("callback's CallSid is not the leg's call")
        return self.final_event(
            leg_id,
            sid,
            status,
            _int(callback.param("CallDuration")),
            _moment(callback.param("Timestamp")),
        )
