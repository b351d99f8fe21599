"""An embedded AWS for laptops and tests: moto's server on loopback, our resources inside it."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from outdial.adapters import aws
from outdial.adapters.tables import create_table_kwargs
from outdial.contract import (
    DIAL_MAX_RECEIVES,
    DIAL_VISIBILITY_SECONDS,
    OUTCOME_MAX_RECEIVES,
    OUTCOME_VISIBILITY_SECONDS,
    TTL_ATTRIBUTE,
    WEBHOOK_MAX_RECEIVES,
    WEBHOOK_VISIBILITY_SECONDS,
)
from outdial.local.moto_patches import patch_moto
from outdial.process import reset_process_state
from outdial.settings import Settings

REGION = "ap-south-1"
ACCOUNT = "123456789012"
SCHEDULER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/outdial-scheduler"
PREFIX = "outdial"  # of every resource `outdial serve` makes
WEBHOOK_QUEUE_NAME = f"{PREFIX}-webhook"  # and its DLQ, f"{WEBHOOK_QUEUE_NAME}-dlq"
# The queues as the stack makes them: receives before SQS moves a message to its DLQ, and the
# visibility timeout (a multiple of the consumer's timeout).
QUEUES = {
    "dial": (DIAL_MAX_RECEIVES, DIAL_VISIBILITY_SECONDS),
    "outcomes": (OUTCOME_MAX_RECEIVES, OUTCOME_VISIBILITY_SECONDS),
    "webhook": (WEBHOOK_MAX_RECEIVES, WEBHOOK_VISIBILITY_SECONDS),
}


@dataclass(frozen=True)
class Resources:
    """What ``provision`` made, as the handlers' environment names it."""

    env: dict[str, str]

    @property
    def settings(self) -> Settings:
        return Settings.model_validate(self.env)


def fake_credentials() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


def provision(prefix: str = PREFIX) -> Resources:
    """Create the tables, queues and schedule group exactly as the handlers expect them.

    Uses whatever endpoint boto3 points at (moto's server or ``mock_aws``).
    """
    dynamodb = aws.client("dynamodb")
    sqs = aws.client("sqs")
    scheduler = aws.client("scheduler")
    env = {
        "OUTDIAL_CONFIG_TABLE": f"{prefix}-config",
        "OUTDIAL_CALLS_TABLE": f"{prefix}-calls",
        "OUTDIAL_SCHEDULE_GROUP": prefix,
        "OUTDIAL_SCHEDULER_ROLE_ARN": SCHEDULER_ROLE,
    }
    for name in (env["OUTDIAL_CONFIG_TABLE"], env["OUTDIAL_CALLS_TABLE"]):
        calls = name == env["OUTDIAL_CALLS_TABLE"]
        dynamodb.create_table(**create_table_kwargs(name, pending_index=calls))
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
    for queue, var in (("dial", "DIAL"), ("outcomes", "OUTCOME"), ("webhook", "WEBHOOK")):
        url, arn, dlq_url = _queue_with_dlq(sqs, f"{prefix}-{queue}", *QUEUES[queue])
        env[f"OUTDIAL_{var}_QUEUE_URL"] = url
        env[f"OUTDIAL_{var}_QUEUE_ARN"] = arn
        env[f"OUTDIAL_{var}_DLQ_URL"] = dlq_url
    scheduler.create_schedule_group(Name=prefix)
    return Resources(env)


def _queue_with_dlq(
    sqs: Any, name: str, max_receives: int, visibility_seconds: int
) -> tuple[str, str, str]:
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = _arn(sqs, dlq_url)
    redrive = f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receives}"}}'
    url = sqs.create_queue(
        QueueName=name,
        Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": str(visibility_seconds)},
    )["QueueUrl"]
    return url, _arn(sqs, url), dlq_url


def _arn(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


class EmbeddedAws:
    """moto in this process (``mock_aws``), also served on 127.0.0.1 for other processes.

    The handlers reach it in-process: no HTTP, no moto server dispatch (which serialises every
    request behind one lock). ``endpoint`` serves the very same state to other tools, e.g.
    ``AWS_ENDPOINT_URL=<endpoint> outdial config apply FILE`` from another shell.
    """

    def __init__(self, port: int = 0) -> None:
        from moto import mock_aws
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._mock = mock_aws()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.endpoint = ""

    def start(self) -> EmbeddedAws:
        patch_moto()
        os.environ.update(fake_credentials())
        os.environ.pop("AWS_ENDPOINT_URL", None)  # in-process calls must stay in-process
        self._mock.start()
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        reset_process_state()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._mock.stop()


def use(resources: Resources) -> None:
    """Point this process's handlers at ``resources``."""
    os.environ.update(resources.env)
    reset_process_state()
