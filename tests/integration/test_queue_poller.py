"""The local stand-in for Lambda's SQS event source mapping, on moto's SQS.

Events in Lambda's record shape; successes deleted; reported failures and whole-batch failures
kept for redelivery; the queue's redrive policy moves a message to its DLQ after max receives.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.contract import DIAL_MAX_RECEIVES
from outdial.local.embedded_aws import REGION
from outdial.local.queue_poller import QueuePoller, failed_ids
from outdial.settings import get_settings

pytestmark = pytest.mark.usefixtures("resources")


class Recorder:
    """A handler that records its events and fails the records ``fail`` picks."""

    def __init__(self, fail: Callable[[dict[str, Any]], bool] = lambda record: False) -> None:
        self.fail = fail
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self._changed = threading.Condition()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._changed:
            self.events.append(event)
            self.contexts.append(context)
            self._changed.notify_all()
        failures = [r["messageId"] for r in event["Records"] if self.fail(r)]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failures]}

    @property
    def bodies(self) -> list[str]:
        with self._changed:
            return [r["body"] for e in self.events for r in e["Records"]]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out; saw {self.bodies}"
            time.sleep(0.02)


@pytest.fixture
def queue() -> str:
    return get_settings().dial_queue_url


@pytest.fixture
def running() -> Iterator[list[QueuePoller]]:
    """Pollers a test starts; every one stopped afterwards, its threads gone (the queue outlives
    the test: a poller still receiving would take the next test's messages)."""
    pollers: list[QueuePoller] = []
    yield pollers
    for poller in pollers:
        threads = list(poller._threads)
        poller.stop(timeout=30)
        assert not any(thread.is_alive() for thread in threads)


def start(running: list[QueuePoller], poller: QueuePoller) -> QueuePoller:
    running.append(poller.start())
    return poller


def send(queue: str, *bodies: str, **extra: Any) -> None:
    for body in bodies:
        aws.client("sqs").send_message(QueueUrl=queue, MessageBody=body, **extra)


def counts(url: str) -> int:
    """Messages on a queue, visible or in flight."""
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def dlq_bodies() -> list[str]:
    messages = aws.client("sqs").receive_message(
        QueueUrl=os.environ["OUTDIAL_DIAL_DLQ_URL"], MaxNumberOfMessages=10
    )
    return [m["Body"] for m in messages.get("Messages", [])]


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class TestEvents:
    def test_records_have_lambdas_sqs_shape(self, queue: str, running: list[QueuePoller]) -> None:
        # Given a message with a string and a binary attribute
        send(
            queue,
            '{"call-ids":["c1"]}',
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": "dial"},
                "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
            },
        )
        handler = Recorder()
        # When the poller hands it over
        start(running, QueuePoller(queue, handler, name="dialer"))
        handler.wait_for(lambda: len(handler.bodies) == 1)
        # Then the event is what Lambda would have passed
        [record] = handler.events[0]["Records"]
        assert set(record) >= {
            "messageId",
            "receiptHandle",
            "body",
            "attributes",
            "messageAttributes",
            "md5OfBody",
            "eventSource",
            "eventSourceARN",
            "awsRegion",
        }
        assert record["body"] == '{"call-ids":["c1"]}'
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].endswith(":outdial-dial")
        assert record["eventSourceARN"].startswith(f"arn:aws:sqs:{REGION}:")
        assert record["awsRegion"] == REGION
        attributes = record["attributes"]
        assert attributes["ApproximateReceiveCount"] == "1"
        for name in ("SentTimestamp", "ApproximateFirstReceiveTimestamp", "SenderId"):
            assert attributes[name]
        assert int(attributes["SentTimestamp"]) <= int(time.time() * 1000)
        assert record["messageAttributes"]["kind"] == {
            "stringValue": "dial",
            "binaryValue": None,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
        assert base64.b64decode(record["messageAttributes"]["blob"]["binaryValue"]) == b"\x00\x01"
        # and a context Powertools can read
        context = handler.contexts[0]
        assert context.function_name == "dialer"
        assert 0 < context.get_remaining_time_in_millis() <= 60_000

    def test_batches_hold_at_most_batch_size_records(
        self, queue: str, running: list[QueuePoller]
    ) -> None:
        send(queue, *[f"m{n}" for n in range(7)])
        handler = Recorder()
        start(running, QueuePoller(queue, handler, batch_size=3, concurrency=1))
        handler.wait_for(lambda: len(handler.bodies) == 7)
        assert max(len(e["Records"]) for e in handler.events) <= 3
        assert sorted(handler.bodies) == sorted(f"m{n}" for n in range(7))


class TestAcknowledgement:
    def test_successes_are_deleted(self, queue: str, running: list[QueuePoller]) -> None:
        # Given three messages and a handler that takes them all
        send(queue, "a", "b", "c")
        handler = Recorder()
        # When polled
        poller = start(running, QueuePoller(queue, handler, visibility_timeout=1))
        handler.wait_for(lambda: len(handler.bodies) == 3)
        handler.wait_for(lambda: counts(queue) == 0)
        # Then each was handled once and none comes back after the visibility timeout
        time.sleep(1.5)
        poller.stop()
        assert sorted(handler.bodies) == ["a", "b", "c"]

    def test_reported_failures_stay_and_are_redelivered(
        self, queue: str, running: list[QueuePoller]
    ) -> None:
        # Given a handler that fails "bad" on its first two receives only
        send(queue, "good", "bad")

        def fail(record: dict[str, Any]) -> bool:
            return (
                record["body"] == "bad" and int(record["attributes"]["ApproximateReceiveCount"]) < 3
            )

        handler = Recorder(fail)
        # When polled (visibility 1 s, so the failure comes back quickly)
        start(running, QueuePoller(queue, handler, visibility_timeout=1))
        handler.wait_for(lambda: handler.bodies.count("bad") == 3)
        handler.wait_for(lambda: counts(queue) == 0)
        # Then "good" was handled once and deleted; "bad" came back until it succeeded
        assert handler.bodies.count("good") == 1
        receives = [
            r["attributes"]["ApproximateReceiveCount"]
            for e in handler.events
            for r in e["Records"]
            if r["body"] == "bad"
        ]
        assert receives == ["1", "2", "3"]

    def test_a_handler_exception_fails_the_whole_batch(
        self, queue: str, running: list[QueuePoller]
    ) -> None:
        # Given a handler that raises on its first invocation
        send(queue, "x", "y")
        seen: list[list[str]] = []

        def flaky(event: dict[str, Any], context: Any) -> None:
            seen.append([r["body"] for r in event["Records"]])
            if len(seen) == 1:
                raise RuntimeError("boom")

        # When polled
        start(running, QueuePoller(queue, flaky, visibility_timeout=1, concurrency=1))
        eventually(lambda: counts(queue) == 0)
        # Then every message of the failed batch was delivered again, and then deleted
        first, *later = seen
        assert set(first) <= {body for batch in later for body in batch}

    def test_messages_failing_every_time_end_in_the_dlq_after_max_receives(
        self, queue: str, running: list[QueuePoller]
    ) -> None:
        # Given a poison message and a handler that always fails it
        send(queue, "poison")
        handler = Recorder(lambda record: True)
        # When polled, each failure visible again at once
        start(running, QueuePoller(queue, handler, visibility_timeout=0, concurrency=1))
        handler.wait_for(lambda: counts(queue) == 0)
        # Then the handler saw it exactly maxReceiveCount times, and it sits in the DLQ
        assert handler.bodies == ["poison"] * DIAL_MAX_RECEIVES
        assert dlq_bodies() == ["poison"]


class TestLifecycle:
    def test_stops_within_two_seconds(self, queue: str) -> None:
        poller = QueuePoller(queue, Recorder(), wait_seconds=1, concurrency=3).start()
        time.sleep(0.2)
        started = time.monotonic()
        poller.stop()
        assert time.monotonic() - started < 2.0

    def test_describes_itself(self, queue: str) -> None:
        poller = QueuePoller(queue, Recorder(), batch_size=5, concurrency=4, name="dialer")
        assert repr(poller) == "dialer(batch=5, visibility=60s, concurrency=4)"

    def test_refuses_a_batch_size_sqs_cannot_serve(self, queue: str) -> None:
        with pytest.raises(ValueError):
            QueuePoller(queue, Recorder(), batch_size=11)


class TestFailedIds:
    BATCH = frozenset({"a", "b", "c"})

    @pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}, "ok"])
    def test_no_failures_reported_means_all_succeeded(self, response: Any) -> None:
        assert failed_ids(response, set(self.BATCH)) == set()

    def test_the_listed_ids_failed(self) -> None:
        response = {"batchItemFailures": [{"itemIdentifier": "b"}]}
        assert failed_ids(response, set(self.BATCH)) == {"b"}

    @pytest.mark.parametrize(
        "failures",
        [[{"itemIdentifier": "zzz"}], [{"itemIdentifier": None}], ["b"], {"itemIdentifier": "b"}],
    )
    def test_a_malformed_response_fails_the_whole_batch(self, failures: Any) -> None:
        assert failed_ids({"batchItemFailures": failures}, set(self.BATCH)) == set(self.BATCH)
