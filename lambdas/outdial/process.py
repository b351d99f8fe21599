"""What a process keeps between invocations, and the one way to forget it all.

A Lambda environment keeps its AWS clients, settings, adapters and caches (secrets, flow views)
from one invocation to the next; that is the point of making them once. Whoever moves the
ground under them (a test that points at another AWS, `outdial serve` starting its embedded
one) calls ``reset_process_state()``, which clears every such cache, wherever it lives.

Each cache registers itself here when its module is imported: this module imports nothing of
the package, so adapters and handlers alike can use it without an upward dependency.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_resets: list[Callable[[], Any]] = []


def on_reset(clear: Callable[[], Any]) -> Callable[[], Any]:
    """Have ``reset_process_state()`` call ``clear``; returns it (usable as a decorator)."""
    with _lock:
        _resets.append(clear)
    return clear


def process_cached(make: Callable[[], T]) -> Callable[[], T]:
    """Make ``make()``'s result once per process (until ``reset_process_state()``)."""
    cached = functools.cache(make)
    on_reset(cached.cache_clear)
    return cached


def reset_process_state() -> None:
    """Forget every AWS client, the settings, the handlers' adapters and every cache."""
    with _lock:
        resets = list(_resets)
    for clear in resets:
        clear()
