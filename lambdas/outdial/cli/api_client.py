"""The command line's HTTP client of the outdial API: JSON posts, retried while worth retrying."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError

from outdial.cli.errors import UsageError

# Answers that say "not now" rather than "no": the API's throttle (608), a request with the same
# Idempotency-Key still being processed (607), a fault (500); and what API Gateway or a proxy
# says without a contract body (429, 502, 503, 504).
RETRIED_CODES = frozenset({500, 607, 608})
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] | None
    headers: Mapping[str, str]

    @property
    def code(self) -> int | None:
        code = (self.body or {}).get("api-response-code")
        return code if isinstance(code, int) else None

    @property
    def retryable(self) -> bool:
        if self.code is not None:
            return self.code in RETRIED_CODES
        return self.status in RETRIED_STATUSES


class Unreachable(Exception):
    """No answer after every attempt (connection refused, timeouts)."""


def base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"--url {url!r} is not an http(s) base URL (e.g. http://127.0.0.1:8080)")
    return url.rstrip("/")


class ApiClient:
    """Posts to ``{base}{path}``; retries 429/5xx and lost connections with exponential backoff
    and jitter (or the answer's ``Retry-After``), ``attempts`` times in all."""

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 8,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
        timeout: urllib3.Timeout | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str], None] = lambda _reason: None,
    ) -> None:
        self.base = base_url(url)
        self._pool = urllib3.PoolManager(maxsize=16, retries=False)
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._timeout = timeout or urllib3.Timeout(connect=10, read=180)
        self._sleep = sleep
        self._on_retry = on_retry

    def post(self, path: str, body: bytes, headers: Mapping[str, str] | None = None) -> Answer:
        last_problem = ""
        for attempt in range(self._attempts):
            if attempt:
                self._on_retry(last_problem)
            try:
                response = self._pool.request(
                    "POST",
                    f"{self.base}{path}",
                    body=body,
                    headers={"Content-Type": "application/json", **(headers or {})},
                    timeout=self._timeout,
                )
            except HTTPError as exc:
                last_problem = f"no answer from {self.base}: {exc}"
                self._wait(attempt, None)
                continue
            answer = Answer(response.status, _json(response.data), dict(response.headers))
            if not answer.retryable or attempt == self._attempts - 1:
                return answer
            last_problem = f"HTTP {answer.status} (code {answer.code})"
            self._wait(attempt, response.headers.get("Retry-After"))
        raise Unreachable(last_problem)

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        if attempt == self._attempts - 1:
            return
        delay = min(self._max_backoff, self._backoff * 2**attempt) * random.uniform(0.5, 1.0)
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), self._max_backoff))
        self._sleep(delay)


def _json(data: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
