"""Whose turn it is to deliver to an account's receiver, within one process.

A webhooks batch's deliveries run together (handlers/webhooks.py). To a receiver not known to
work, that would send a burst of attempts where one would do: the account backoff
(adapters/receiver_backoff.py) holds an account's deliveries back only once one of them has
failed. So until a delivery to the account has succeeded in this process, its deliveries take
turns (each reads the backoff mark after the one before it recorded its failure); once one has
succeeded they go together; a failure of theirs is recorded once (the others, sent at the same
time, are that same failure), and turns are taken again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReceiverTurns:
    """Per account: deliveries one at a time until one succeeded, then together."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._working: set[str] = set()  # accounts whose receiver took the last delivery
        self._turns: dict[str, threading.Lock] = {}

    @contextmanager
    def turn(self, account_id: str) -> Iterator[bool]:
        """Hold the block until it is this delivery's turn; yields whether it goes together
        with others (the receiver is known to work)."""
        with self._lock:
            together = account_id in self._working
            turn = self._turns.setdefault(account_id, threading.Lock())
        if not together:
            with turn:
                with self._lock:  # the delivery before this one may have worked
                    together = account_id in self._working
                if not together:
                    yield False
                    return
        yield True

    def delivered(self, account_id: str) -> None:
        with self._lock:
            self._working.add(account_id)

    def failed(self, account_id: str, together: bool) -> bool:
        """The receiver failed a delivery; whether this failure is to be recorded (not when a
        delivery sent together with it was already recorded as failing)."""
        with self._lock:
            was_working = account_id in self._working
            self._working.discard(account_id)
        return was_working or not together
