"""The dialer's time budget: work that would outlive the invocation goes back on the queue.

A dialer invocation has a hard timeout; a message whose work is cut off by it fails as a whole
and comes back only after its visibility timeout (and after a few such receives, lands in the
dead-letter queue). So before anything that may take a while, the dialer asks whether it still
fits in what is left of the invocation; if not, it puts that work back on the queue instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from outdial.models.config import AnyGateway, HttpGateway, SimulatorGateway

# Kept back from the invocation's end for what follows the last step (writes, the queue).
MARGIN_SECONDS = 5.0
# Reading a call, claiming its leg and recording it, besides the gateway's own time.
STEP_SECONDS = 2.0

_deadline: ContextVar[float | None] = ContextVar("dial_deadline", default=None)


@contextmanager
def budget(remaining_seconds: float | None) -> Iterator[None]:
    """Run the block with ``remaining_seconds`` to spend (None: no limit, e.g. a test)."""
    deadline = None if remaining_seconds is None else time.monotonic() + remaining_seconds
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def fits(seconds: float) -> bool:
    """Whether ``seconds`` more work ends before the budget's deadline, margin kept."""
    deadline = _deadline.get()
    return deadline is None or time.monotonic() + seconds + MARGIN_SECONDS <= deadline


def placing_seconds(gateway: AnyGateway | None) -> float:
    """The longest placing one leg through ``gateway`` may take, every retry included (a
    carrier's leg is posted once)."""
    if isinstance(gateway, HttpGateway):
        from outdial.adapters.gateways.http import RetryPolicy

        policy = RetryPolicy()
        per_attempt = gateway.connect_timeout + gateway.read_timeout
        waits = (policy.max_attempts - 1) * max(policy.max_delay, policy.max_retry_after)
        return STEP_SECONDS + policy.max_attempts * per_attempt + waits
    if gateway is not None and not isinstance(gateway, SimulatorGateway):
        return STEP_SECONDS + gateway.connect_timeout + gateway.read_timeout
    return STEP_SECONDS
