"""Plivo (SPEC §8, kind ``plivo``): the Voice API's Call resource over plain HTTPS.

Placing: ``POST {api-base}/v1/Account/{auth-id}/Call/`` (JSON, Basic auth auth-id:auth-token)
with ``from`` (the DID), ``to``, ``answer_url`` (the flow's Plivo XML), ``ring_timeout``,
``time_limit`` and a ``hangup_url`` naming the leg. Its answer's ``request_uuid`` is the leg's
reference. Plivo's own SDK re-sends on a 5xx, which can place a call twice: this posts once.

Callbacks (the hangup_url) are signed: ``X-Plivo-Signature-V3`` = base64 HMAC-SHA256(auth-token,
the V3 base string + "." + ``X-Plivo-Signature-V3-Nonce``), and a nonce is accepted once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import urllib3

from outdial.adapters.gateways.base import Leg, LegEvent, LegOutcome
from outdial.adapters.gateways.callback import (
    LEG_PARAMETER,
    Callback,
    CallbackMalformed,
    CallbackRefused,
)
from outdial.adapters.gateways.carrier import CarrierAdapter, flow_url_with_keys
from outdial.adapters.gateways.carrier_client import CarrierAnswer
from outdial.adapters.gateways.secrets import GatewaySecrets
from outdial.models.config import PlivoGateway
from outdial.observability import logger

SIGNATURE_HEADER = "X-Plivo-Signature-V3"
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"
NONCE_TTL_SECONDS = 7 * 24 * 3600

OUTCOMES = {
    "completed": LegOutcome.ANSWERED,
    "answer": LegOutcome.ANSWERED,
    "answered": LegOutcome.ANSWERED,
    "busy": LegOutcome.BUSY,
    "no-answer": LegOutcome.NO_ANSWER,
    "failed": LegOutcome.FAILED,
    "timeout": LegOutcome.FAILED,
    "cancel": LegOutcome.FAILED,
    "canceled": LegOutcome.FAILED,
    "cancelled": LegOutcome.FAILED,
}
"""Final states: the hangup callback's ``CallStatus`` and, written as a call record's
``call_state`` (``NO_ANSWER``, ``ANSWER``), the lookup's, both folded to lowercase with dashes."""


class NonceLedger(Protocol):
    """Remembers nonces: ``remember`` is True the first time a nonce is seen, False after."""

    def remember(self, gateway_id: str, nonce: str, ttl_seconds: int) -> bool: ...


# --- the signature, as plivo.utils.validate_v3_signature computes it ---------------------------


def _latin(data: bytes) -> str:
    # Plivo's reference turns bytes into text one byte per character.
    return data.decode("latin-1")


def v3_base_string(url: str, params: Mapping[str, Sequence[str]]) -> str:
    """The text a POST callback's V3 signature covers: scheme, host and path; then ``?`` and the
    URL's query sorted as ``name=value`` pairs joined by ``&`` (``.`` after it when there are
    POST parameters); then each POST parameter's name and value, sorted."""
    parsed = urlparse(url.encode("utf-8"))
    base = urlunparse(
        (parsed.scheme.decode(), parsed.netloc.decode(), parsed.path.decode(), "", "", "")
    )
    query = {
        _latin(name): [_latin(value) for value in values]
        for name, values in parse_qs(parsed.query, keep_blank_values=True).items()
    }
    query_string = "&".join(
        "&".join(f"{name}={value}" for value in sorted(query[name])) for name in sorted(query)
    )
    if query_string or params:
        base += "?" + query_string
    if query_string and params:
        base += "."
    return base + "".join(
        "".join(f"{name}{value}" for value in sorted(params[name])) for name in sorted(params)
    )


