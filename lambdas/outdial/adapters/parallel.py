"""A bounded pool for work that does not depend on each other, mostly waiting on the network
(botocore clients are thread-safe): a 500-call request's batches go out together, not one after
another; a dial group's legs wait on their gateway together.

Each item runs in a copy of the caller's context: what the caller set in context variables (the
logger's keys, the dialer's time budget, an open metrics batch) holds in the pool's threads too,
and what an item sets there stays its own."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Enough for a 500-call request's 21 DynamoDB batches in one wave; well inside the clients'
# connection pools (adapters/aws.py) and the api function's share of a vCPU, since the threads
# only wait on the network.
MAX_CONCURRENT_REQUESTS = 25


def each(
    work: Callable[[T], R], items: Sequence[T], limit: int = MAX_CONCURRENT_REQUESTS
) -> list[R | Exception]:
    """``work(item)`` for every item, at most ``limit`` at a time; every one runs to its end
    whatever the others do. Results in the order of ``items``, an exception in place of the
    result of each that raised (the caller decides what a failure means)."""

    def attempt(item: T) -> R | Exception:
        try:
            return work(item)
        except Exception as exc:
            return exc

    if len(items) <= 1:
        return [attempt(item) for item in items]
    contexts = [contextvars.copy_context() for _ in items]
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        return list(pool.map(lambda ctx, item: ctx.run(attempt, item), contexts, items))


def first_error(results: Sequence[object]) -> Exception | None:
    return next((r for r in results if isinstance(r, Exception)), None)
