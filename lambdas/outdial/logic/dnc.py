"""The do-not-call list routes (SPEC §9): a flow's credentials manage its account's list."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from outdial.adapters.dnc_store import DncStore
from outdial.logic.validation import check_list_size, require
from outdial.models.codes import Code, ContractError
from outdial.models.config import FlowView
from outdial.models.phone import to_e164
from outdial.models.requests import DncBulkBody

ACTIONS = ("add", "remove")


def normalise(raw: str, region: str) -> str:
    """A number as §2 accepts it (``+91…``, ``91…`` or national), in E.164; else 205."""
    number = to_e164(unquote(raw), region)
    if number is None:
        raise ContractError(Code.INVALID_CONTACT_NUMBER, f"{raw!r} is not a valid phone number")
    return number


@dataclass
class DncList:
    store: DncStore = field(default_factory=DncStore)

    def add(self, view: FlowView, raw: str, now: datetime) -> dict[str, Any]:
        number = normalise(raw, view.account.region)
        added_at = self.store.add(view.account.account_id, number, now)
        return {"number": number, "on-list": True, "added-at": added_at}

    def remove(self, view: FlowView, raw: str) -> dict[str, Any]:
        number = normalise(raw, view.account.region)
        was = self.store.remove(view.account.account_id, number)
        return {"number": number, "on-list": False, "removed": was}

    def lookup(self, view: FlowView, raw: str) -> dict[str, Any]:
        number = normalise(raw, view.account.region)
        added_at = self.store.listed_since(view.account.account_id, number)
        if added_at is None:
            raise ContractError(
                Code.NO_DATA_AVAILABLE,
                "the number is not on the do-not-call list",
                number=number,
                **{"on-list": False},
            )
        return {"number": number, "on-list": True, "added-at": added_at}

    def bulk(self, view: FlowView, body: DncBulkBody, now: datetime) -> int:
        """Add or remove up to 500 numbers, all or none: one invalid number refuses the lot
        (205, naming it). Returns how many numbers changed (were added, or were removed)."""
        assert body.numbers is not None and body.action is not None
        check_list_size(body.numbers, "numbers")
        if body.action not in ACTIONS:
            raise ContractError(Code.INVALID_FORMAT, f"action must be one of {ACTIONS}")
        numbers: list[str] = []
        for index, raw in enumerate(body.numbers):
            number = to_e164(raw, view.account.region) if isinstance(raw, str) else None
            if number is None:
                raise ContractError(
                    Code.INVALID_CONTACT_NUMBER,
                    f"numbers[{index}] {raw!r} is not a valid phone number; nothing was changed",
                )
            numbers.append(number)
        account = view.account.account_id
        if body.action == "add":
            return self.store.add_many(account, numbers, now)
        return self.store.remove_many(account, numbers)


def require_bulk(body: DncBulkBody) -> None:
    """Check 2 for the bulk route."""
    require(
        {
            "security-id": body.security_id,
            "flow-id": body.flow_id,
            "numbers": body.numbers,
            "action": body.action,
        }
    )
