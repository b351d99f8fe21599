"""Which moves the call repository makes, and the write conditions of each, derived from the
state machines (``outdial.models.calls.ALLOWED``, ``outdial.models.legs.LEG_ALLOWED``).

A move may narrow the machine's sources of its target (a retry leaves DIALING, never QUEUED) and
add what else must hold, never widen them: ``status_condition`` refuses a source the machine does
not allow.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from outdial.adapters.call_items import LEG_STATE_CODES
from outdial.contract import DEADLINE_PARTITION_KEY, DEADLINE_SHARDS, DEADLINE_SORT_KEY
from outdial.models.calls import WAITING, CallStatus, sources_of
from outdial.models.legs import LegState, leg_sources_of

DEADLINE_KEYS: Final = (DEADLINE_PARTITION_KEY, DEADLINE_SORT_KEY)
# A leg's state and claim time in its entry on the call, for the leg a condition names ``#lid``.
LEG_STATE: Final = "#legs.#lid.#state"
LEG_CLAIMED: Final = "#legs.#lid.#claimed"

# What each method moves a call from and to (the repository test checks every pair against the
# machine). ``finish`` moves to the terminal status it is given; ``advance_to`` and
# ``record_leg`` keep the call where it is.
MOVES: Final[dict[str, tuple[frozenset[CallStatus], frozenset[CallStatus]]]] = {
    "start_dialing": (frozenset(WAITING), frozenset({CallStatus.DIALING})),
    "schedule_retry": (frozenset({CallStatus.DIALING}), frozenset({CallStatus.SCHEDULED})),
    "defer": (frozenset({CallStatus.DIALING}), frozenset({CallStatus.SCHEDULED})),
    "finish": (
        frozenset({CallStatus.DIALING}),
        frozenset({CallStatus.COMPLETED, CallStatus.NOT_CONNECTED, CallStatus.FAILED}),
    ),
    "cancel": (frozenset(WAITING), frozenset({CallStatus.CANCELLED})),
    # Deleting a waiting call: only where a cancel could.
    "withdraw": (frozenset(WAITING), frozenset({CallStatus.CANCELLED})),
    # A reschedule keeps the call waiting (SCHEDULED or QUEUED, whichever its new time says).
    "reschedule": (frozenset(WAITING), frozenset(WAITING)),
}
# What each method moves a leg from and to (a claim is created with the write that takes the call
# to the leg, or by ``claim_leg`` on a call at it with none; a released one is deleted). A leg
# ends (``end_leg``) by the write that moves its call on, or alone when the call moved on before.
LEG_MOVES: Final[dict[str, tuple[frozenset[LegState], LegState]]] = {
    "take_over_claim": (frozenset({LegState.CLAIMED, LegState.PACED}), LegState.CLAIMED),
    "take_back_paced": (frozenset({LegState.PACED}), LegState.CLAIMED),
    "set_aside": (frozenset({LegState.CLAIMED}), LegState.PACED),
    "mark_placed": (frozenset({LegState.CLAIMED}), LegState.PLACED),
    "mark_placement_unknown": (frozenset({LegState.CLAIMED}), LegState.PLACED),
    "end_leg": (frozenset({LegState.CLAIMED, LegState.PLACED}), LegState.ENDED),
}


def one_of(
    alias: str, values: Iterable[str], path: str | None = None
) -> tuple[str, dict[str, Any]]:
    """``#alias IN (:alias0, ...)`` (or ``path IN ...``) and its values, in a stable order."""
    ordered = sorted(values)
    names = [f":{alias}{i}" for i in range(len(ordered))]
    return f"{path or '#' + alias} IN ({', '.join(names)})", dict(zip(names, ordered, strict=True))


def _narrowed(sources: frozenset[Any], only: Iterable[Any] | None, target: Any) -> frozenset[Any]:
    """The machine's ``sources`` of ``target``, narrowed to ``only`` (which must be among
    them)."""
    if only is not None:
        narrowed = frozenset(only)
        if not narrowed <= sources:
            raise ValueError(f"{sorted(narrowed - sources)} may not move to {target}")
        sources = narrowed
    return sources


def status_condition(
    target: CallStatus, only: Iterable[CallStatus] | None = None
) -> tuple[str, dict[str, Any]]:
    """The condition under which a call may move to ``target``: from the state machine's
    sources of it, narrowed to ``only`` (which must be among them)."""
    return one_of("status", (s.value for s in _narrowed(sources_of(target), only, target)))


def leg_condition(
    target: LegState, only: Iterable[LegState] | None = None
) -> tuple[str, dict[str, Any]]:
    """Like ``status_condition`` for the state of the leg the write names ``#lid``."""
    sources = _narrowed(leg_sources_of(target), only, target)
    return one_of("state", (LEG_STATE_CODES[s] for s in sources), LEG_STATE)


def read_with(token: str | None) -> tuple[str, dict[str, Any]]:
    """The call still has the dispatch token it was read with (none: never rescheduled)."""
    if token:
        return "#dispatch = :dispatch", {":dispatch": token}
    return "attribute_not_exists(#dispatch)", {}


def at_leg(position: tuple[int, int]) -> tuple[str, dict[str, Any]]:
    """The call's current leg is the one at ``position`` (attempt, number index)."""
    attempt, index = position
    return "#attempt = :attempt AND #index = :index", {":attempt": attempt, ":index": index}


def every(*conditions: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """All of ``conditions``, and all their values."""
    values: dict[str, Any] = {}
    for _, more in conditions:
        values |= more
    return " AND ".join(condition for condition, _ in conditions), values


def deadline_keys(phonon_uuid: str, due: datetime) -> dict[str, Any]:
    """The call's entry in the dialing-deadlines index: its shard and when it is overdue."""
    shard = zlib.crc32(phonon_uuid.encode()) % DEADLINE_SHARDS
    return {DEADLINE_PARTITION_KEY: str(shard), DEADLINE_SORT_KEY: int(due.timestamp()) + 1}


def ending_leg(leg_id: str | None) -> tuple[tuple[str, dict[str, Any]], ...]:
    """What must hold for a write that records the end of leg ``leg_id`` (named ``#lid``): the
    leg has not ended yet (nothing without one)."""
    if leg_id is None:
        return ()
    return (leg_condition(LegState.ENDED, LEG_MOVES["end_leg"][0]),)
