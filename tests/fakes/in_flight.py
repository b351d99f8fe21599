"""Counting how many slow requests a fake peer had in flight at once."""

from __future__ import annotations

import threading
import time


class InFlight:
    """Each ``wait()`` takes ``seconds``; ``most`` is how many were waiting at the same time."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.now = self.most = 0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.seconds)
        with self._lock:
            self.now -= 1
