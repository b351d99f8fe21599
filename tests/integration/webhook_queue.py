"""The webhook queue and its Lambda on moto, driven by hand (helpers, not tests): ended calls to
notify about, their messages, the handler run over them, and what reached the dead-letter queue."""

from __future__ import annotations

from typing import Any

from outdial.adapters import aws
from outdial.adapters.webhook_queue import WebhookQueue
from outdial.handlers import webhooks
from outdial.local.apigateway import LambdaContext
from outdial.local.queue_poller import lambda_record
from outdial.models.calls import CallStatus
from outdial.models.legs import LegOutcome
from outdial.settings import get_settings
from tests import factories

# The client's wall-clock limit per delivery, shortened from the production 10 s for the tests,
# yet long enough that a loopback receiver answers within it on a busy 2-core machine.
DEADLINE = 2.0


def completed_call(status: CallStatus = CallStatus.COMPLETED) -> dict[str, Any]:
    """A call as the dialer leaves it after its first leg ended (answered for COMPLETED)."""
    outcome = LegOutcome.ANSWERED if status is CallStatus.COMPLETED else LegOutcome.NO_ANSWER
    item = factories.ended(factories.call(), status, outcome)
    factories.stored(item)
    return item


def enqueue(phonon_uuid: str, event_id: str | None = None) -> str:
    event_id = event_id or f"{phonon_uuid}:COMPLETED"
    WebhookQueue().send(phonon_uuid, event_id)
    return event_id


def receive(url: str | None = None) -> list[dict[str, Any]]:
    return list(
        aws.client("sqs")
        .receive_message(
            QueueUrl=url or get_settings().webhook_queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        .get("Messages", [])
    )


def queue_arn() -> str:
    return str(
        aws.client("sqs").get_queue_attributes(
            QueueUrl=get_settings().webhook_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
    )


def event_of(messages: list[dict[str, Any]], **attributes: str) -> dict[str, Any]:
    """Lambda's event for ``messages``, with record attributes overridden."""
    records = [lambda_record(m, queue_arn()) for m in messages]
    for record in records:
        record["attributes"].update(attributes)
    return {"Records": records}


def handle(event: dict[str, Any], context: Any = None) -> list[str]:
    """Run the handler; the message ids it reports as failed."""
    response = webhooks.handler(event, context or LambdaContext())
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def dlq() -> list[dict[str, Any]]:
    return receive(get_settings().webhook_dlq_url)
