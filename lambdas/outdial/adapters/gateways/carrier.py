"""What the three carrier adapters (SPEC §8) share.

- One HTTPS request per placing, never repeated: none of Twilio, Plivo or Exotel takes an
  idempotency key, so a POST whose answer was lost may have placed the call, and posting it again
  could ring the customer twice. Its answer sorts the leg into placed (2xx), refused (4xx: never
  placed), rate-limited (429 and the carriers' own limit codes: not placed, wait) or unknown
  (timeout, transport error, 5xx: the state query finds out).
- A callback as it reached ``POST /gateway/events/{gateway-id}``, its parameters read whatever
  the encoding (form, JSON, multipart), and the errors a callback may raise.
- The flow URL with the call's keys in its query, and the credentials from Secrets Manager.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from functools import cache, cached_property
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import urllib3
from urllib3.exceptions import HTTPError, LocationValueError

from outdial.adapters.errors import AdapterError
from outdial.adapters.gateways.base import (
    GatewayRateLimited,
    GatewayRefused,
    GatewayUnavailable,
    Leg,
    LegEvent,
    LegOutcome,
)
from outdial.adapters.gateways.http import USER_AGENT, retry_after_seconds
from outdial.adapters.gateways.secrets import (
    GatewaySecrets,
    SecretNotFound,
    shared_gateway_secrets,
)
from outdial.models.config import CarrierGateway, ExotelGateway, PlivoGateway, TwilioGateway
from outdial.models.phone import mask
from outdial.observability import logger

KEY_PREFIX = "$flow.key."
LEG_PARAMETER = "leg"  # the callback URL's query names the leg it reports on
_SNIPPET_BYTES = 300


LOOKUP_ERRORS = (GatewayRefused, GatewayRateLimited, GatewayUnavailable)
"""What a state lookup may raise: each means the carrier did not say."""


class CallbackRefused(Exception):
    """A callback that is not the carrier's (bad signature, token or nonce): nothing is done."""


class CallbackMalformed(ValueError):
    """A callback whose body or query cannot be read."""


class OutcomeNotConfirmed(Exception):
    """An unsigned callback (Exotel) whose outcome the carrier's own lookup does not confirm
    yet: answered with a 5xx so the carrier posts it again; the state query is the backstop."""


@dataclass
class Callback:
    """A carrier's post to the events route: the decoded query, the headers (names lowercase),
    the raw body and its content type."""

    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    content_type: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name) or []
        return values[-1] if values else None

    @property
    def leg_id(self) -> str:
        """The leg the callback URL names; CallbackRefused without one (not a URL we gave)."""
        leg_id = self.query_value(LEG_PARAMETER)
        if not leg_id:
            raise CallbackRefused("callback URL names no leg")
        return leg_id

    @cached_property
    def _params(self) -> list[tuple[str, str]]:
        return parse_params(self.body, self.content_type)

    def params(self) -> list[tuple[str, str]]:
        """The body's parameters in order (a name may repeat): form-encoded, JSON or multipart."""
        return self._params

    def param(self, name: str) -> str | None:
        """The last value of body parameter ``name``."""
        values = [value for key, value in self.params() if key == name]
        return values[-1] if values else None

    def multi_params(self) -> dict[str, list[str]]:
        """The body's parameters by name, each name's values in order."""
        grouped: dict[str, list[str]] = {}
        for key, value in self.params():
            grouped.setdefault(key, []).append(value)
        return grouped