def compute_signature(
    auth_token: str, url: str, nonce: str, params: Mapping[str, Sequence[str]]
) -> str:
    """base64 HMAC-SHA256(auth-token, base string + "." + nonce)."""
    text = f"{v3_base_string(url, params)}.{_latin(nonce.encode('utf-8'))}"
    digest = hmac.new(auth_token.encode(), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def valid_signature(
    auth_token: str,
    url: str,
    nonce: str | None,
    params: Mapping[str, Sequence[str]],
    header: str | None,
) -> bool:
    """True when one of the comma-separated signatures in ``header`` signs this POST."""
    if header is None or nonce is None:
        return False
    try:
        expected = compute_signature(auth_token, url, nonce, params).encode()
    except UnicodeError:  # a URL or query that is not ASCII: Plivo's reference fails on it too
        return False
    matched = False
    for candidate in header.encode("utf-8").split(b","):
        matched |= hmac.compare_digest(expected, candidate)
    return matched


# --- the adapter -----------------------------------------------------------------------------


def _int(value: object) -> int:
    try:
        return max(int(float(str(value))), 0)
    except (TypeError, ValueError):
        return 0


def _digits(number: str) -> str:
    # Plivo's examples give numbers without the "+"; it takes E.164 either way.
    return number.lstrip("+")


class PlivoGatewayAdapter(CarrierAdapter[PlivoGateway]):
    """Places legs with Plivo, reads their state back, and checks Plivo's callbacks."""

    kind = "plivo"
    outcomes = OUTCOMES

    def __init__(
        self,
        config: PlivoGateway,
        secrets: GatewaySecrets | None = None,
        pool: urllib3.PoolManager | None = None,
        nonces: NonceLedger | None = None,
    ) -> None:
        super().__init__(config, secrets, pool)
        self._nonces = nonces

    @staticmethod
    def state_key(state: object) -> str:
        return str(state or "").strip().lower().replace("_", "-")

    def _call_url(self) -> str:
        return f"{self._config.api_root}/v1/Account/{self._config.auth_id}/Call/"

    def callback_url(self, leg_id: str) -> str:
        """The hangup URL of ``leg_id``: what Plivo signs."""
        return self._config.callback_url(urlencode({LEG_PARAMETER: leg_id}))

    def _send(self, method: str, url: str, body: Any = None) -> CarrierAnswer:
        token = self._client.credential("auth-token")
        return self._client.send(method, url, self._config.auth_id, token, json_body=body)

    def place(self, leg: Leg) -> str | None:
        """POST the call; its ``request_uuid``. 4xx refused, 429 rate-limited, else unknown."""
        body = {
            "from": _digits(leg.from_did),
            "to": _digits(leg.to_number),
            "answer_url": flow_url_with_keys(str(self._config.flow_url), leg.variables),
            "answer_method": "POST",
            "ring_timeout": self._config.ring_seconds,
            "time_limit": leg.max_call_seconds,
            "hangup_url": self.callback_url(leg.leg_id),
            "hangup_method": "POST",
        }
        answer = self._send("POST", self._call_url(), body)
        if 200 <= answer.status < 300:
            data = answer.json()
            ref = data.get("request_uuid") if isinstance(data, dict) else None
            if isinstance(ref, list):  # several destinations answer with a list
                ref = ref[0] if ref else None
            logger.debug("plivo accepted leg", gateway_id=self.gateway_id, leg_id=leg.leg_id)
            return str(ref) if ref else None
        raise self._client.placing_failed(answer, leg, rate_limited=answer.status == 429)

    def status(self, leg: Leg) -> LegEvent | None:
        """``GET …/Call/{uuid}/``: the call record's final state, or None."""
        if not leg.gateway_ref:
            return None
        record = self.lookup(leg.leg_id, f"{self._call_url()}{leg.gateway_ref}/")
        if not isinstance(record, dict):
            return None
        state = record.get("call_state") or record.get("call_status")
        duration = record.get("bill_duration", record.get("call_duration"))
        if state is None and record.get("end_time") and duration is not None:
            state = "completed" if _int(duration) > 0 else None
        return self.final_event(
            leg.leg_id, str(record.get("call_uuid") or leg.gateway_ref), state, _int(duration)
        )

    def receive(self, callback: Callback, known_ref: str | None) -> LegEvent | None:
        """A signed hangup callback with a fresh nonce: its final outcome, or None."""
        leg_id = callback.leg_id
        token = self._client.credential("auth-token")
        nonce = callback.header(NONCE_HEADER)
        if not valid_signature(
            token,
            self.callback_url(leg_id),
            nonce,
            callback.multi_params(),
            callback.header(SIGNATURE_HEADER),
        ):
            raise CallbackRefused("X-Plivo-Signature-V3 does not match")
        assert nonce is not None
        if self._nonces is not None and not self._nonces.remember(
            self.gateway_id, nonce, NONCE_TTL_SECONDS
        ):
            raise CallbackRefused("X-Plivo-Signature-V3-Nonce was seen before")
        uuid = callback.param("CallUUID") or callback.param("RequestUUID")
        status = callback.param("CallStatus")
        if not uuid or not status:
            raise CallbackMalformed("callback lacks CallUUID or CallStatus")
        duration = callback.param("BillDuration") or callback.param("Duration")
        return self.final_event(leg_id, uuid, status, _int(duration))
