"""How an account's balance is spread over shard items, and how a take is planned over them.

Pure: no I/O (``outdial.adapters.balances`` writes what these plan).

Why shards. Every accepted request reserves from its account's balance and every ended call
that is not COMPLETED gives its reservation back, each in a ``TransactWriteItems``: a
transactional write of an item under 1 KB costs 2 WCU, and DynamoDB serves at most 1,000 WCU/s
on one item (one partition key). One account at 500 accepted calls/s, one a request (500
reservations/s, the worst case), and 250 settlements/s would put (500 + 250) x 2 = 1,500 WCU/s
on a single balance item: throttled. Spread over ``BALANCE_SHARDS`` = 10 items chosen
uniformly, each takes 1,500 / 10 = 150 WCU/s, 15 % of its limit; one account can sustain
10 x 1,000 = 10,000 WCU/s before a shard saturates, i.e. about 3,300 reservations/s with half
of them refunded ((2 + 0.5 x 2) WCU each). ``show`` reads every shard (one consistent
``BatchGetItem``, 1 RCU each), far below a shard's read limit (3,000 RCU/s). A reservation that
has to rebalance writes every shard (``outdial.adapters.balances``); it happens only when the chosen shard is short,
so at even shards and a balance well above a request's cost it is rare: even at 5 % of
reservations it adds 500 x 0.05 x 2 = 50 WCU/s per shard.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from decimal import Decimal

# How many items an account's balance is spread over (see the module's docstring for why 10).
# Changing it for existing accounts strands the money of the shards beyond the new count.
BALANCE_SHARDS = 10


def shard_of(spread_key: str) -> int:
    """The shard a request or a call uses, from a stable hash of its key (uniform over keys)."""
    return zlib.crc32(spread_key.encode()) % BALANCE_SHARDS


def split_evenly(total: Decimal, parts: int) -> list[Decimal]:
    """``total`` cut into ``parts`` shares that differ by at most one unit of its last decimal
    place and add up to it exactly (the larger shares first)."""
    exponent = min(int(total.as_tuple().exponent), 0)
    units = int(total.scaleb(-exponent))
    whole, left = divmod(units, parts)
    return [Decimal(whole + (1 if i < left else 0)).scaleb(exponent) for i in range(parts)]


def plan_take(
    shards: Sequence[Decimal], legacy: Decimal, amount: Decimal
) -> tuple[list[Decimal], Decimal] | None:
    """What taking ``amount`` from a balance held as ``shards`` plus ``legacy`` moves: a change
    per shard and the legacy balance's change, so that ``amount`` is gone, the legacy balance is
    emptied into the shards, and the rest lies evenly over the shards. None when the total does
    not cover ``amount``."""
    total = sum(shards, legacy)
    if total < amount:
        return None
    targets = split_evenly(total - amount, len(shards))
    return [target - held for target, held in zip(targets, shards, strict=True)], -legacy
