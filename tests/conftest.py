"""Shared fixtures: an embedded AWS (moto, in-process), a configured flow, API Gateway events."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any

import pytest

from outdial.local.apigateway import LambdaContext, proxy_event
from outdial.local.embedded_aws import fake_credentials
from outdial.process import reset_process_state

# Set before any handler is imported: no X-Ray daemon in tests, metrics under our namespace.
os.environ.update(fake_credentials())
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "outdial")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "outdial")
os.environ.pop("AWS_ENDPOINT_URL", None)

FLOW_ID = "AB12cd34"
SECURITY_ID = "S" * 32 + "e" * 32
OTHER_FLOW_ID = "ZZ99yy88"
OTHER_SECURITY_ID = "T" * 64


def config_document() -> dict[str, Any]:
    """A configuration file in SPEC §5's shape: one account, two flows, one simulator gateway."""
    return {
        "accounts": [
            {
                "account-id": "acme",
                "timezone": "Asia/Kolkata",
                "region": "IN",
                "balance": 1000,
                "cost-per-call": 1,
                "valid-until": "2099-12-31T23:59:59+05:30",
                "ip-whitelist": ["127.0.0.1/32", "::1/128"],
                "phone-whitelist": ["+919812345670"],
                "webhook-url": "http://127.0.0.1:9/hook",
            }
        ],
        "flows": [
            {
                "flow-id": FLOW_ID,
                "account-id": "acme",
                "security-id": SECURITY_ID,
                "versions": ["1.0", "TEST"],
                "gateway-id": "sim",
                "dids": [{"number": "+918030000001", "enabled": True}],
                "required-keys": ["$flow.key.name"],
                "max-attempts": 2,
                "retry-after-seconds": 900,
                "valid-until": None,
            },
            {
                "flow-id": OTHER_FLOW_ID,
                "account-id": "acme",
                "security-id": OTHER_SECURITY_ID,
                "versions": ["1.0"],
                "gateway-id": "sim",
                "dids": [{"number": "+918030000002", "enabled": True}],
            },
        ],
        "gateways": [
            {"gateway-id": "sim", "kind": "simulator", "ring-seconds": 0, "enabled": True}
        ],
    }


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` shares the tests out as ``tests.scheduling`` says."""
    if config.getvalue("dist") != "loadscope":
        return None
    from tests.scheduling import SharedFixtureScheduling

    return SharedFixtureScheduling(config, log)


@pytest.fixture
def config_doc() -> dict[str, Any]:
    return deepcopy(config_document())


@pytest.fixture(scope="session")
def _session_aws() -> Iterator[dict[str, Any]]:
    """moto in-process for the rest of the session (started by the first test that needs it),
    with our resources provisioned in it once; ``aws`` empties it for each test."""
    from moto import mock_aws

    from outdial.local.moto_patches import (
        make_dynamodb_answers_fast,
        make_dynamodb_items_cheap,
        make_dynamodb_writes_atomic,
        make_sqs_clock_cheap,
        make_transactions_cheap,
    )

    make_dynamodb_writes_atomic()
    make_transactions_cheap()
    make_dynamodb_answers_fast()
    make_dynamodb_items_cheap()
    make_sqs_clock_cheap()
    mock = mock_aws()
    mock.start()
    reset_process_state()
    try:
        yield {"resources": None}
    finally:
        mock.stop()
        reset_process_state()


@pytest.fixture
def aws(_session_aws: dict[str, Any]) -> Iterator[Any]:
    """An in-process AWS (moto) holding our tables, queues and schedule group, and nothing else:
    no items, messages, schedules or secrets. Process state (clients, settings, the handlers'
    adapters, caches) is forgotten before and after."""
    from tests.fakes.embedded import ensure, wipe

    reset_process_state()
    made = _session_aws["resources"] = ensure(_session_aws["resources"])
    wipe(made)
    yield made
    reset_process_state()


@pytest.fixture
def bare_aws(aws: Any) -> None:
    """The in-process AWS without our tables: an account outdial was never deployed to (the
    next test that needs them has them provisioned again)."""
    from tests.fakes.embedded import drop_tables

    drop_tables(aws)


@pytest.fixture
def resources(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Our tables, queues and schedule group, with the handlers' environment pointing at them."""
    for name, value in aws.env.items():
        monkeypatch.setenv(name, value)
    reset_process_state()
    return aws


# Each configuration document's outcome in moto, by the document's JSON: applying one costs
# dozens of requests, putting its outcome back a copy.
_applied: dict[str, Any] = {}


@pytest.fixture
def configured(resources: Any, config_doc: dict[str, Any]) -> Any:
    """``resources`` with ``config_doc`` applied (the first time through ``apply_config``;
    after that, for the same document and resources, by putting back what it wrote)."""
    from outdial.logic.configure import apply_config, check_config
    from tests.fakes.embedded import restore_config_state, save_config_state

    document = json.dumps(config_doc, sort_keys=True)
    state = _applied.get(document)
    if state is not None and state.resources is resources:
        restore_config_state(state)
    else:
        apply_config(check_config(config_doc, local=True))
        _applied[document] = save_config_state(resources)
    return resources


@pytest.fixture
def apply(resources: Any):  # type: ignore[no-untyped-def]
    """Apply a (modified) configuration document."""
    from outdial.logic.configure import apply_config, check_config

    def _apply(document: dict[str, Any]) -> None:
        apply_config(check_config(document, local=True))

    return _apply


@pytest.fixture
def loopback_egress() -> Iterator[None]:
    """Webhooks and http gateways may be reached on 127.0.0.1, as under `outdial serve`."""
    from outdial.adapters import egress

    egress.set_local_mode(True)
    yield
    egress.set_local_mode(False)


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


def today_at(hour: int, minute: int = 0, offset: str = "+05:30") -> str:
    return f"{datetime.now(UTC).astimezone().date().isoformat()}T{hour:02d}:{minute:02d}:00{offset}"


def call(**overrides: Any) -> dict[str, Any]:
    """One valid call due now."""
    base: dict[str, Any] = {
        "client-identifier": "order-1",
        "start-time": datetime.now(UTC).isoformat(),
        "contact-numbers": ["9812345670"],
        "keys": [{"name": "$flow.key.name", "value": "Asha"}],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


_DEFAULT: Any = object()


def create_body(calls: Any = _DEFAULT, **overrides: Any) -> dict[str, Any]:
    """A create request for the test flow (a field set to ``...`` is left out)."""
    body: dict[str, Any] = {
        "api-version": "1.0",
        "security-id": SECURITY_ID,
        "flow-id": FLOW_ID,
        "calls": [call()] if calls is _DEFAULT else calls,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def api_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    source_ip: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return proxy_event(
        method, path, {"Content-Type": "application/json", **(headers or {})}, data, source_ip
    )


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Run the api Lambda handler on ``event``; returns (HTTP status, parsed body)."""
    from outdial.handlers import api

    result = api.handler(event, LambdaContext())
    return result["statusCode"], json.loads(result["body"])


def sqs_event(bodies: list[str], receive_count: int = 1) -> dict[str, Any]:
    """An SQS event as Lambda hands it to a queue consumer (built as `outdial serve` builds it)."""
    import hashlib
    import time
    import uuid

    from outdial.local.queue_poller import lambda_record

    now_ms = str(int(time.time() * 1000))
    messages = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": str(uuid.uuid4()),
            "Body": body,
            "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
            "Attributes": {
                "ApproximateReceiveCount": str(receive_count),
                "SentTimestamp": now_ms,
                "SenderId": "AIDATEST",
                "ApproximateFirstReceiveTimestamp": now_ms,
            },
        }
        for body in bodies
    ]
    arn = "arn:aws:sqs:ap-south-1:123456789012:outdial-dial"
    return {"Records": [lambda_record(message, arn) for message in messages]}
