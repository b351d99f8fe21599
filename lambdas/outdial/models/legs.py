"""Legs: one attempt of one number of a call, and the event that says how it ended (SPEC §4).

Domain types shared by the dialer's logic, the state machine and every gateway adapter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from outdial.contract import LegOutcome
from outdial.models import safe_json

# What a gateway may report: every outcome but UNKNOWN, which is outdial's own verdict.
REPORTABLE_OUTCOMES = frozenset(o for o in LegOutcome if o is not LegOutcome.UNKNOWN)

__all__ = [
    "EVENT_FIELDS",
    "LEG_ALLOWED",
    "MAX_DURATION_SECONDS",
    "REPORTABLE_OUTCOMES",
    "Leg",
    "LegEnding",
    "LegEvent",
    "LegOutcome",
    "LegRecord",
    "LegState",
    "leg_id_of",
    "leg_sources_of",
    "parse_leg_id",
]


class LegState(StrEnum):
    """Where a leg stands (its entry on its call): claimed by a dialer, set aside to wait for
    the gateway's pace, taken by the gateway, or over."""

    CLAIMED = "CLAIMED"
    PACED = "PACED"  # claimed, then over the gateway's pace or rate limit: not placed, waits
    PLACED = "PLACED"
    ENDED = "ENDED"


LEG_ALLOWED: Final[dict[LegState, frozenset[LegState]]] = {
    # CLAIMED → CLAIMED: a claim whose dialer died is taken over (same idempotency key). CLAIMED
    # → PLACED also when a carrier may have taken it (placement unknown: never posted again). A
    # leg ends from CLAIMED when it was never placed (refused, no DID) or its event beat the
    # write.
    LegState.CLAIMED: frozenset(
        {LegState.CLAIMED, LegState.PACED, LegState.PLACED, LegState.ENDED}
    ),
    # Set aside for pace: the next dialer to reach the call claims it again at once.
    LegState.PACED: frozenset({LegState.CLAIMED}),
    LegState.PLACED: frozenset({LegState.ENDED}),
    LegState.ENDED: frozenset(),
}
"""For each leg state, the states its item may move to (an outcome is applied once)."""


def leg_sources_of(dst: LegState) -> frozenset[LegState]:
    """The leg states from which a leg may move to ``dst`` (for a write's condition)."""
    return frozenset(src for src, dsts in LEG_ALLOWED.items() if dst in dsts)


def leg_id_of(phonon_uuid: str, attempt: int, number_index: int) -> str:
    """Deterministic, so two dialers that reach the same leg contend for the same claim; it
    names its call, where the leg's state is kept."""
    return f"{phonon_uuid}-a{attempt}-n{number_index}"


_LEG_ID = re.compile(r"(.+)-a([0-9]{1,6})-n([0-9]{1,6})", re.ASCII)


def parse_leg_id(leg_id: str) -> tuple[str, int, int] | None:
    """The call, attempt and number index ``leg_id`` names (``leg_id_of`` undone); None when it
    is not a leg id outdial made."""
    found = _LEG_ID.fullmatch(leg_id)
    if found is None:
        return None
    return found[1], int(found[2]), int(found[3])


@dataclass(frozen=True)
class LegRecord:
    """A leg as its call's entry records it, from its claim by a dialer to its end: attempt
    ``attempt`` of call ``phonon_uuid`` to its number ``number_index``, from ``did`` through
    ``gateway_id`` (``outdial.models.calls.leg_of``)."""

    leg_id: str
    phonon_uuid: str
    attempt: int
    number_index: int
    number: str
    did: str | None
    state: LegState
    claimed_epoch: int
    gateway_id: str | None = None
    placed_at: str | None = None  # once the gateway took it
    gateway_ref: str | None = None  # the gateway's own id for it, if it gave one
    outcome: str | None = None  # once ENDED: a LegOutcome, or SKIPPED
    placed: bool = True  # once ENDED: False when it was never placed
    reason: str | None = None  # why it was never placed, skipped, or ended UNKNOWN
    started_at: str | None = None
    ended_at: str | None = None
    duration_seconds: int = 0
    notified: bool = False  # its leg.ended webhook was queued
    deadline_at: int | None = None  # until ENDED: when its outcome is due (epoch seconds)

    @property
    def position(self) -> tuple[int, int]:
        return self.attempt, self.number_index


