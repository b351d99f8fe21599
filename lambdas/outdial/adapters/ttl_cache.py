"""A small in-process cache whose entries expire: what a Lambda environment keeps between
invocations (secrets, flow views) for a bounded time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TtlCache(Generic[T]):
    """Thread-safe, entries kept ``ttl_seconds`` by ``clock``. A missing or expired entry is
    loaded once: readers of the same key wait for that one load (a dial group's threads read
    their flow once), readers of other keys do not wait for it."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, T]] = {}
        self._loading: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def _fresh(self, key: str) -> tuple[float, T] | None:
        with self._lock:
            entry = self._entries.get(key)
        return entry if entry is not None and self._clock() < entry[0] else None

    def get(self, key: str, load: Callable[[], T]) -> T:
        entry = self._fresh(key)
        if entry is not None:
            return entry[1]
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            entry = self._fresh(key)  # loaded meanwhile by the reader we waited for
            if entry is not None:
                return entry[1]
            value = load()
            self.put(key, value)
            return value

    def put(self, key: str, value: T) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + self._ttl, value)

    def invalidate(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)
