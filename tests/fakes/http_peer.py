"""A small scriptable HTTP server on 127.0.0.1 that records what it receives.

It plays whatever peer a test needs over real sockets: a telephony gateway for the http gateway
adapter, a customer's webhook receiver, a slow or dead server.

API
---
``HttpPeer(default=Reply(200), responder=None)``
    A server on ``127.0.0.1`` at a free port. Use it as a context manager (or ``start()`` /
    ``stop()``). Each request is answered by, in order of precedence:

    1. the next reply queued with ``enqueue(*replies)`` (consumed one per request, FIFO);
    2. ``responder(request)`` if given: a function of the ``Recorded`` request returning a
       ``Reply`` (to verify signatures, answer per path, count, ...);
    3. ``default``.

``Reply(status=200, body=b"", headers={}, delay=0.0, close_without_reply=False)``
    What to answer. ``delay`` sleeps before answering (past a client's read timeout, say); a
    delayed reply ends early when the peer stops, so stopping never hangs.
    ``Reply.json(status, payload, headers=None, delay=0.0)`` builds a JSON reply;
    ``Reply.drop()`` closes the connection without a status line (a crashed peer).

``default`` and ``responder`` are plain attributes: a test may swap them at any time. The
server speaks HTTP/1.1 with keep-alive, as real servers do.

Attributes and methods
    ``url`` (``http://127.0.0.1:<port>``), ``url_for(path)``, ``port``;
    ``requests``: a snapshot list of every ``Recorded`` request so far, in arrival order;
    ``wait_for(count, timeout=5.0)``: block until at least ``count`` requests arrived, return
    them (AssertionError on timeout); ``reset()``: forget requests and queued replies.

``Recorded``
    ``method``, ``path`` (with query), ``headers`` (case-insensitive ``header(name)``, or the
    raw ``headers`` list of pairs), ``body`` (bytes), ``received_at`` (``time.monotonic()``),
    ``json()`` (the body parsed).

Every request is recorded before it is answered, including ones the client gives up on.
Request bodies are read by Content-Length (chunked uploads are not supported).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Reply:
    """An answer the peer gives."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    close_without_reply: bool = False

    @classmethod
    def json(
        cls, status: int, payload: Any, headers: dict[str, str] | None = None, delay: float = 0.0
    ) -> Reply:
        """A JSON reply."""
        return cls(
            status=status,
            body=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            delay=delay,
        )

    @classmethod
    def drop(cls, delay: float = 0.0) -> Reply:
        """Close the connection without a status line (a crashed peer, mid-request)."""
        return cls(close_without_reply=True, delay=delay)


@dataclass(frozen=True)
class Recorded:
    """A request the peer received."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    received_at: float

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung handler never keeps the test process alive
    peer: HttpPeer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or drop a connection are what several tests are about.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers: exercises connection reuse

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Recorded(
            method=self.command,
            path=self.path,
            headers=list(self.headers.items()),
            body=body,
            received_at=time.monotonic(),
        )
        reply = self.server.peer._record(request)
        if reply.delay and self.server.peer._stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.close_without_reply:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body:
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read ``requests``, not stderr


class HttpPeer:
    """A recording, scriptable HTTP server on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        default: Reply | None = None,
        responder: Callable[[Recorded], Reply] | None = None,
    ) -> None:
        self.default = default or Reply()
        self.responder = responder
        self._queued: deque[Reply] = deque()
        self._requests: list[Recorded] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> HttpPeer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.peer = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HttpPeer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the peer first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, path: str) -> str:
        return f"{self.url}/{path.lstrip('/')}"

    def enqueue(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order."""
        with self._changed:
            self._queued.extend(replies)

    @property
    def requests(self) -> list[Recorded]:
        with self._changed:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Recorded]:
        """Block until ``count`` requests arrived; the requests so far."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(
                    f"expected {count} requests within {timeout}s, got {len(self._requests)}"
                )
            return list(self._requests)

    def reset(self) -> None:
        with self._changed:
            self._requests.clear()
            self._queued.clear()

    def _record(self, request: Recorded) -> Reply:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            if self._queued:
                return self._queued.popleft()
        if self.responder is not None:
            return self.responder(request)
        return self.default
