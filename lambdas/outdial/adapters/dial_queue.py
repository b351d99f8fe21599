"""The SQS dial queue: each message names the calls a dialer should dial now."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from outdial.adapters import aws
from outdial.adapters.errors import EnqueueError
from outdial.settings import get_settings

SEND_BATCH_LIMIT = 10  # SQS SendMessageBatch maximum entries
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds maximum


def dial_message(call_ids: Sequence[str], dispatch: Mapping[str, str] | None = None) -> str:
    """The body every producer of dial work uses (the api, the scheduler, the dialer itself).

    ``dispatch`` names, for calls that were rescheduled, the wake-up this message is: the dialer
    drops a message whose token is not the call's current one (its old schedule or message)."""
    body: dict[str, Any] = {"call-ids": list(call_ids)}
    if dispatch:
        body["dispatch"] = dict(dispatch)
    return json.dumps(body, separators=(",", ":"))


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

    def body(self) -> str:
        if self.event is not None:
            return event_message(self.gateway_id, self.event)
        return dial_message(self.call_ids, dict(self.dispatch))


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
        """Send every message or raise ``EnqueueError``, whose ``maybe_sent`` says whether any
        message may have reached the queue (an earlier batch, or one whose answer was lost)."""
        maybe_sent = False
        for start in range(0, len(messages), SEND_BATCH_LIMIT):
            chunk = messages[start : start + SEND_BATCH_LIMIT]
            entries = {
                str(i): {
                    "Id": str(i),
                    "MessageBody": m.body(),
                    "DelaySeconds": min(max(m.delay_seconds, 0), MAX_DELAY_SECONDS),
                }
                for i, m in enumerate(chunk)
            }
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
                    raise EnqueueError(
                        f"sending to the dial queue: {exc}", maybe_sent=True
                    ) from exc
                failed = result.get("Failed", [])
                maybe_sent = maybe_sent or len(failed) < len(entries)
                retryable = {f["Id"] for f in failed if not f.get("SenderFault")}
                if len(retryable) != len(failed):
                    raise EnqueueError(
                        f"dial queue refused messages: {failed}", maybe_sent=maybe_sent
                    )
                entries = {i: e for i, e in entries.items() if i in retryable}
                if not entries:
                    break
            else:
                raise EnqueueError(
                    f"dial queue kept failing {len(entries)} messages", maybe_sent=maybe_sent
                )
