"""Background loops for `outdial serve`: ``Periodic`` ticks every ``interval`` seconds in a
thread; ``Timer`` is an EventBridge rate rule, invoking a handler on each tick."""

from __future__ import annotations

import threading
from typing import Any, Self

from outdial.local.apigateway import Handler, LambdaContext
from outdial.observability import logger


class Periodic:
    """Calls ``tick`` now and then every ``interval`` seconds, in a thread, until ``stop``."""

    def __init__(self, *, interval: float, name: str) -> None:
        self.interval = interval
        self.name = name
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> Any:
        raise NotImplementedError

    def start(self) -> Self:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:
                if self._stopping.is_set():
                    return
                logger.exception("background tick failed", worker=repr(self))
            self._stopping.wait(self.interval)


class Timer(Periodic):
    """Invokes ``handler`` with a scheduled event on every tick, as a rate rule would."""

    def __init__(self, handler: Handler, *, interval: float, name: str) -> None:
        super().__init__(interval=interval, name=name)
        self._handler = handler

    def __repr__(self) -> str:
        return f"{self.name}(every {self.interval}s)"

    def tick(self) -> Any:
        event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
        return self._handler(event, LambdaContext(function_name=self.name))
