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

from outdial import contract
from outdial.adapters import aws
from outdial.local.queue_poller import QueuePoller
from outdial.local.runtime import LocalRuntime
from outdial.local.schedule_pump import SchedulePump
from outdial.logic.configure import check_config
from outdial.process import reset_process_state
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


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpPeer]:
    with HttpPeer() as peer:
        yield peer


@contextmanager
def isolated() -> Iterator[pytest.MonkeyPatch]:
    """The process environment and caches as they were, and moto emptied, afterwards: the
    runtime points this process at its embedded AWS, whose state is moto's, in-process."""
    from moto.moto_api._internal import moto_api_backend

    moto_api_backend.reset()  # the session's moto may be running: the runtime makes its own
    with pytest.MonkeyPatch.context() as patch:
        for name in _ENVIRONMENT:
            # Set first so undo() also removes a variable that was absent.
            patch.setenv(name, "")
            patch.delenv(name)
        reset_process_state()
        try:
            yield patch
        finally:
            patch.undo()
            reset_process_state()
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


def test_the_default_workers_are_the_pump_three_pollers_and_the_sweeper(
    runtime: LocalRuntime,
) -> None:
    assert runtime.workers is not None
    kinds = [(type(w).__name__, getattr(w, "name", "")) for w in runtime.workers]
    assert kinds == [
        ("SchedulePump", "schedule-pump"),
        ("QueuePoller", "dialer"),
        ("QueuePoller", "outcomes"),
        ("QueuePoller", "webhooks"),
        ("Timer", "sweeper"),
    ]
    assert runtime.workers[-1].interval == contract.SWEEP_INTERVAL_SECONDS  # type: ignore[union-attr]
    pollers = [w for w in runtime.workers if isinstance(w, QueuePoller)]
    assert [(p.batch_size, p.visibility_timeout, p.concurrency) for p in pollers] == [
        (contract.DIAL_BATCH_SIZE, contract.DIAL_VISIBILITY_SECONDS, 4),
        (contract.OUTCOME_BATCH_SIZE, contract.OUTCOME_VISIBILITY_SECONDS, 4),
        (contract.WEBHOOK_BATCH_SIZE, contract.WEBHOOK_VISIBILITY_SECONDS, 2),
    ]
    pump = runtime.workers[0]
    assert isinstance(pump, SchedulePump) and pump.group == get_settings().schedule_group


def test_the_local_queues_are_the_stacks(runtime: LocalRuntime) -> None:
    # Given the queues `outdial serve` made
    settings = get_settings()
    sqs = aws.client("sqs")

    # Then each has the stack's visibility timeout and receives before its DLQ (the contract's)
    for url, visibility, receives in (
        (settings.dial_queue_url, contract.DIAL_VISIBILITY_SECONDS, contract.DIAL_MAX_RECEIVES),
        (
            settings.outcome_queue_url,
            contract.OUTCOME_VISIBILITY_SECONDS,
            contract.OUTCOME_MAX_RECEIVES,
        ),
        (
            settings.webhook_queue_url,
            contract.WEBHOOK_VISIBILITY_SECONDS,
            contract.WEBHOOK_MAX_RECEIVES,
        ),
    ):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert int(attributes["VisibilityTimeout"]) == visibility
        assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] in (
            receives,
            str(receives),
        )


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
