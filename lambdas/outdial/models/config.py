"""Accounts, flows and gateways: the configuration file of SPEC §5 and what the handlers read."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, time
from decimal import Decimal
from ipaddress import ip_address
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
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

    @property
    def enabled_dids(self) -> list[str]:
        return [did.number for did in self.dids if did.enabled]


class Flow(FlowSettings):
    """An outbound flow as the configuration file gives it, with its secret in the clear."""

    security_id: SecurityId


class _GatewayCommon(_Model):
    """What every gateway kind takes (SPEC §8, §11)."""

    gateway_id: str
    enabled: bool = True
    # The most legs placed through the gateway in any one second (None: unlimited).
    calls_per_second: Annotated[float, Field(gt=0, le=10_000)] | None = None
    # The margin of a leg's deadline beyond ring-seconds + max-call-seconds (SPEC §11): past it
    # the reconciler asks the gateway how the leg ended.
    grace_seconds: Annotated[int, Field(ge=5, le=24 * 3600)] = 120


class SimulatorGateway(_GatewayCommon):
    """The simulated gateway of SPEC §4: outcome by the number's last digit."""

    kind: Literal["simulator"]
    ring_seconds: Annotated[float, Field(ge=0, le=120)] = 1


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


class HttpGateway(_GatewayCommon):
    """A JSON-over-HTTPS telephony gateway; its token and event secret live in Secrets Manager."""

    kind: Literal["http"]
    url: HttpUrl
    secret_id: str = Field(description="Secrets Manager name or ARN of {token, event-secret}")
    ring_seconds: Annotated[float, Field(ge=0, le=120)] = 30
    connect_timeout: Annotated[float, Field(gt=0, le=30)] = 3
    read_timeout: Annotated[float, Field(gt=0, le=60)] = 10

    @field_validator("secret_id")
    @classmethod
    def _readable_secret(cls, value: str) -> str:
        """Refused here rather than by IAM at the first call: a name (or an ARN's name) outside
        the prefix the functions may read."""
        name = (
            value.split(":secret:", 1)[1]
            if value.startswith("arn:") and ":secret:" in value
            else value
        )
        prefix = gateway_secret_prefix()
        if not name.startswith(prefix) or name == prefix:
            raise ValueError(
                f"must name a secret under {prefix} (the only gateway secrets "
                "the functions may read)"
            )
        return value


Gateway = Annotated[SimulatorGateway | HttpGateway, Field(discriminator="kind")]


class ConfigFile(_Model):
    """The whole configuration file: applied all at once or not at all."""

    accounts: list[Account] = []
    flows: list[Flow] = []
    gateways: list[Gateway] = []


def hash_secret(secret: str) -> str:
    """The stored form of a security-id. SHA-256 suffices: the secret is 64 random characters."""
    return hashlib.sha256(secret.encode()).hexdigest()


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
