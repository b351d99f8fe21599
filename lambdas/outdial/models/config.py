"""Accounts, flows and gateways: the configuration file of SPEC §5 and what the handlers read."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, time
from decimal import Decimal
from ipaddress import ip_address
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    IPvAnyNetwork,
    field_validator,
    model_validator,
)

from outdial.models.types import E164Number, FlowId, KeyName, SecurityId
from outdial.settings import get_settings

ApiVersion = Literal["1.0", "TEST"]
WebhookEvent = Literal["call.ended", "leg.ended"]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=lambda name: name.replace("_", "-"),
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


class Account(_Model):
    """A customer: who pays, from where they may call us, where we report outcomes."""

    account_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    timezone: str = "Asia/Kolkata"
    region: str = "IN"
    balance: Annotated[Decimal, Field(ge=0)] = Decimal(0)
    cost_per_call: Annotated[Decimal, Field(ge=0)] = Decimal(1)
    valid_until: AwareDatetime | None = None
    ip_whitelist: list[IPvAnyNetwork] = []
    phone_whitelist: list[E164Number] = []
    webhook_url: HttpUrl | None = None
    # call.ended is always sent; leg.ended adds one event per leg.
    webhook_events: list[WebhookEvent] = ["call.ended"]
    # SPEC §9: no number gets more legs placed than this in any rolling 24 h (None: no cap).
    max_calls_per_number_per_day: Annotated[int, Field(ge=1, le=1000)] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return _iana_zone(value)

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r} (ISO 3166 alpha-2, e.g. IN)")
        return value.upper()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def admits_ip(self, source_ip: str) -> bool:
        """True when ``source_ip`` lies in one of the whitelisted networks (empty admits nobody)."""
        try:
            address = ip_address(source_ip)
        except ValueError:
            return False
        return any(address in network for network in self.ip_whitelist)


def _iana_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
"""Calling-window days, in ``datetime.weekday()`` order."""
Weekday = Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
RECIPIENT = "recipient"
_CLOCK_RE = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"


def minutes_of(clock: str) -> int:
    """``"HH:MM"`` (``"24:00"`` is the end of the day) → minutes since midnight."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