def parse_params(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """A callback body's parameters; CallbackMalformed when it cannot be read."""
    media = content_type.split(";", 1)[0].strip().lower()
    try:
        if media == "application/json":
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise CallbackMalformed("JSON callback body must be an object")
            return [(str(k), _text(v)) for k, v in data.items()]
        if media == "multipart/form-data":
            return _multipart(body, content_type)
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as error:
        if isinstance(error, CallbackMalformed):
            raise
        raise CallbackMalformed(f"callback body unreadable: {error}") from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _multipart(body: bytes, content_type: str) -> list[tuple[str, str]]:
    if "boundary=" not in content_type:
        raise CallbackMalformed("multipart body without a boundary")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise CallbackMalformed("multipart body unreadable")
    params = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        params.append((name, payload.decode("utf-8") if isinstance(payload, bytes) else ""))
    return params


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


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CarrierAnswer:
    """A carrier's HTTP answer."""

    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body as JSON; {} when it is not."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return {}


@cache
def _shared_pool() -> urllib3.PoolManager:
    return urllib3.PoolManager(num_pools=10, maxsize=50)


class CarrierClient:
    """HTTPS to one carrier's API with Basic auth, each request sent once."""

    def __init__(
        self,
        config: CarrierGateway,
        secrets: GatewaySecrets,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self.gateway_id = config.gateway_id
        self.config = config
        self._secrets = secrets
        self._pool = pool or _shared_pool()
        self._timeout = urllib3.Timeout(connect=config.connect_timeout, read=config.read_timeout)

    def credential(self, name: str) -> str:
        """Field ``name`` of the gateway's secret.

        Raises ``GatewayRefused`` when the secret is absent or lacks the field (a configuration
        fault: nothing was sent and waiting will not help) and ``GatewayRateLimited`` when
        Secrets Manager could not be read just now (nothing was sent; try again later).
        """
        try:
            values = self._secrets.values(self.config.secret_id)
        except SecretNotFound as error:
            raise GatewayRefused(f"gateway {self.gateway_id}: {error}; nothing was sent") from None
        except AdapterError as error:
            raise GatewayRateLimited(
                f"gateway {self.gateway_id}: credentials unreadable ({error}); nothing was sent",
                retry_after=5,
            ) from None
        value = values.get(name)
        if not isinstance(value, str) or not value:
            raise GatewayRefused(
                f"gateway {self.gateway_id}: secret {self.config.secret_id} lacks {name!r}"
            )
        return value

    def send(
        self,
        method: str,
        url: str,
        user: str,
        password: str,
        *,
        form: list[tuple[str, str]] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> CarrierAnswer:
        """One request; ``GatewayUnavailable`` when no answer came (it may have arrived)."""
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers = {
            "Authorization": f"Basic {token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        body: bytes | None = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = self._pool.request(
                method,
                url,
                body=body,
                headers=headers,
                timeout=self._timeout,
                retries=False,  # never re-sent: a carrier has no idempotency key
                redirect=False,
            )
        except LocationValueError as error:
            raise GatewayRefused(f"gateway {self.gateway_id}: bad url: {error}") from None
        except HTTPError as error:
            raise GatewayUnavailable(
                f"gateway {self.gateway_id}: no answer ({type(error).__name__}); "
                "whether the call was placed is unknown"
            ) from None
        return CarrierAnswer(response.status, response.data, dict(response.headers.items()))

    def placing_failed(self, answer: CarrierAnswer, leg: Leg, rate_limited: bool) -> Exception:
        """The exception for a placing request the carrier did not accept with a 2xx."""
        status = answer.status
        keys: dict[str, Any] = {
            "gateway_id": self.gateway_id,
            "leg_id": leg.leg_id,
            "status": status,
        }
        if rate_limited:
            wait = retry_after_seconds(answer.headers.get("Retry-After"), utcnow())
            logger.info("carrier rate-limited the leg; it waits", **keys)
            return GatewayRateLimited(
                f"gateway {self.gateway_id}: rate limited (HTTP {status})", retry_after=wait
            )
        if 400 <= status < 500:
            snippet = answer.body[:_SNIPPET_BYTES].decode("utf-8", "replace")
            for form in (leg.to_number, leg.to_number.lstrip("+")):
                snippet = snippet.replace(form, mask(form))
            logger.warning("carrier refused leg", body=snippet, **keys)
            return GatewayRefused(f"gateway {self.gateway_id} refused: HTTP {status}")
        logger.warning("carrier answered with a fault; placement unknown", **keys)
        return GatewayUnavailable(
            f"gateway {self.gateway_id}: HTTP {status}; whether the call was placed is unknown"
        )


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
