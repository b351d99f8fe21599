"""The test account's balance, read and set on moto (helpers, not tests)."""

from __future__ import annotations

from typing import Any

from outdial.adapters.balances import Balances
from outdial.adapters.config_store import ConfigStore

FULL_BALANCE = 1000  # the test account's balance; each call costs 1


def balance() -> Any:
    return ConfigStore().get_balance("acme")


def set_balance(amount: int) -> None:
    """Bring the account's balance to ``amount`` (by adding the difference)."""
    balances = Balances()
    balances.add("acme", amount - (balances.show("acme") or 0))
