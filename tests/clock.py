"""A wall clock in epoch seconds that the test moves (helpers, not tests)."""

from __future__ import annotations

import time


class Clock:
    """Epoch seconds, standing still until the test sets ``now``."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now
