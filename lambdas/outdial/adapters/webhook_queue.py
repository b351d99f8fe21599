"""The SQS webhook queue: one message per terminal call outcome to tell the customer about.

The dialer sends; the webhooks Lambda consumes, postpones a message it could not deliver (its
backoff), and moves one that will never be delivered to the webhook DLQ itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from outdial.adapters import aws
from outdial.adapters.errors import AdapterError, EnqueueError
from outdial.settings import get_settings

MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS's ceiling for ChangeMessageVisibility
# The webhook sender's event source runs at most this many at once: it spreads a burst of
# completions instead of flooding customers (the stack sets it; `outdial doctor` counts it).
WEBHOOK_MAX_CONCURRENCY = 10
_BATCH = 10  # SQS's batch maximum


CALL_ENDED, LEG_ENDED = "call.ended", "leg.ended"


def call_ended_event_id(phonon_uuid: str, status: str) -> str:
    """The ``event-id`` of a call's ``call.ended`` event: stable, one per call (its replay
    carries the same)."""
    return f"{phonon_uuid}:{status}"


def leg_ended_event_id(leg_id: str) -> str:
    """The ``event-id`` of a leg's ``leg.ended`` event: stable, one per leg."""
    return f"{leg_id}:{LEG_ENDED}"


@dataclass(frozen=True)
class WebhookMessage:
    """What a webhook queue message names: the call, the event's id and type, and for a
    ``leg.ended`` event the leg."""

    phonon_uuid: str
    event_id: str
    event_type: str = CALL_ENDED
    leg_id: str | None = None

    def body(self) -> str:
        """The message body every producer uses."""
        data = {"phonon-uuid": self.phonon_uuid, "event-id": self.event_id}
        if self.event_type != CALL_ENDED:
            data |= {"event-type": self.event_type, "leg-id": self.leg_id or ""}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str) -> WebhookMessage:
        """The message in ``body``; ``ValueError`` when it is not one of ours."""
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError("webhook message is not JSON") from exc
        if not isinstance(data, dict):
            raise ValueError("webhook message is not a JSON object")
        phonon_uuid, event_id = data.get("phonon-uuid"), data.get("event-id")
        if not isinstance(phonon_uuid, str) or not phonon_uuid:
            raise ValueError("webhook message lacks phonon-uuid")
        if not isinstance(event_id, str) or not event_id:
            raise ValueError("webhook message lacks event-id")
        event_type = data.get("event-type", CALL_ENDED)
        if event_type == CALL_ENDED:
            return cls(phonon_uuid=phonon_uuid, event_id=event_id)
        leg_id = data.get("leg-id")
        if event_type != LEG_ENDED or not isinstance(leg_id, str) or not leg_id:
            raise ValueError("webhook message has an unknown event-type or lacks leg-id")
        return cls(phonon_uuid, event_id, LEG_ENDED, leg_id)


class WebhookQueue:
    """Sends, postpones and dead-letters webhook messages."""

    def __init__(
        self,
        client: Any | None = None,
        queue_url: str | None = None,
        dlq_url: str | None = None,
    ) -> None:
        self._client = client
        self._queue_url = queue_url
        self._dlq_url = dlq_url

    @property
    def client(self) -> Any:
        return self._client or aws.client("sqs")

    @property
    def queue_url(self) -> str:
        return self._queue_url or get_settings().webhook_queue_url

    @property
    def dlq_url(self) -> str:
        return self._dlq_url or get_settings().webhook_dlq_url

    def send(self, phonon_uuid: str, event_id: str) -> None:
        """Enqueue one call.ended webhook for the call; ``EnqueueError`` when SQS refuses."""
        self.send_message(WebhookMessage(phonon_uuid, event_id))

    def send_message(self, message: WebhookMessage) -> None:
        """Enqueue one webhook; ``EnqueueError`` when SQS refuses."""
        try:
            self.client.send_message(QueueUrl=self.queue_url, MessageBody=message.body())
        except (ClientError, BotoCoreError) as exc:
            raise EnqueueError(f"sending to the webhook queue: {exc}") from exc

    def send_many(self, messages: list[WebhookMessage]) -> None:
        """Enqueue webhooks ten to a request; ``EnqueueError`` when any is refused."""
        for start in range(0, len(messages), _BATCH):
            entries = [
                {"Id": str(i), "MessageBody": message.body()}
                for i, message in enumerate(messages[start : start + _BATCH])
            ]
            try:
                result = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                raise EnqueueError(f"sending webhooks: {exc}") from exc
            if result.get("Failed"):
                raise EnqueueError(f"webhooks refused: {result['Failed']}")

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        """Keep a received message hidden for ``seconds`` from now: the next try's backoff."""
        seconds = min(max(int(seconds), 0), MAX_VISIBILITY_SECONDS)
        try:
            self.client.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except (ClientError, BotoCoreError) as exc:
            raise AdapterError(f"postponing a webhook message: {exc}") from exc

    def dead_letter(
        self, body: str, *, reason: str, receive_count: int, sent_timestamp_ms: int
    ) -> None:
        """Put a message on the webhook DLQ, its body unchanged so an SQS redrive can move it
        back; why and since when ride along as message attributes."""
        if not self.dlq_url:
            raise AdapterError("no webhook DLQ configured (OUTDIAL_WEBHOOK_DLQ_URL)")
        try:
            self.client.send_message(
                QueueUrl=self.dlq_url,
                MessageBody=body,
                MessageAttributes={
                    "reason": {"DataType": "String", "StringValue": reason},
                    "receive-count": {"DataType": "Number", "StringValue": str(receive_count)},
                    "first-sent-at": {"DataType": "Number", "StringValue": str(sent_timestamp_ms)},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise AdapterError(f"sending to the webhook DLQ: {exc}") from exc
