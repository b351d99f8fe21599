"""The balance's shards: which shard a request uses, and the rule that a request the total
covers is taken from the total (and the rest spread evenly), never refused for one shard."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from outdial.adapters.balance_shards import BALANCE_SHARDS, plan_take, shard_of, split_evenly

money = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


def test_a_key_always_uses_the_same_shard() -> None:
    assert shard_of("CALL#c1") == shard_of("CALL#c1")
    assert 0 <= shard_of("CALL#c1") < BALANCE_SHARDS


def test_keys_spread_evenly_over_every_shard() -> None:
    # Given 20,000 request ids / When each picks its shard
    used = Counter(shard_of(f"req-{n:08d}") for n in range(20_000))
    # Then every shard takes close to its tenth (no shard is hot)
    share = 20_000 / BALANCE_SHARDS
    assert set(used) == set(range(BALANCE_SHARDS))
    assert all(0.9 * share < n < 1.1 * share for n in used.values()), used


def test_an_amount_splits_into_even_shares_that_add_up_exactly() -> None:
    assert split_evenly(Decimal(1000), 10) == [Decimal(100)] * 10
    assert split_evenly(Decimal("1000.37"), 4) == [
        Decimal("250.10"),
        Decimal("250.09"),
        Decimal("250.09"),
        Decimal("250.09"),
    ]
    assert split_evenly(Decimal(3), 10) == [1, 1, 1] + [0] * 7
    assert split_evenly(Decimal("1E+3"), 10) == [Decimal(100)] * 10


@given(money, st.integers(1, 20))
def test_shares_add_up_and_differ_by_one_unit_at_most(total: Decimal, parts: int) -> None:
    shares = split_evenly(total, parts)
    assert sum(shares) == total and len(shares) == parts
    assert max(shares) - min(shares) <= Decimal("0.01")
    assert min(shares) >= 0


def test_a_request_no_single_shard_covers_is_taken_from_the_total() -> None:
    # Given ten shards of 100 (1,000) / When 500 is taken (more than any shard holds)
    plan = plan_take([Decimal(100)] * 10, Decimal(0), Decimal(500))
    # Then it is taken from the total, the rest (500) lying evenly over the shards
    assert plan is not None
    moves, legacy = plan
    assert moves == [Decimal(-50)] * 10 and legacy == 0


def test_a_request_the_total_does_not_cover_is_refused() -> None:
    assert plan_take([Decimal(100)] * 10, Decimal(0), Decimal("1000.01")) is None
    assert plan_take([Decimal(0)] * 10, Decimal(5), Decimal(6)) is None


def test_a_legacy_balance_counts_and_is_moved_into_the_shards() -> None:
    # Given an account from before the shards: everything on its own item
    plan = plan_take([Decimal(0)] * 10, Decimal(1000), Decimal(3))
    # Then taking 3 empties the legacy balance and spreads 997 over the shards
    assert plan is not None
    moves, legacy = plan
    assert legacy == -1000
    assert moves == [Decimal(100)] * 7 + [Decimal(99)] * 3


@given(st.lists(money, min_size=BALANCE_SHARDS, max_size=BALANCE_SHARDS), money, money)
def test_taking_moves_exactly_the_amount_and_leaves_no_shard_negative(
    shards: list[Decimal], legacy: Decimal, amount: Decimal
) -> None:
    plan = plan_take(shards, legacy, amount)
    total = sum(shards, legacy)
    # A request is refused only when the total does not cover it
    assert (plan is None) == (total < amount)
    if plan is None:
        return
    moves, legacy_move = plan
    assert sum(moves, legacy_move) == -amount
    after = [held + move for held, move in zip(shards, moves, strict=True)]
    assert legacy + legacy_move == 0
    assert min(after) >= 0 and max(after) - min(after) <= Decimal("0.01")
