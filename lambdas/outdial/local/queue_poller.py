"""Lambda's SQS event source mapping, for `outdial serve`: poll a queue, invoke a handler.

What it reproduces, because the handlers depend on it:

- events in Lambda's exact SQS record shape (``messageId``, ``receiptHandle``, ``body``,
  ``attributes`` with ``ApproximateReceiveCount`` and ``SentTimestamp``, ...);
- ``ReportBatchItemFailures``: the messages the response lists stay on the queue and come back
  after the visibility timeout (or whatever visibility the handler set); the rest are deleted.
  A handler that raises, or names a message that was not in the batch, failed the whole batch;
- the queue's redrive policy does the rest (the SQS endpoint moves a message to its DLQ once
  it has been received ``maxReceiveCount`` times), exactly as on AWS.

Up to ``concurrency`` batches are handled at once, each in its own thread, like the mapping's
concurrent batches; one receiver per queue long-polls for them, and only while a handler is free
(an idle `outdial serve` then makes one request a second per queue, not one per thread).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import Any

from outdial.adapters import aws
from outdial.local.apigateway import LambdaContext
from outdial.observability import logger

Handler = Callable[[dict[str, Any], Any], Any]
_DELETE_BATCH_LIMIT = 10  # SQS DeleteMessageBatch maximum entries
_ERROR_PAUSE_SECONDS = 1.0  # after an SQS fault, before polling again


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """One SQS message as Lambda hands it to a function (``Records[i]``)."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else "",
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # SQS's API spells these in PascalCase with bytes; Lambda's event in camelCase with base64.
    binary = value.get("BinaryValue")
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [
            base64.b64encode(b).decode() for b in value.get("BinaryListValues") or []
        ],
        "dataType": value.get("DataType", "String"),
    }


def failed_ids(response: Any, batch_ids: set[str]) -> set[str]:
    """The message ids a handler's response reports as failed, as Lambda reads it.

    No response or no ``batchItemFailures`` means all succeeded; a malformed entry or an id not
    in the batch means the whole batch failed.
    """
    if not isinstance(response, dict) or not response.get("batchItemFailures"):
        return set()
    failures = response["batchItemFailures"]
    if not isinstance(failures, list):
        return set(batch_ids)
    ids: set[str] = set()
    for entry in failures:
        identifier = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return set(batch_ids)
        ids.add(identifier)
    return ids


class QueuePoller:
    """Feeds ``handler`` with batches from ``queue_url`` until stopped (see the module doc)."""

    def __init__(
        self,
        queue_url: str,
        handler: Handler,
        *,
        batch_size: int = 10,
        visibility_timeout: int = 60,
        function_timeout: float | None = None,
        wait_seconds: int = 1,
        concurrency: int = 2,
        name: str = "queue-poller",
        client: Any | None = None,
    ) -> None:
        if not 1 <= batch_size <= 10:
            raise ValueError("batch_size must be 1..10 (SQS ReceiveMessage's limit)")
        self.queue_url = queue_url
        self.name = name
        self.batch_size = batch_size
        self.visibility_timeout = visibility_timeout
        # What each invocation's context says is left of it (default: the visibility timeout).
        self.function_timeout = function_timeout or float(visibility_timeout)
        self.concurrency = concurrency
        self._handler = handler
        self._wait_seconds = wait_seconds
        self._client = client
        self._queue_arn = ""
        self._stopping = threading.Event()
        self._free = threading.Semaphore(concurrency)
        self._threads: list[threading.Thread] = []  # the receiver and the batches in flight
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        return self._client or aws.client("sqs")

    def __repr__(self) -> str:
        return (
            f"{self.name}(batch={self.batch_size}, visibility={self.visibility_timeout}s, "
            f"concurrency={self.concurrency})"
        )

    def start(self) -> QueuePoller:
        """Start receiving; batches are handled in up to ``concurrency`` threads at once."""
        attributes = self.client.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )
        self._queue_arn = str(attributes["Attributes"]["QueueArn"])
        self._stopping.clear()
        self._free = threading.Semaphore(self.concurrency)
        receiver = threading.Thread(target=self._run, name=f"{self.name}-receiver", daemon=True)
        self._threads = [receiver]
        receiver.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop receiving; a handler still running after ``timeout`` is left to its daemon
        thread (its batch comes back after the visibility timeout, as after a Lambda timeout)."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _receive(self) -> list[dict[str, Any]]:
        return list(
            self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.batch_size,
                VisibilityTimeout=self.visibility_timeout,
                WaitTimeSeconds=self._wait_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        )

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._free.acquire(timeout=0.2):
                continue  # every handler busy
            try:
                messages = self._receive()
            except Exception:
                self._free.release()
                if self._stopping.is_set():
                    return  # the endpoint went away first: nothing to report
                logger.exception("queue poll failed", poller=self.name)
                self._stopping.wait(_ERROR_PAUSE_SECONDS)
                continue
            if not messages:
                self._free.release()
                continue
            handling = threading.Thread(
                target=self._handle, args=(messages,), name=f"{self.name}-batch", daemon=True
            )
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()] + [handling]
            handling.start()

    def _handle(self, messages: list[dict[str, Any]]) -> None:
        try:
            self._invoke(messages)
        finally:
            self._free.release()

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [lambda_record(m, self._queue_arn) for m in messages]}
        batch_ids = {m["MessageId"] for m in messages}
        context = LambdaContext(
            function_name=self.name,
            invoked_function_arn=f"arn:aws:lambda:{event['Records'][0]['awsRegion']}:"
            f"123456789012:function:{self.name}",
            timeout_seconds=self.function_timeout,
        )
        try:
            response = self._handler(event, context)
        except Exception:
            # Lambda's answer to a function error: the whole batch comes back later.
            logger.exception("handler failed; the whole batch will be retried", poller=self.name)
            return
        failed = failed_ids(response, batch_ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), _DELETE_BATCH_LIMIT):
            chunk = done[start : start + _DELETE_BATCH_LIMIT]
            result = self.client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)
                ],
            )
            if result.get("Failed"):
                logger.warning(
                    "messages not deleted; they will be delivered again",
                    poller=self.name,
                    failed=result["Failed"],
                )
