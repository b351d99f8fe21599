"""A leg's entry on its call, moved only by methods that say what they do: claimed, set aside for
pace, placed, ended (``outdial.models.legs.LEG_ALLOWED``); part of the call repository.

A leg has no item of its own: its id names its call (``outdial.models.legs.parse_leg_id``), and
its state is its entry ``legs.<leg-id>`` there, so that its claim and its end ride on the writes
that move the call (``start_dialing``, ``advance_to``, ``schedule_retry``, ``finish``). The
methods here are the moves of a leg the call's own moves do not make.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from outdial.adapters.call_items import (
    LEG_STATE_CODES,
    PLACING_UNKNOWN,
    call_from_item,
    entry_path,
    leg_entry_values,
)
from outdial.adapters.calls_store import CallsStore, call_pk
from outdial.adapters.moves import (
    LEG_CLAIMED,
    LEG_MOVES,
    LEG_STATE,
    at_leg,
    deadline_keys,
    every,
    leg_condition,
    one_of,
)
from outdial.models.calls import Call, CallStatus, EndedLeg, LegEntry, leg_of
from outdial.models.legs import LegRecord, LegState, parse_leg_id


def call_of_leg(leg_id: str) -> str | None:
    """The id of the call leg ``leg_id`` belongs to; None when it names none."""
    parsed = parse_leg_id(leg_id)
    return parsed[0] if parsed else None


class LegMoves:
    """The leg half of ``DynamoCallRepository``."""

    store: CallsStore

    def get_leg(self, leg_id: str) -> LegRecord | None:
        """Leg ``leg_id`` as its call's entry records it (one read of the call)."""
        phonon_uuid = call_of_leg(leg_id)
        item = self.store.get_call(phonon_uuid) if phonon_uuid else None
        return leg_of(call_from_item(item), leg_id) if item else None

    def claim_leg(self, call: Call, leg: LegEntry) -> bool:
        """Claim ``leg``, the leg ``call`` dials now, if nobody holds it (its claim was given
        back): of two dialers, one claims it."""
        condition, values = every(
            one_of("status", [CallStatus.DIALING.value]),
            at_leg(call.position),
            ("attribute_not_exists(#legs.#lid)", {}),
        )
        return self._claim(call.phonon_uuid, leg, condition, values, leg[1].deadline_at)

    def take_over_claim(self, call: Call, leg: LegEntry, claimed_before: int) -> bool:
        """Claim ``leg`` again, as it says: one set aside (PACED), or one still CLAIMED since
        before ``claimed_before`` (its dialer died)."""
        sources = LEG_MOVES["take_over_claim"][0]
        leg_condition(LegState.CLAIMED, sources)  # the machine allows every one of them
        values: dict[str, Any] = {":stale": claimed_before}
        parts = []
        for index, state in enumerate(sorted(sources)):
            values[f":state{index}"] = LEG_STATE_CODES[state]
            # A claim still held is taken over only once its dialer must have died.
            stale = f" AND {LEG_CLAIMED} < :stale" if state is LegState.CLAIMED else ""
            parts.append(f"({LEG_STATE} = :state{index}{stale})")
        return self._claim(call.phonon_uuid, leg, " OR ".join(parts), values, leg[1].deadline_at)

    def take_back_paced(self, call: Call, leg: LegEntry) -> bool:
        """Claim ``leg`` again, as it says, if it was set aside to wait for pace (never one a
        dialer may be placing)."""
        condition, values = leg_condition(LegState.CLAIMED, LEG_MOVES["take_back_paced"][0])
        return self._claim(call.phonon_uuid, leg, condition, values, leg[1].deadline_at)

    def _claim(
        self,
        phonon_uuid: str,
        leg: LegEntry,
        condition: str,
        values: dict[str, Any],
        deadline_at: int | None,
    ) -> bool:
        """Write the claim ``leg`` on its call if ``condition`` holds; the call is due in the
        dialing-deadlines index at the leg's deadline."""
        due = {}
        if deadline_at is not None:
            due = deadline_keys(phonon_uuid, datetime.fromtimestamp(deadline_at, UTC))
        taken = self.store.update(
            call_pk(phonon_uuid),
            leg_entry_values(leg) | due,
            condition=condition,
            condition_values=values,
            leg_id=leg[0],
        )
        return taken is not None

    def set_aside(self, leg_id: str) -> None:
        """A claimed leg not placed after all (over the gateway's pace or rate limit): PACED,
        for the next dialer to reach it to take at once."""
        self._move_leg(
            leg_id,
            LegState.PACED,
            "set_aside",
            {entry_path(leg_id, "state"): LEG_STATE_CODES[LegState.PACED]},
        )

    def release_claim(self, leg_id: str) -> None:
        """Delete a leg's claim while it is only a claim (the leg was not placed after all):
        the next dialer to reach its call claims it afresh."""
        phonon_uuid = call_of_leg(leg_id)
        if phonon_uuid is None:
            return
        condition, values = one_of("state", [LEG_STATE_CODES[LegState.CLAIMED]], LEG_STATE)
        self.store.update(
            call_pk(phonon_uuid),
            {},
            condition=condition,
            condition_values=values,
            remove=(entry_path(leg_id),),
            leg_id=leg_id,
        )

    def mark_placed(
        self,
        leg_id: str,
        *,
        placed_at: datetime,
        deadline: datetime,
        gateway_ref: str | None,
    ) -> None:
        """The gateway took the leg at ``placed_at`` (or may have); its outcome is due by
        ``deadline``."""
        values: dict[str, Any] = {
            entry_path(leg_id, "state"): LEG_STATE_CODES[LegState.PLACED],
            entry_path(leg_id, "started_at"): placed_at.astimezone(UTC).isoformat(),
            entry_path(leg_id, "deadline_at"): int(deadline.timestamp()),
        }
        if gateway_ref is not None:
            values[entry_path(leg_id, "gateway_ref")] = gateway_ref
        self._move_leg(leg_id, LegState.PLACED, "mark_placed", values)

    def mark_placement_unknown(self, leg_id: str, claimed_before: int) -> bool:
        """A leg still CLAIMED since before ``claimed_before`` (its dialer died while asking a
        gateway that does not dedupe) counts as placed, when unknown: never asked again, it
        waits for its callback or its deadline."""
        return self._move_leg(
            leg_id,
            LegState.PLACED,
            "mark_placement_unknown",
            {
                entry_path(leg_id, "state"): LEG_STATE_CODES[LegState.PLACED],
                f"{entry_path(leg_id)}.{PLACING_UNKNOWN}": True,
            },
            also=(f"{LEG_CLAIMED} < :stale", {":stale": claimed_before}),
        )

    def end_leg(self, leg: EndedLeg) -> Call | None:
        """Record ``leg``'s end on its call, once: the call, or None when the leg had ended
        already (or is not the call's)."""
        phonon_uuid = call_of_leg(leg[0])
        if phonon_uuid is None:
            return None
        condition, values = leg_condition(LegState.ENDED, LEG_MOVES["end_leg"][0])
        ended = self.store.update(
            call_pk(phonon_uuid),
            leg_entry_values(leg),
            condition=condition,
            condition_values=values,
            leg_id=leg[0],
        )
        return call_from_item(ended) if ended else None

    def mark_leg_notified(self, leg_id: str) -> None:
        """The leg's ``leg.ended`` webhook was queued."""
        phonon_uuid = call_of_leg(leg_id)
        if phonon_uuid is not None:
            self.store.update(
                call_pk(phonon_uuid),
                {entry_path(leg_id, "notified"): True},
                condition="attribute_exists(#legs.#lid)",
                leg_id=leg_id,
            )

    def _move_leg(
        self,
        leg_id: str,
        target: LegState,
        move: str,
        values: dict[str, Any],
        *,
        also: tuple[str, dict[str, Any]] | None = None,
    ) -> bool:
        """Set ``values`` on leg ``leg_id``'s entry if the leg may make ``move`` to ``target``
        (and ``also`` holds)."""
        phonon_uuid = call_of_leg(leg_id)
        if phonon_uuid is None:
            return False
        condition, condition_values = leg_condition(target, LEG_MOVES[move][0])
        if also is not None:
            condition, condition_values = every((condition, condition_values), also)
        moved = self.store.update(
            call_pk(phonon_uuid),
            values,
            condition=condition,
            condition_values=condition_values,
            leg_id=leg_id,
        )
        return moved is not None