@dataclass(frozen=True)
class LegEnding:
    """How a leg ended: its ``outcome`` (a LegOutcome, or SKIPPED), whether it was ever
    ``placed``, when it started (if it did) and ended, and why (``reason``) when it was never
    placed, skipped, or ended UNKNOWN; ``event_id`` is the gateway's report, if one came."""

    outcome: str
    placed: bool
    ended_at: str
    started_at: str | None = None
    duration_seconds: int = 0
    reason: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class Leg:
    """One dial: attempt ``attempt`` (1-based) of call ``phonon_uuid`` to its number ``number_index``
    (0-based). ``leg_id`` is unique per (call, attempt, number) and is the idempotency key.

    ``ring_seconds`` is how long the gateway should ring before giving up (NO_ANSWER);
    ``callback_url`` is where the gateway posts the outcome (None when it is configured there;
    the carriers build theirs from ``callback-base-url``). ``max_call_seconds`` is where the
    gateway should cut a connected leg. ``gateway_ref`` is the gateway's own id for the leg
    (what ``place`` returned), known once it was placed.
    """

    leg_id: str
    phonon_uuid: str
    attempt: int
    number_index: int
    from_did: str
    to_number: str
    variables: dict[str, str]
    ring_seconds: float
    callback_url: str | None = None
    max_call_seconds: int = 3600
    gateway_ref: str | None = None
    placed_at: datetime | None = None  # known once the leg was placed (for ``status``)


EVENT_FIELDS = ("event-id", "leg-id", "outcome", "duration-seconds", "started-at", "ended-at")
"""The keys of a gateway event's JSON body (unknown extra keys are ignored)."""

_MAX_ID_LENGTH = 256
# A day: no call lasts longer (and DynamoDB numbers hold 38 digits, not any integer).
MAX_DURATION_SECONDS = 24 * 3600


@dataclass(frozen=True)
class LegEvent:
    """How a leg ended, reported by gateway ``gateway_id``.

    ``started_at`` is when the leg was placed, ``ended_at`` when it ended (both aware);
    ``duration_seconds`` is the talk time (0 unless ANSWERED). ``event_id`` is the gateway's id
    for this report: a repeated delivery carries the same one, so duplicates can be dropped.
    """

    gateway_id: str
    leg_id: str
    outcome: LegOutcome
    duration_seconds: int
    started_at: datetime
    ended_at: datetime
    event_id: str

    def __post_init__(self) -> None:
        if self.started_at.tzinfo is None or self.ended_at.tzinfo is None:
            raise ValueError("started-at and ended-at must carry a UTC offset")
        if self.ended_at < self.started_at:
            raise ValueError("ended-at is before started-at")
        if self.duration_seconds < 0:
            raise ValueError("duration-seconds must not be negative")

    def to_dict(self) -> dict[str, Any]:
        """The body a gateway posts to ``POST /gateway/events/{gateway-id}`` (the id is in the
        path, not the body)."""
        return {
            "event-id": self.event_id,
            "leg-id": self.leg_id,
            "outcome": self.outcome.value,
            "duration-seconds": self.duration_seconds,
            "started-at": self.started_at.isoformat(),
            "ended-at": self.ended_at.isoformat(),
        }

    def to_json(self) -> str:
        """``to_dict`` as compact JSON."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, gateway_id: str, body: str | bytes) -> LegEvent:
        """Parse a gateway event body posted for ``gateway_id``; ValueError says what is wrong."""
        try:
            data = safe_json.loads(body)
        except safe_json.UnsafeJson as exc:
            raise ValueError(f"event body: {exc}") from exc
        return cls.from_dict(gateway_id, data)

    @classmethod
    def from_dict(cls, gateway_id: str, data: Any) -> LegEvent:
        """Like ``from_json`` for an already parsed body."""
        if not isinstance(data, dict):
            raise ValueError("event body must be a JSON object")
        missing = [key for key in EVENT_FIELDS if key not in data]
        if missing:
            raise ValueError(f"event lacks {', '.join(missing)}")
        outcome = data["outcome"]
        if not isinstance(outcome, str) or outcome not in REPORTABLE_OUTCOMES:
            raise ValueError(
                f"outcome must be one of {', '.join(sorted(REPORTABLE_OUTCOMES))}, not {outcome!r}"
            )
        duration = data["duration-seconds"]
        # bool is an int in Python, but true is no duration.
        if (
            not isinstance(duration, int)
            or isinstance(duration, bool)
            or not 0 <= duration <= MAX_DURATION_SECONDS
        ):
            raise ValueError(
                f"duration-seconds must be an integer from 0 to {MAX_DURATION_SECONDS}"
            )
        return cls(
            gateway_id=gateway_id,
            leg_id=_identifier(data, "leg-id"),
            outcome=LegOutcome(outcome),
            duration_seconds=duration,
            started_at=_timestamp(data, "started-at"),
            ended_at=_timestamp(data, "ended-at"),
            event_id=_identifier(data, "event-id"),
        )


def _identifier(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_ID_LENGTH:
        raise ValueError(f"{key} must be a non-empty string of at most {_MAX_ID_LENGTH} chars")
    return value


def _timestamp(data: dict[str, Any], key: str) -> datetime:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{key} {value!r} is not ISO-8601") from exc
    if moment.tzinfo is None:
        raise ValueError(f"{key} {value!r} has no UTC offset")
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{key} {value!r} is out of range") from None
    return moment
