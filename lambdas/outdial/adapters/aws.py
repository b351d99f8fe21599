"""AWS clients, made lazily and once per process (clients are thread-safe; sessions are not).

They are botocore clients, which is all boto3's ``client()`` returns: importing boto3 itself
would add its resource layer and s3transfer to every cold start for nothing.
"""

from __future__ import annotations

import os
import random
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


# Answers that mean "not applied, try again": DynamoDB's transaction conflicts (which botocore's
# standard retry mode does not retry) and the throttling family (which it retries only twice).
CONFLICT_CODES = frozenset({"TransactionConflictException", "TransactionInProgressException"})
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
    }
)
# Reasons in a TransactionCanceledException that a retry may get past.
_RETRYABLE_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
CONTENTION_MAX_ATTEMPTS = 10
_BACKOFF_BASE_SECONDS = 0.025
_BACKOFF_CAP_SECONDS = 2.0


def contention_delay(attempts: int, rng: Any = random.random) -> float:
    """Full jitter: a random delay in [0, min(cap, base * 2**attempts)] after attempt
    ``attempts`` (so racing writers spread out instead of colliding again in step)."""
    return float(rng()) * min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempts)


def retry_contention(attempts: int, response: Any = None, **_: Any) -> float | None:
    """A ``needs-retry`` hook run before botocore's own: a delay when the call was refused for
    contention (conflict, throttling) and attempts remain, else None (botocore decides)."""
    if response is None or attempts >= CONTENTION_MAX_ATTEMPTS:
        return None
    error = response[1].get("Error", {}) if isinstance(response[1], dict) else {}
    code = error.get("Code")
    if code == "TransactionCanceledException":
        reasons = {r.get("Code") for r in response[1].get("CancellationReasons", [])}
        if not reasons & _RETRYABLE_REASONS or "ConditionalCheckFailed" in reasons:
            return None
    elif code not in CONFLICT_CODES | THROTTLING_CODES:
        return None
    return contention_delay(attempts)


@cache
def _cached(service: str) -> Any:
    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=2,
        read_timeout=get_settings().aws_read_timeout_seconds,
        max_pool_connections=50,
    )
    client = _session().create_client(service, config=config)
    client.meta.events.register_first(
        f"needs-retry.{client.meta.service_model.service_id.hyphenize()}",
        retry_contention,
        unique_id="outdial-contention",
    )
    return client


def client(service: str) -> Any:
    """The shared client for ``service``; like boto3's, it honours ``AWS_ENDPOINT_URL``."""
    with _lock:
        return _cached(service)


def reset_clients() -> None:
    """Forget every client (tests and ``outdial serve`` call this after moving the endpoint)."""
    with _lock:
        _cached.cache_clear()
        _session.cache_clear()
