"""Moving the messages of a dead-letter queue back to the queue they died in."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from outdial.adapters import aws
from outdial.adapters.errors import AdapterError

_BATCH = 10  # SQS's receive and send batch maximum


class DeadLetters:
    """The dead-letter queue of one source queue, found through the source's redrive policy."""

    def __init__(self, source_url: str, client: Any | None = None) -> None:
        self.source_url = source_url
        self._client = client

    @property
    def client(self) -> Any:
        return self._client or aws.client("sqs")

    def dlq_url(self) -> str:
        """The URL of the source queue's dead-letter queue (its ``RedrivePolicy`` target)."""
        try:
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.source_url, AttributeNames=["RedrivePolicy"]
            )["Attributes"]
            arn = json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"]
            _, _, _, _, account, name = arn.split(":", 5)
            return str(
                self.client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)[
                    "QueueUrl"
                ]
            )
        except KeyError as exc:
            raise AdapterError(f"{self.source_url} has no dead-letter queue") from exc
        except (ClientError, BotoCoreError) as exc:
            raise AdapterError(
                f"finding the dead-letter queue of {self.source_url}: {exc}"
            ) from exc

    def redrive(self) -> int:
        """Move every message of the dead-letter queue back to the source queue; how many moved.

        Each message is sent to the source before it is deleted from the dead-letter queue, so a
        failure part-way leaves a message in both queues at worst, never in neither (the dialer
        takes a call or an outcome once, however often it is delivered).
        """
        dlq = self.dlq_url()
        moved = 0
        try:
            while True:
                messages = self.client.receive_message(
                    QueueUrl=dlq,
                    MaxNumberOfMessages=_BATCH,
                    WaitTimeSeconds=1,
                    VisibilityTimeout=60,
                ).get("Messages", [])
                if not messages:
                    return moved
                result = self.client.send_message_batch(
                    QueueUrl=self.source_url,
                    Entries=[
                        {"Id": str(i), "MessageBody": m["Body"]} for i, m in enumerate(messages)
                    ],
                )
                sent = {int(entry["Id"]) for entry in result.get("Successful", [])}
                if sent:
                    self.client.delete_message_batch(
                        QueueUrl=dlq,
                        Entries=[
                            {"Id": str(i), "ReceiptHandle": messages[i]["ReceiptHandle"]}
                            for i in sorted(sent)
                        ],
                    )
                moved += len(sent)
                if len(sent) < len(messages):
                    raise AdapterError(
                        f"{len(messages) - len(sent)} messages could not be sent back "
                        f"({moved} moved); run the command again"
                    )
        except (ClientError, BotoCoreError) as exc:
            raise AdapterError(f"redriving {dlq} ({moved} moved): {exc}") from exc
