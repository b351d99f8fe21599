"""The pure checks of ``POST /outbound/create`` (SPEC §2): no I/O, fully unit-testable."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from outdial.models.codes import Code, ContractError
from outdial.models.phone import to_e164
from outdial.models.types import KEY_NAME_RE

MAX_CALLS = 500
MAX_NUMBERS = 10
MAX_CLIENT_IDENTIFIER = 128
MAX_BODY_BYTES = 1024 * 1024
MAX_DAYS_AHEAD = 90  # a start-time's date at most this many days after today (account's zone)
MAX_KEY_VALUE_CHARS = 1024
MAX_KEYS_BYTES = 8 * 1024  # a call's key names and values, UTF-8, in all
API_VERSIONS = ("1.0", "TEST")


def _blank(value: object) -> bool:
    return value is None or value == ""


def require(fields: dict[str, object]) -> None:
    """Check 2: every named field present, not null, not an empty string."""
    missing = [name for name, value in fields.items() if _blank(value)]
    if missing:
        raise ContractError(
            Code.INVALID_MANDATORY_PARAMETERS, f"missing or empty: {', '.join(missing)}"
        )


_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_uuid(value: object) -> bool:
    """True for an id of the form outdial issues (phonon-uuid, request-id): a lowercase UUID.
    Anything else names nothing, and is never sent to storage."""
    return isinstance(value, str) and bool(_UUID_RE.match(value))


def check_body_size(raw: bytes) -> None:
    if len(raw) > MAX_BODY_BYTES:
        raise ContractError(Code.INVALID_FORMAT, f"body is {len(raw)} bytes; at most 1 MiB")


def check_api_version(api_version: str) -> None:
    """Check 3."""
    if api_version not in API_VERSIONS:
        raise ContractError(Code.INVALID_API_VERSION, f"api-version must be one of {API_VERSIONS}")


def check_list_size(items: list[Any], name: str) -> None:
    """Check 11: 1 to 500 entries."""
    if not items:
        raise ContractError(Code.EMPTY_CALL_LIST, f"{name} is empty")
    if len(items) > MAX_CALLS:
        raise ContractError(
            Code.MAX_DATA_LIST_SIZE_EXCEEDED,
            f"{name} has {len(items)} entries; at most {MAX_CALLS}",
        )


@dataclass(frozen=True)
class CallRules:
    """What a flow and its account say about each call."""

    region: str
    zone: ZoneInfo
    now: datetime
    required_keys: frozenset[str] = frozenset()
    phone_whitelist: frozenset[str] | None = None  # set only for api-version TEST


@dataclass(frozen=True)
class ValidCall:
    client_identifier: str
    start_time: datetime  # as the customer meant it, in its own offset or the account's zone
    due_at: datetime  # UTC; never earlier than the time of acceptance
    contact_numbers: tuple[str, ...]
    immediate: bool  # a past time today, or now: dial at once
    keys: tuple[tuple[str, str], ...] = field(default=())


# What a rejected call's details echo of its input is cut at, so that 500 rejections of large
# input still fit the response into one DynamoDB item (400 KB) next to the accepted calls.
ECHO_LIMIT = 128
DETAIL_LIMIT = 200


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class RejectedCall:
    client_identifier: str | None
    code: Code
    detail: str

    def details(self) -> dict[str, object]:
        return {
            "client-identifier": (
                None if self.client_identifier is None else clip(self.client_identifier, ECHO_LIMIT)
            ),
            "error-code": self.code.code,
            "error-message": self.code.message,
            "error-detail": clip(self.detail, DETAIL_LIMIT),
        }


def parse_start_time(raw: object, rules: CallRules) -> tuple[datetime, datetime, bool]:
    """``start-time`` → (as given, when to dial in UTC, due now?). Raises ContractError(400)."""
    if not isinstance(raw, str):
        raise ContractError(Code.INVALID_FORMAT, "start-time must be an ISO-8601 string")
    try:
        start = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ContractError(
            Code.INVALID_FORMAT,
            f"start-time {raw!r} is not ISO-8601 (e.g. 2026-12-01T10:30:00+05:30)",
        ) from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=rules.zone)
    local_now = rules.now.astimezone(rules.zone)
    try:
        local_date = start.astimezone(rules.zone).date()
    except OverflowError:  # year 1 or 9999 moved across the date line
        raise ContractError(Code.INVALID_FORMAT, f"start-time {raw!r} is out of range") from None
    if local_date < local_now.date():
        raise ContractError(
            Code.INVALID_FORMAT,
            f"start-time {raw!r} is before today ({local_now.date().isoformat()} in {rules.zone.key})",
        )
    if (local_date - local_now.date()).days > MAX_DAYS_AHEAD:
        raise ContractError(
            Code.INVALID_FORMAT,
            f"start-time {raw!r} is more than {MAX_DAYS_AHEAD} days ahead "
            f"(today is {local_now.date().isoformat()} in {rules.zone.key})",
        )
    immediate = start <= rules.now
    due = (rules.now if immediate else start).astimezone(UTC)
    return start, due, immediate


def _parse_keys(raw: object) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ContractError(Code.INVALID_FORMAT, "keys must be a list of {name, value}")
    keys: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, key in enumerate(raw):
        if not isinstance(key, dict) or set(key) != {"name", "value"}:
            raise ContractError(Code.INVALID_FORMAT, f"keys[{index}] must be {{name, value}}")
        name, value = key["name"], key["value"]
        if not isinstance(name, str) or not KEY_NAME_RE.match(name):
            raise ContractError(
                Code.INVALID_FORMAT, f"keys[{index}].name must look like $flow.key.<letters_digits>"
            )
        if not isinstance(value, str):
            raise ContractError(Code.INVALID_FORMAT, f"keys[{index}].value must be a string")
        if len(value) > MAX_KEY_VALUE_CHARS:
            raise ContractError(
                Code.INVALID_FORMAT,
                f"keys[{index}].value is {len(value)} characters; at most {MAX_KEY_VALUE_CHARS}",
            )
        if name in seen:
            raise ContractError(Code.INVALID_FORMAT, f"keys[{index}]: {name} given twice")
        seen.add(name)
        keys.append((name, value))
    size = sum(len(name.encode()) + len(value.encode()) for name, value in keys)
    if size > MAX_KEYS_BYTES:
        raise ContractError(
            Code.INVALID_FORMAT, f"keys take {size} bytes in all; at most {MAX_KEYS_BYTES} (8 KiB)"
        )
    return tuple(keys)


def _check_format(raw: dict[str, Any], rules: CallRules) -> tuple[Any, ...]:
    """The 400 INVALID_FORMAT part of check 13, before any 210/205/402."""
    client_id = raw.get("client-identifier")
    if client_id is not None and not isinstance(client_id, str):
        raise ContractError(Code.INVALID_FORMAT, "client-identifier must be a string")
    if isinstance(client_id, str) and len(client_id) > MAX_CLIENT_IDENTIFIER:
        raise ContractError(
            Code.INVALID_FORMAT, f"client-identifier longer than {MAX_CLIENT_IDENTIFIER} characters"
        )
    times = None
    if not _blank(raw.get("start-time")):
        times = parse_start_time(raw["start-time"], rules)
    numbers = raw.get("contact-numbers")
    if numbers is not None and not isinstance(numbers, list):
        raise ContractError(Code.INVALID_FORMAT, "contact-numbers must be a list")
    if isinstance(numbers, list) and len(numbers) > MAX_NUMBERS:
        raise ContractError(
            Code.INVALID_FORMAT,
            f"contact-numbers has {len(numbers)} entries; at most {MAX_NUMBERS}",
        )
    keys = _parse_keys(raw.get("keys"))
    return client_id, times, numbers, keys


def validate_call(raw: object, rules: CallRules) -> ValidCall | RejectedCall:
    """Check 13 for one call: 400 format, then 210 mandatory, then 205 numbers, then 402."""
    if not isinstance(raw, dict):
        return RejectedCall(None, Code.INVALID_FORMAT, "a call must be a JSON object")
    echo = raw.get("client-identifier") if isinstance(raw.get("client-identifier"), str) else None
    try:
        client_id, times, numbers, keys = _check_format(raw, rules)
        missing = [
            name
            for name in ("client-identifier", "start-time", "contact-numbers")
            if _blank(raw.get(name)) or raw.get(name) == []
        ]
        given = {name for name, _ in keys}
        missing += sorted(rules.required_keys - given)
        if missing:
            raise ContractError(
                Code.INVALID_MANDATORY_PARAMETERS, f"missing or empty: {', '.join(missing)}"
            )
        e164 = _normalise_numbers(numbers, rules.region)
        if rules.phone_whitelist is not None:
            outside = [n for n in e164 if n not in rules.phone_whitelist]
            if outside:
                raise ContractError(
                    Code.PHONE_NOT_WHITELISTED,
                    f"api-version TEST dials only whitelisted numbers; not whitelisted: {', '.join(outside)}",
                )
    except ContractError as error:
        return RejectedCall(echo, error.code, error.detail)
    start, due, immediate = times
    return ValidCall(client_id, start, due, e164, immediate, keys)


def _normalise_numbers(numbers: Iterable[object], region: str) -> tuple[str, ...]:
    e164: list[str] = []
    for index, number in enumerate(numbers):
        parsed = to_e164(number, region) if isinstance(number, str) else None
        if parsed is None:
            raise ContractError(
                Code.INVALID_CONTACT_NUMBER,
                f"contact-numbers[{index}] {number!r} is not a valid phone number",
            )
        e164.append(parsed)
    return tuple(e164)


def validate_calls(raw_calls: list[Any], rules: CallRules) -> list[ValidCall | RejectedCall]:
    """Check 13 for every call, in request order."""
    return [validate_call(raw, rules) for raw in raw_calls]
