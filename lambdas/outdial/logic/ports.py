"""What logic needs of storage, as small Protocols the adapters implement (tests may fake them).

Typed by intention: each method is one move of a call or a leg, and the adapter derives its
write condition from the state machine; no DynamoDB expression or key reaches logic.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from outdial.models.calls import (
    Call,
    CallRequest,
    EndedLeg,
    Ending,
    LegEntry,
    Wait,
)
from outdial.models.legs import LegRecord

Position = tuple[int, int]
"""Which leg a call is dialling: (attempt, number index)."""


class CallRepository(Protocol):
    """Calls and their legs, typed (``Call``, ``LegRecord``): each method one allowed move,
    None/False when it was not allowed (someone else moved the call first)."""

    def get(self, phonon_uuid: str) -> Call | None: ...
    def get_leg(self, leg_id: str) -> LegRecord | None: ...
    def overdue_calls(self, shard: str, before: int, limit: int) -> list[str]: ...

    # calls
    def start_dialing(
        self, call: Call, take_by: datetime, *, leg: LegEntry | None = None
    ) -> Call | None: ...
    def reschedule(self, phonon_uuid: str, read_token: str | None, wait: Wait) -> Call | None: ...
    def advance_to(
        self,
        phonon_uuid: str,
        position: Position,
        number_index: int,
        take_by: datetime | None,
        *,
        ended: EndedLeg | None = None,
        leg: LegEntry | None = None,
    ) -> Call | None: ...
    def schedule_retry(
        self,
        phonon_uuid: str,
        position: Position,
        attempt: int,
        number_index: int,
        at: datetime,
        schedule: str | None,
        *,
        ended: EndedLeg | None = None,
    ) -> bool: ...
    def defer(
        self,
        phonon_uuid: str,
        position: Position,
        until: datetime,
        schedule: str | None,
        *,
        unrecord: str | None = None,
    ) -> bool: ...
    def extend_deadline(self, phonon_uuid: str, position: Position, deadline: datetime) -> bool: ...
    def finish(
        self,
        call: Call,
        position: Position,
        ending: Ending,
        refund: Decimal | None,
        *,
        ended: EndedLeg | None = None,
    ) -> bool: ...
    def cancel(self, phonon_uuid: str, account_id: str, refund: Decimal, at: datetime) -> bool: ...
    def withdraw(self, phonon_uuid: str) -> None: ...
    def mark_notified(self, phonon_uuid: str) -> None: ...

    # legs: each an entry of its call (its claim and its end ride on the call's moves above)
    def claim_leg(self, call: Call, leg: LegEntry) -> bool: ...
    def take_over_claim(self, call: Call, leg: LegEntry, claimed_before: int) -> bool: ...
    def take_back_paced(self, call: Call, leg: LegEntry) -> bool: ...
    def set_aside(self, leg_id: str) -> None: ...
    def release_claim(self, leg_id: str) -> None: ...
    def mark_placed(
        self,
        leg_id: str,
        *,
        placed_at: datetime,
        deadline: datetime,
        gateway_ref: str | None,
    ) -> None: ...
    def mark_placement_unknown(self, leg_id: str, claimed_before: int) -> bool: ...
    def end_leg(self, leg: EndedLeg) -> Call | None: ...
    def mark_leg_notified(self, leg_id: str) -> None: ...


class ChecksumStore(Protocol):
    """Request checksums (SPEC §2 check 12) with the reservation of their calls' cost, and the
    pending-dispatch marks the sweeper reads."""

    def reserve_and_claim(
        self,
        checksum: str,
        response: dict[str, Any],
        now_epoch: int,
        ttl_seconds: int,
        *,
        account_id: str,
        amount: Decimal,
        idempotency: str | None = None,
    ) -> dict[str, Any] | None: ...
    def get_checksum(self, checksum: str, now_epoch: int) -> dict[str, Any] | None: ...
    def mark_dispatched(self, checksum: str, request_id: str) -> None: ...
    def postpone_dispatch(self, checksum: str, now_epoch: int) -> None: ...
    def pending_dispatches(self, claimed_before: int, limit: int) -> list[str]: ...
    def release_and_refund(
        self, checksum: str, request_id: str, account_id: str, amount: Decimal
    ) -> bool: ...
    def refund(self, account_id: str, amount: Decimal, spread_key: str) -> None: ...


class BalanceStore(Protocol):
    """Accounts' balances: what an operator adds (or takes), and what is left."""

    def add(self, account_id: str, amount: Decimal) -> Decimal: ...
    def show(self, account_id: str) -> Decimal | None: ...


class CallReader(Protocol):
    """Calls, create requests and legs, typed, for what the API and the webhooks show of them;
    None (or left out) when there is no such one."""

    def call(self, phonon_uuid: str) -> Call | None: ...
    def calls(self, phonon_uuids: list[str]) -> list[Call]: ...
    def request(self, request_id: str) -> CallRequest | None: ...
    def leg(self, leg_id: str) -> LegRecord | None: ...
