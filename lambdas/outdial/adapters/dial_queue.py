"""The SQS dial queue: each message names the calls a dialer should dial now."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from outdial.adapters import aws
from outdial.adapters.errors import EnqueueError
from outdial.adapters.parallel import each, first_error
from outdial.contract import DIAL_GROUP_SIZE
from outdial.settings import get_settings

SEND_BATCH_LIMIT = 10  # SQS SendMessageBatch maximum entries
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds maximum


def dial_message(
    call_ids: Sequence[str],
    dispatch: Mapping[str, str] | None = None,
    *,
    due: int | None = None,
    offsets: Sequence[int] = (),
) -> str:
    """The body every producer of dial work uses (the api, the scheduler, the dialer itself).

    ``dispatch`` names, for calls that were rescheduled, the wake-up this message is: the dialer
    drops a message whose token is not the call's current one (its old schedule or message).
    ``due`` (epoch seconds) is when the calls are due, so a dialer that receives the message
    early delays the whole message instead of reading each call; ``offsets`` (seconds after
    ``due``, one per call) when the calls are due at different seconds (a schedule's minute).
    """
    body: dict[str, Any] = {"call-ids": list(call_ids)}
    if dispatch:
        body["dispatch"] = dict(dispatch)
    if due is not None:
        body["due"] = due
        if any(offsets):
            body["offsets"] = list(offsets)
    return json.dumps(body, separators=(",", ":"))


def due_seconds(body: dict[str, Any]) -> list[int | None]:
    """When each call of a dial message is due (epoch seconds), None where it does not say."""
    ids = body.get("call-ids") or []
    due = body.get("due")
    if not isinstance(due, int):
        return [None] * len(ids)
    offsets = body.get("offsets")
    if isinstance(offsets, list) and len(offsets) == len(ids):
        return [due + int(offset) for offset in offsets]
    return [due] * len(ids)


def delayed_messages(
    calls: Sequence[tuple[str, int | None]],
    now: float,
    dispatch: Mapping[str, str] | None = None,
) -> list[DialMessage]:
    """Calls ``(id, due epoch second)`` as dial messages, one per due second and at most
    DIAL_GROUP_SIZE calls each, each delayed by SQS until its second (a call due beyond SQS's
    15 minutes comes back once more and is delayed again); each message carries the dispatch
    tokens (``dispatch``) of its own calls."""
    by_second: dict[int | None, list[str]] = {}
    for call_id, due in calls:
        by_second.setdefault(due, []).append(call_id)
    tokens = dispatch or {}
    return [
        DialMessage(
            tuple(group),
            delay_seconds=0 if due is None else min(max(0, due - int(now)), MAX_DELAY_SECONDS),
            due=due,
            dispatch=tuple((c, tokens[c]) for c in group if c in tokens),
        )
        for due, ids in by_second.items()
        for group in (ids[i : i + DIAL_GROUP_SIZE] for i in range(0, len(ids), DIAL_GROUP_SIZE))
    ]


def event_message(gateway_id: str, event: dict[str, Any]) -> str:
    """The body that carries a gateway's leg outcome to the dialer."""
    return json.dumps({"gateway-id": gateway_id, "event": event}, separators=(",", ":"))


@dataclass(frozen=True)
class DialMessage:
    """Calls to dial, or (with ``event``) a leg outcome to apply, after ``delay_seconds``."""

    call_ids: tuple[str, ...] = ()
    delay_seconds: int = 0
    gateway_id: str = ""
    event: dict[str, Any] | None = None
    dispatch: tuple[tuple[str, str], ...] = ()  # (call id, dispatch token) of rescheduled calls
    due: int | None = None  # epoch second the calls are due at

    def body(self) -> str:
        if self.event is not None:
            return event_message(self.gateway_id, self.event)
        return dial_message(self.call_ids, dict(self.dispatch), due=self.due)


class DialQueue:
    """Sends dial messages with ``SendMessageBatch``; retries entries SQS reports as failed."""

    def __init__(self, client: Any | None = None, queue_url: str | None = None) -> None:
        self._client = client
        self._queue_url = queue_url

    @property
    def client(self) -> Any:
        return self._client or aws.client("sqs")

    @property
    def queue_url(self) -> str:
        return self._queue_url or get_settings().dial_queue_url

    def send(self, messages: Sequence[DialMessage]) -> None:
        """Send every message, the batches concurrently, or raise ``EnqueueError`` (once every
        batch has finished), whose ``maybe_sent`` says whether any message may have reached the
        queue (another batch, or one whose answer was lost)."""
        chunks = [
            messages[start : start + SEND_BATCH_LIMIT]
            for start in range(0, len(messages), SEND_BATCH_LIMIT)
        ]
        results = each(self._send_batch, chunks)
        error = first_error(results)
        if error is None:
            return
        maybe_sent = any(
            not isinstance(result, Exception)  # a batch that went out
            or not isinstance(result, EnqueueError)  # a fault of unknown effect
            or result.maybe_sent
            for result in results
        )
        raise EnqueueError(str(error), maybe_sent=maybe_sent) from error

    def _send_batch(self, chunk: Sequence[DialMessage]) -> None:
        """One ``SendMessageBatch``, its retryable failures sent again up to twice."""
        entries = {
            str(i): {
                "Id": str(i),
                "MessageBody": m.body(),
                "DelaySeconds": min(max(m.delay_seconds, 0), MAX_DELAY_SECONDS),
            }
            for i, m in enumerate(chunk)
        }
        maybe_sent = False
        for _ in range(3):
            try:
                result = self.client.send_message_batch(
                    QueueUrl=self.queue_url, Entries=list(entries.values())
                )
            except ClientError as exc:  # SQS answered: this batch was not taken
                raise EnqueueError(
                    f"sending to the dial queue: {exc}", maybe_sent=maybe_sent
                ) from exc
            except BotoCoreError as exc:  # no answer: this batch may have been taken
                raise EnqueueError(f"sending to the dial queue: {exc}", maybe_sent=True) from exc
            failed = result.get("Failed", [])
            maybe_sent = maybe_sent or len(failed) < len(entries)
            retryable = {f["Id"] for f in failed if not f.get("SenderFault")}
            if len(retryable) != len(failed):
                raise EnqueueError(f"dial queue refused messages: {failed}", maybe_sent=maybe_sent)
            entries = {i: e for i, e in entries.items() if i in retryable}
            if not entries:
                return
        raise EnqueueError(
            f"dial queue kept failing {len(entries)} messages", maybe_sent=maybe_sent
        )


class OutcomeQueue(DialQueue):
    """Where leg outcomes go: the outcome queue, else (not configured) the dial queue."""

    @property
    def queue_url(self) -> str:
        settings = get_settings()
        return self._queue_url or settings.outcome_queue_url or settings.dial_queue_url
