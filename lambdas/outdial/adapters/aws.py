"""AWS clients, made lazily and once per process (clients are thread-safe; sessions are not).

They are botocore clients, which is all boto3's ``client()`` returns: importing boto3 itself
would add its resource layer and s3transfer to every cold start for nothing.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import Any

import botocore.session
from botocore.config import Config

from outdial.settings import get_settings

_lock = threading.Lock()


@cache
def _session() -> botocore.session.Session:
    # One session: its loader reads each service model and the endpoint data once.
    session = botocore.session.get_session()
    # botocore reads AWS_DEFAULT_REGION only; Lambda, the CDK CLI and the newer SDKs read
    # AWS_REGION first, and so do we.
    if os.environ.get("AWS_REGION"):
        session.set_config_variable("region", os.environ["AWS_REGION"])
    return session


@cache
def _cached(service: str) -> Any:
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=get_settings().aws_read_timeout_seconds,
        max_pool_connections=50,
    )
    return _session().create_client(service, config=config)


def client(service: str) -> Any:
    """The shared client for ``service``; like boto3's, it honours ``AWS_ENDPOINT_URL``."""
    with _lock:
        return _cached(service)


def reset_clients() -> None:
    """Forget every client (tests and ``outdial serve`` call this after moving the endpoint)."""
    with _lock:
        _cached.cache_clear()
        _session.cache_clear()
