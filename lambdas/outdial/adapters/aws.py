"""boto3 clients, made lazily and once per process (clients are thread-safe; sessions are not)."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=50,
)
_lock = threading.Lock()


@cache
def _cached(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)


def client(service: str) -> Any:
    """The shared client for ``service``, honouring ``AWS_ENDPOINT_URL`` like every boto3 client."""
    with _lock:
        return _cached(service)


def reset_clients() -> None:
    """Forget every client (tests and ``outdial serve`` call this after moving the endpoint)."""
    with _lock:
        _cached.cache_clear()
