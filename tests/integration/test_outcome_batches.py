"""Leg outcomes reach the dialer on a queue of their own, up to ten per invocation: each applied
as if alone, each failure reported on its own (the others are not delivered again)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.dial_queue import event_message
from outdial.contract import OUTCOME_BATCH_SIZE
from tests.fakes.aws import aws_error
from tests.integration.dialing import Harness, accept, status_of

pytestmark = pytest.mark.usefixtures("configured")

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness().install(monkeypatch)


@pytest.fixture
def refused() -> Iterator[set[str]]:
    """DynamoDB refuses (throttles) every write that names one of these calls."""
    calls: set[str] = set()
    client = aws.client("dynamodb")

    def before_send(request: Any = None, **kwargs: Any) -> Any:
        operation = kwargs.get("event_name", "").rsplit(".", 1)[-1]
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
        if operation in WRITES and any(c in body for c in calls):
            request.url = "https://injected.invalid/"  # never applied behind the answer
            return aws_error("ProvisionedThroughputExceededException")
        return None

    client.meta.events.register_first("before-send.dynamodb", before_send, unique_id="refuse")
    yield calls
    client.meta.events.unregister("before-send.dynamodb", unique_id="refuse")


def test_one_failing_record_among_ten_is_the_only_failure(
    harness: Harness, refused: set[str]
) -> None:
    # Given ten calls to numbers the simulator answers, their legs out, DynamoDB refusing every
    # write of the fourth
    calls = [accept(f"98{n:02d}345670") for n in range(OUTCOME_BATCH_SIZE)]
    harness.drain_queue()
    events = {e.leg_id.removesuffix("-a1-n0"): e for e in harness.events}
    harness.events.clear()
    refused.add(calls[3])
    # When their ten outcomes arrive in one invocation
    response = harness.deliver(
        *(event_message(events[c].gateway_id, events[c].to_dict()) for c in calls)
    )
    # Then exactly one record is reported failed, and the nine others are applied
    assert len(response["batchItemFailures"]) == 1
    statuses = [status_of(c)["status"] for c in calls]
    assert statuses == ["COMPLETED"] * 3 + ["DIALING"] + ["COMPLETED"] * 6
    # When the failed one comes back alone once DynamoDB takes writes again
    refused.clear()
    again = harness.deliver(event_message(events[calls[3]].gateway_id, events[calls[3]].to_dict()))
    # Then it is applied too
    assert again["batchItemFailures"] == []
    assert status_of(calls[3])["status"] == "COMPLETED"
