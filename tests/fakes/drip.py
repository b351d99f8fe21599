"""A receiver on 127.0.0.1 that answers as slowly as it likes: a status line, then one header
line every ``interval`` seconds, forever (until the client hangs up or the receiver stops).

Each read the client makes gets a byte or a line well inside any per-read timeout, so only a
wall-clock limit on the whole request ends it.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType


class DrippingReceiver:
    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.connections = 0
        self.held_seconds: list[float] = []  # how long each connection was held by the client
        self._server = socket.create_server(("127.0.0.1", 0))
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}/hook"

    def __enter__(self) -> DrippingReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._server.close()
        self._thread.join(timeout=2)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        started = time.monotonic()
        with connection:
            try:
                connection.recv(65536)  # the request (small: one webhook)
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                line = 0
                while not self._stopping.wait(self.interval):
                    line += 1
                    connection.sendall(f"X-Drip-{line}: .\r\n".encode())
            except OSError:
                pass  # the client hung up: what a wall-clock limit does
        with self._lock:
            self.held_seconds.append(time.monotonic() - started)
