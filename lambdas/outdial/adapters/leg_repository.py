"""A leg's item, moved only by methods that say what they do: claimed, set aside for pace,
placed, ended (``outdial.models.legs.LEG_ALLOWED``); part of the call repository."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from outdial.adapters.call_items import (
    LEG_DEADLINE,
    claim_item,
    leg_ending_values,
    leg_from_item,
)
from outdial.adapters.calls_store import CallsStore, leg_pk
from outdial.adapters.moves import LEG_MOVES, leg_condition
from outdial.models.legs import LegEnding, LegRecord, LegState


class LegMoves:
    """The leg half of ``DynamoCallRepository``."""

    store: CallsStore

    def claim_leg(self, leg: LegRecord) -> bool:
        """Create the leg's item (CLAIMED) unless it exists: of two dialers, one claims it."""
        return self.store.put_new(claim_item(leg))

    def take_over_claim(self, leg_id: str, now_epoch: int, claimed_before: int) -> bool:
        """Claim again a leg set aside (PACED), or one still CLAIMED since before
        ``claimed_before`` (its dialer died)."""
        sources = LEG_MOVES["take_over_claim"][0]
        leg_condition(LegState.CLAIMED, sources)  # the machine allows every one of them
        values: dict[str, Any] = {":stale": claimed_before}
        parts = []
        for index, state in enumerate(sorted(sources)):
            values[f":state{index}"] = state.value
            # A claim still held is taken over only once its dialer must have died.
            stale = " AND #claimed < :stale" if state is LegState.CLAIMED else ""
            parts.append(f"(#state = :state{index}{stale})")
        return self._claim_again(leg_id, now_epoch, " OR ".join(parts), values)

    def take_back_paced(self, leg_id: str, now_epoch: int) -> bool:
        """Claim again a leg set aside to wait for pace (never one a dialer may be placing)."""
        condition, values = leg_condition(LegState.CLAIMED, LEG_MOVES["take_back_paced"][0])
        return self._claim_again(leg_id, now_epoch, condition, values)

    def _claim_again(
        self, leg_id: str, now_epoch: int, condition: str, values: dict[str, Any]
    ) -> bool:
        taken = self.store.update(
            leg_pk(leg_id),
            {"claimed-epoch": now_epoch, "state": LegState.CLAIMED.value},
            condition=condition,
            condition_values=values,
        )
        return taken is not None

    def set_aside(self, leg_id: str) -> None:
        """A claimed leg not placed after all (over the gateway's pace or rate limit): PACED,
        for the next dialer to reach it to take at once."""
        condition, values = leg_condition(LegState.PACED, LEG_MOVES["set_aside"][0])
        self.store.update(
            leg_pk(leg_id),
            {"state": LegState.PACED.value},
            condition=condition,
            condition_values=values,
        )

    def release_claim(self, leg_id: str) -> None:
        """Delete a leg's claim while it is only a claim (the leg was not placed after all)."""
        self.store.release_claim(leg_pk(leg_id))

    def mark_placed(
        self,
        leg_id: str,
        *,
        placed_at: datetime,
        deadline: datetime,
        gateway_ref: str | None,
        placement: str | None = None,
    ) -> None:
        """The gateway took the leg at ``placed_at`` (or may have: ``placement`` unknown); its
        outcome is due by ``deadline``."""
        condition, condition_values = leg_condition(LegState.PLACED, LEG_MOVES["mark_placed"][0])
        self.store.update(
            leg_pk(leg_id),
            {
                "state": LegState.PLACED.value,
                "placement": placement,
                LEG_DEADLINE: int(deadline.timestamp()),
                "gateway-ref": gateway_ref,
                "placed-at": placed_at.astimezone(UTC).isoformat(),
            },
            condition=condition,
            condition_values=condition_values,
        )

    def mark_placement_unknown(self, leg_id: str, claimed_before: int, placement: str) -> bool:
        """A leg still CLAIMED since before ``claimed_before`` (its dialer died while asking a
        gateway that does not dedupe) counts as placed, ``placement`` unknown: never asked
        again, it waits for its callback or its deadline."""
        condition, values = leg_condition(LegState.PLACED, LEG_MOVES["mark_placement_unknown"][0])
        moved = self.store.update(
            leg_pk(leg_id),
            {"state": LegState.PLACED.value, "placement": placement},
            condition=f"{condition} AND #claimed < :stale",
            condition_values=values | {":stale": claimed_before},
        )
        return moved is not None

    def end_leg(self, leg_id: str, ending: LegEnding) -> LegRecord | None:
        """ENDED as ``ending`` says, once; None when it had ended already."""
        condition, condition_values = leg_condition(LegState.ENDED, LEG_MOVES["end_leg"][0])
        ended = self.store.update(
            leg_pk(leg_id),
            {"state": LegState.ENDED.value, **leg_ending_values(ending)},
            condition=condition,
            condition_values=condition_values,
            remove=(LEG_DEADLINE,),
        )
        return leg_from_item(ended) if ended else None

    def mark_leg_notified(self, leg_id: str) -> None:
        self.store.update(leg_pk(leg_id), {"notified": True})
