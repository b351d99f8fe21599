"""`outdial serve`'s runtime in-process: a call due now is dialled by the default workers and its
signed webhook reaches a local receiver (issue 3, item 6)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.gateways.secrets import shared_flow_secrets
from outdial.local.queue_poller import QueuePoller
from outdial.local.runtime import LocalRuntime
from outdial.local.schedule_pump import SchedulePump
from outdial.logic.configure import check_config
from outdial.settings import get_settings
from outdial.signatures import verify
from tests.conftest import SECURITY_ID, config_document, create_body
from tests.fakes import HttpPeer

# What the runtime writes to the process environment; restored after each test.
_ENVIRONMENT = (
    "AWS_ENDPOINT_URL",
    "POWERTOOLS_LOG_LEVEL",
    *(
        f"OUTDIAL_{name}"
        for name in (
            "CONFIG_TABLE",
            "CALLS_TABLE",
            "SCHEDULE_GROUP",
            "SCHEDULER_ROLE_ARN",
            "DIAL_QUEUE_URL",
            "DIAL_QUEUE_ARN",
            "DIAL_DLQ_URL",
            "WEBHOOK_QUEUE_URL",
            "WEBHOOK_QUEUE_ARN",
            "WEBHOOK_DLQ_URL",
        )
    ),
)


def _forget_process_state() -> None:
    from outdial.handlers import api, dialer, webhooks

    aws.reset_clients()
    get_settings.cache_clear()
    shared_flow_secrets.cache_clear()
    api.services.cache_clear()
    dialer.dialer.cache_clear()
    webhooks.services.cache_clear()


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpPeer]:
    with HttpPeer() as peer:
        yield peer


@contextmanager
def isolated() -> Iterator[pytest.MonkeyPatch]:
    """The process environment and caches as they were, and moto emptied, afterwards: the
    runtime points this process at its embedded AWS, whose state is moto's, in-process."""
    from moto.moto_api._internal import moto_api_backend

    with pytest.MonkeyPatch.context() as patch:
        for name in _ENVIRONMENT:
            # Set first so undo() also removes a variable that was absent.
            patch.setenv(name, "")
            patch.delenv(name)
        _forget_process_state()
        try:
            yield patch
        finally:
            patch.undo()
            _forget_process_state()
            moto_api_backend.reset()


@pytest.fixture(scope="module")
def runtime(receiver: HttpPeer) -> Iterator[LocalRuntime]:
    """The local runtime with its default workers; the account's webhooks go to ``receiver``."""
    document = config_document()
    document["accounts"][0]["webhook-url"] = receiver.url_for("/hook")
    with isolated():
        started = LocalRuntime(check_config(document, local=True), port=0).start()
        try:
            yield started
        finally:
            started.stop()


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def test_the_default_workers_are_the_pump_two_pollers_and_the_sweeper(
    runtime: LocalRuntime,
) -> None:
    assert runtime.workers is not None
    kinds = [(type(w).__name__, getattr(w, "name", "")) for w in runtime.workers]
    assert kinds == [
        ("SchedulePump", "schedule-pump"),
        ("QueuePoller", "dialer"),
        ("QueuePoller", "webhooks"),
        ("Timer", "sweeper"),
    ]
    assert runtime.workers[-1].interval == 60  # type: ignore[union-attr]
    pollers = [w for w in runtime.workers if isinstance(w, QueuePoller)]
    assert [(p.batch_size, p.visibility_timeout, p.concurrency) for p in pollers] == [
        (10, 60, 4),
        (10, 60, 2),
    ]
    pump = runtime.workers[0]
    assert isinstance(pump, SchedulePump) and pump.group == get_settings().schedule_group


def test_a_call_due_now_is_dialled_and_its_webhook_arrives(
    runtime: LocalRuntime, receiver: HttpPeer
) -> None:
    # Given the runtime serving, and a call due now
    assert runtime.api is not None
    started = time.monotonic()
    accepted = post(f"{runtime.api.url}/outbound/create", create_body())
    assert accepted["api-response-code"] == 200, accepted
    [details] = accepted["call-details"]
    # When the workers run / Then the customer hears of its end within seconds, signed
    [request] = receiver.wait_for(1, timeout=30)
    verify(request.header("Outdial-Signature"), SECURITY_ID, request.body, int(time.time()))
    body = request.json()
    assert body["phonon-uuid"] == details["phonon-uuid"]
    assert body["status"] == "COMPLETED" and body["event-id"]
    assert time.monotonic() - started < 30
