"""A loopback HTTP proxy that lets a number of requests through and holds the next one until
the test opens it: a request deterministically in flight, whatever the machine's load."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class Gate:
    """Forwards POSTs to ``target``; request number ``passes + 1`` waits for ``open()``."""

    def __init__(self, target: str, passes: int) -> None:
        self.target = target.rstrip("/")
        self.passes = passes
        self.seen = 0
        self.holding = threading.Event()
        self._opened = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def open(self) -> None:
        self._opened.set()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gate = self

        class Forward(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                with gate._lock:
                    gate.seen += 1
                    held = gate.seen > gate.passes
                if held:
                    gate.holding.set()
                    gate._opened.wait(timeout=120)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = urllib.request.Request(
                    gate.target + self.path, data=body, headers=headers, method="POST"
                )
                try:
                    with urllib.request.urlopen(request, timeout=120) as response:
                        status, answer = response.status, response.read()
                except urllib.error.HTTPError as error:
                    status, answer = error.code, error.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: object) -> None:
                pass

        return Forward

    def __enter__(self) -> Gate:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._opened.set()
        self._server.shutdown()
        self._server.server_close()