class CallingWindow(_Model):
    """When legs may be placed (SPEC §9): ``from``-``to`` local time on ``days``, in the
    recipient's zone (from the number) or a fixed IANA zone."""

    from_: Annotated[str, Field(alias="from", pattern=_CLOCK_RE, examples=["09:00"])]
    to: Annotated[str, Field(pattern=_CLOCK_RE, examples=["21:00"])]
    days: Annotated[list[Weekday], Field(min_length=1)] = [
        "MON",
        "TUE",
        "WED",
        "THU",
        "FRI",
        "SAT",
        "SUN",
    ]
    time_zone: str = Field(RECIPIENT, description='"recipient" or an IANA time zone')

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return value if value == RECIPIENT else _iana_zone(value)

    @field_validator("days")
    @classmethod
    def _unique_days(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a day is listed twice")
        return value

    @model_validator(mode="after")
    def _from_before_to(self) -> CallingWindow:
        if minutes_of(self.from_) >= minutes_of(self.to):
            raise ValueError("from must be earlier than to (a window lies within one day)")
        return self

    @property
    def opens(self) -> time:
        return time(*divmod(minutes_of(self.from_), 60))

    @property
    def weekdays(self) -> frozenset[int]:
        return frozenset(WEEKDAYS.index(day) for day in self.days)


RetryOutcome = Literal["NO_ANSWER", "BUSY", "FAILED", "UNKNOWN"]
DEFAULT_RETRY_ON: tuple[RetryOutcome, ...] = ("NO_ANSWER", "BUSY", "FAILED")


class Did(_Model):
    """A caller id the flow may present."""

    number: E164Number
    enabled: bool = True


class FlowSettings(_Model):
    """An outbound flow as stored: everything but its secret."""

    flow_id: FlowId
    account_id: str
    versions: list[ApiVersion] = ["1.0"]
    gateway_id: str
    dids: list[Did] = []
    required_keys: list[KeyName] = []
    max_attempts: Annotated[int, Field(ge=1, le=10)] = 1
    retry_after_seconds: Annotated[int, Field(ge=60, le=7 * 24 * 3600)] = 900
    # How long an answered leg may talk: the gateway is asked to cut the call there, and it is
    # part of every leg's deadline (SPEC §11). 4 h is the longest the carriers allow.
    max_call_seconds: Annotated[int, Field(ge=1, le=4 * 3600)] = 3600
    # SPEC §9: another attempt only if a leg of the last one ended with one of these.
    retry_on: list[RetryOutcome] = list(DEFAULT_RETRY_ON)
    calling_window: CallingWindow | None = None
    valid_until: AwareDatetime | None = None
    # Authenticated requests the flow may make in any one second, across every route
    # (None: no limit of its own; the stage's throttle still applies). Over it: 429, 608.
    requests_per_second: Annotated[int, Field(ge=1, le=10_000)] | None = None

    @property
    def enabled_dids(self) -> list[str]:
        return [did.number for did in self.dids if did.enabled]


class Flow(FlowSettings):
    """An outbound flow as the configuration file gives it, with its secret in the clear."""

    security_id: SecurityId


CallsPerSecond = Annotated[float, Field(gt=0, le=10_000)]
"""How many legs a gateway may be handed in any one second, across every dialer (SPEC §8); a
fraction paces slower than one a second (0.5: one every two seconds)."""


class _GatewayCommon(_Model):
    """What every gateway kind takes (SPEC §8, §11)."""

    # Whether a leg may be handed to the gateway again under the same key (it dedupes by the
    # leg id): the carriers take no idempotency key, so theirs never are.
    idempotent_placing: ClassVar[bool] = True

    gateway_id: str
    enabled: bool = True
    # The most legs placed through the gateway in any one second (None: unlimited, the
    # simulator's and http gateways' default).
    calls_per_second: CallsPerSecond | None = None
    # The margin of a leg's deadline beyond ring-seconds + max-call-seconds (SPEC §11): past it
    # the reconciler asks the gateway how the leg ended.
    grace_seconds: Annotated[int, Field(ge=5, le=24 * 3600)] = 120


class SimulatorGateway(_GatewayCommon):
    """The simulated gateway of SPEC §4: outcome by the number's last digit."""

    kind: Literal["simulator"]
    ring_seconds: Annotated[float, Field(ge=0, le=120)] = 1


MIN_EVENT_SECRET_CHARS = 32  # SPEC §12: a gateway's event-secret, the HMAC key of its events
MAX_ID_CHARS = 128  # account and gateway ids; DynamoDB keys are bounded, and so are ours


def plausible_id(value: str) -> bool:
    """True when ``value`` could be an id of ours: 1-128 printable ASCII characters. Anything
    else names nothing, and is never sent to storage."""
    return 0 < len(value) <= MAX_ID_CHARS and value.isascii() and value.isprintable()


def event_secret_problem(secret: str) -> str | None:
    """Why ``secret`` cannot authenticate a gateway's events, or None when it can."""
    if len(secret) < MIN_EVENT_SECRET_CHARS:
        return f"event-secret has {len(secret)} characters; at least {MIN_EVENT_SECRET_CHARS}"
    return None


# Under the deployment's secret prefix (OUTDIAL_SECRET_PREFIX, `outdial/<stack>/` on AWS): the
# only secrets the functions may read for a gateway (the stack's IAM policy:
# infra/credentials.py), and the flows' signing keys.
GATEWAY_SECRETS = "gateways/"
FLOW_SECRETS = "flows/"
ACCOUNT_SECRETS = "accounts/"  # accounts' webhook signing secrets (`outdial webhook-secret rotate`)
GATEWAY_SECRET_PREFIX = "outdial/" + GATEWAY_SECRETS  # with the local default prefix


def gateway_secret_prefix() -> str:
    """Where this deployment's gateway secrets live (``outdial/gateways/`` by default)."""
    return get_settings().secret_prefix + GATEWAY_SECRETS


def flow_secret_prefix() -> str:
    """Where this deployment's flow signing keys live (``outdial/flows/`` by default)."""
    return get_settings().secret_prefix + FLOW_SECRETS


ACCOUNT_SECRET_PREFIX = "outdial/" + ACCOUNT_SECRETS  # with the local default prefix


def account_secret_prefix() -> str:
    """Where this deployment's account webhook secrets live (``outdial/accounts/`` by default)."""
    return get_settings().secret_prefix + ACCOUNT_SECRETS


def _readable_secret(value: str) -> str:
    """Refused here rather than by IAM at the first call: a name (or an ARN's name) outside the
    prefix the functions may read."""
    name = (
        value.split(":secret:", 1)[1] if value.startswith("arn:") and ":secret:" in value else value
    )
    prefix = gateway_secret_prefix()
    if not name.startswith(prefix) or name == prefix:
        raise ValueError(
            f"must name a secret under {prefix} (the only gateway secrets the functions may read)"
        )
    return value


GatewaySecretId = Annotated[str, AfterValidator(_readable_secret)]
"""A Secrets Manager name or ARN under the gateway prefix."""


class HttpGateway(_GatewayCommon):
    """A JSON-over-HTTPS telephony gateway; its token and event secret live in Secrets Manager."""

    kind: Literal["http"]
    url: HttpUrl
    secret_id: GatewaySecretId = Field(
        description="Secrets Manager name or ARN of {token, event-secret}"
    )
    ring_seconds: Annotated[float, Field(ge=0, le=120)] = 30
    connect_timeout: Annotated[float, Field(gt=0, le=30)] = 3
    read_timeout: Annotated[float, Field(gt=0, le=60)] = 10
    # A self-hosted gateway inside your own network: its url may be http:// and resolve to
    # private (RFC 1918, unique-local) addresses. Link-local, multicast and reserved addresses
    # stay refused whatever this says.
    allow_private_endpoint: bool = False


class _CarrierGateway(_GatewayCommon):
    """A real carrier's REST API (SPEC §8): its credentials in Secrets Manager, the carrier-side
    flow at ``flow-url``, outcomes posted to ``{callback-base-url}/gateway/events/{gateway-id}``."""

    idempotent_placing: ClassVar[bool] = False

    secret_id: GatewaySecretId
    flow_url: HttpUrl
    callback_base_url: HttpUrl
    ring_seconds: Annotated[int, Field(ge=1, le=600)] = 60
    connect_timeout: Annotated[float, Field(gt=0, le=30)] = 3
    read_timeout: Annotated[float, Field(gt=0, le=60)] = 10

    @property
    def api_root(self) -> str:
        """``api-base`` without a trailing slash."""
        return str(getattr(self, "api_base", "")).rstrip("/")

    def callback_url(self, query: str) -> str:
        """Where the carrier posts a leg's outcome: this API's events route, ``query`` appended."""
        base = str(self.callback_base_url).rstrip("/")
        return f"{base}/gateway/events/{self.gateway_id}?{query}"


class TwilioGateway(_CarrierGateway):
    """Twilio's Programmable Voice REST API; secret ``{"auth-token"}``."""

    kind: Literal["twilio"]
    account_sid: Annotated[str, Field(min_length=1, max_length=64)]
    api_base: HttpUrl = HttpUrl("https://api.twilio.com")
    calls_per_second: CallsPerSecond | None = 1


class PlivoGateway(_CarrierGateway):
    """Plivo's Voice REST API; secret ``{"auth-token"}``."""

    kind: Literal["plivo"]
    auth_id: Annotated[str, Field(min_length=1, max_length=64)]
    api_base: HttpUrl = HttpUrl("https://api.plivo.com")
    calls_per_second: CallsPerSecond | None = 2


class ExotelGateway(_CarrierGateway):
    """Exotel's voice v1 API; secret ``{"api-key", "api-token", "event-secret"}``."""

    kind: Literal["exotel"]
    account_sid: Annotated[str, Field(min_length=1, max_length=64)]
    api_base: HttpUrl = HttpUrl("https://api.in.exotel.com")
    # Exotel's TimeOut: the flow rings at most a minute.
    ring_seconds: Annotated[int, Field(ge=1, le=60)] = 60
    # 200 voice API requests a minute.
    calls_per_second: CallsPerSecond | None = 3


CarrierGateway = TwilioGateway | PlivoGateway | ExotelGateway
AnyGateway = SimulatorGateway | HttpGateway | TwilioGateway | PlivoGateway | ExotelGateway
Gateway = Annotated[AnyGateway, Field(discriminator="kind")]
GATEWAY_KINDS = ("simulator", "http", "twilio", "plivo", "exotel")


class ConfigFile(_Model):
    """The whole configuration file: applied all at once or not at all."""

    accounts: list[Account] = []
    flows: list[Flow] = []
    gateways: list[Gateway] = []


def hash_secret(secret: str) -> str:
    """The stored form of a security-id. SHA-256 suffices: the secret is 64 random characters.

    ``surrogatepass``: a presented secret holding a lone surrogate (a header, say) hashes to
    something that matches nothing, rather than raising."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


class FlowView(BaseModel):
    """What a request needs to know about a flow, read in one go: flow, account and gateway.

    Written by ``config apply`` (denormalised, since the file is applied whole) so that the api
    reads a single item per request. The account's running balance is not here: it lives on the
    account item and changes only by conditional updates.
    """

    model_config = ConfigDict(frozen=True)

    flow: FlowSettings
    security_id_hash: str
    account: Account
    gateway: Gateway | None = None

    def security_id_matches(self, candidate: str) -> bool:
        """Constant-time comparison of a presented security-id with the stored hash."""
        return hmac.compare_digest(hash_secret(candidate), self.security_id_hash)

    def expired(self, now: datetime) -> bool:
        return any(
            until is not None and now > until
            for until in (self.account.valid_until, self.flow.valid_until)
        )

    @property
    def gateway_usable(self) -> bool:
        return self.gateway is not None and self.gateway.enabled

    def leg_deadline_seconds(self) -> float:
        """How long after placing a leg its outcome is due (SPEC §11): the gateway's
        ring-seconds + the flow's max-call-seconds + the gateway's grace-seconds."""
        gateway = self.gateway
        ring = float(getattr(gateway, "ring_seconds", 60))
        grace = gateway.grace_seconds if gateway is not None else 120
        return ring + self.flow.max_call_seconds + grace


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file (``outdial config schema``), keys as written."""
    schema = ConfigFile.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "outdial configuration file",
        **{key: value for key, value in schema.items() if key != "title"},
    }
