"""The webhooks Lambda on moto, delivering to a real receiver on 127.0.0.1.

Signed and verifiable with the flow's security-id; the body is the flat ``<call>`` plus
``event-id``; a receiver that cannot take it now is retried with backoff (visibility stretched,
item reported failed); one that never will (4xx), or a message 24 h old, goes to the webhook DLQ.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.call_reads import CallReads
from outdial.adapters.gateways.secrets import FlowSecrets
from outdial.adapters.receiver_backoff import ReceiverBackoff, backoff_seconds
from outdial.adapters.webhook_client import WebhookClient
from outdial.adapters.webhook_queue import WebhookQueue
from outdial.handlers import webhooks
from outdial.local.apigateway import LambdaContext
from outdial.local.queue_poller import QueuePoller
from outdial.logic.call_view import render_call
from outdial.logic.notify import NotifyServices
from outdial.models.calls import CallStatus
from outdial.settings import get_settings
from outdial.signatures import InvalidSignature, verify
from tests.clock import Clock
from tests.conftest import FLOW_ID, SECURITY_ID
from tests.fakes import HttpPeer, InFlight, Recorded, Reply
from tests.integration.webhook_queue import (
    DEADLINE,
    completed_call,
    dlq,
    enqueue,
    event_of,
    handle,
    receive,
)
from tests.log_capture import log_lines

DAY = 24 * 3600


class RecordingSqs:
    """The real (moto) SQS client, with every ChangeMessageVisibility noted."""

    def __init__(self) -> None:
        self.visibility: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(aws.client("sqs"), name)

    def change_message_visibility(self, **kwargs: Any) -> Any:
        self.visibility.append(kwargs["VisibilityTimeout"])
        return aws.client("sqs").change_message_visibility(**kwargs)


def verifying(request: Recorded) -> Reply:
    """A customer's receiver done right: 401 unless the signature verifies."""
    try:
        verify(request.header("Outdial-Signature"), SECURITY_ID, request.body, int(time.time()))
    except InvalidSignature:
        return Reply(401)
    return Reply(204)


@pytest.fixture
def receiver() -> Iterator[HttpPeer]:
    with HttpPeer(responder=verifying) as peer:
        yield peer


@pytest.fixture
def sqs_spy() -> RecordingSqs:
    return RecordingSqs()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hooked(
    resources: Any,
    apply: Any,
    config_doc: dict[str, Any],
    receiver: HttpPeer,
    sqs_spy: RecordingSqs,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """The test account's webhook-url is ``receiver``; the handler uses short HTTP timeouts."""
    config_doc["accounts"][0]["webhook-url"] = receiver.url_for("/hook")
    apply(config_doc)  # writes the flows' security-ids to Secrets Manager too
    FlowSecrets().put(FLOW_ID, SECURITY_ID)  # idempotent; the key the receiver verifies with
    made = webhooks.WebhookServices(
        notify=NotifyServices(
            client=WebhookClient(deadline_seconds=DEADLINE, connect_timeout=0.5), clock=clock
        ),
        queue=WebhookQueue(client=sqs_spy),
        clock=clock,
    )
    monkeypatch.setattr(webhooks, "services", lambda: made)
    yield resources


def emf(output: str, name: str) -> list[dict[str, Any]]:
    """The EMF metric documents on stdout that carry metric ``name``."""
    documents = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            if name in document:
                documents.append(document)
    return documents


pytestmark = pytest.mark.usefixtures("hooked", "loopback_egress")


class TestDelivered:
    def test_the_webhook_is_signed_with_the_flows_security_id_and_verifies(
        self, receiver: HttpPeer
    ) -> None:
        # Given a COMPLETED call and its webhook message
        item = completed_call()
        event_id = enqueue(item["phonon-uuid"])
        # When the webhooks Lambda handles it
        failed = handle(event_of(receive()))
        # Then the receiver (which answers 401 to a bad signature) took it, and SPEC §4's header
        # verifies with the flow's security-id
        assert failed == []
        [request] = receiver.requests
        assert (request.method, request.path) == ("POST", "/hook")
        header = request.header("Outdial-Signature")
        assert header is not None and header.startswith("t=") and ",v1=" in header
        verify(header, FlowSecrets().get(FLOW_ID), request.body, int(time.time()))
        assert request.header("Outdial-Event-Id") == event_id
        # and the message has left the queue for good, not for the DLQ
        assert dlq() == []

    def test_the_body_is_the_flat_call_plus_event_id_in_compact_json(
        self, receiver: HttpPeer
    ) -> None:
        # Given a call that ended
        item = completed_call()
        event_id = enqueue(item["phonon-uuid"])
        # When its webhook is delivered
        handle(event_of(receive()))
        # Then the body is one flat object: the <call> of the status API plus event-id and type
        [request] = receiver.requests
        body = request.json()
        stored = CallReads().call(item["phonon-uuid"])
        assert stored is not None
        assert body == {"event-id": event_id, "event-type": "call.ended", **render_call(stored)}
        assert body["status"] == "COMPLETED"
        assert body["attempts"][0]["legs"][0]["outcome"] == "ANSWERED"
        assert request.body == json.dumps(body, separators=(",", ":")).encode()

    def test_a_delivery_counts_in_webhook_deliveries_and_logs_carry_the_ids(
        self, capfd: pytest.CaptureFixture[str]
    ) -> None:
        # Given a call's webhook message
        item = completed_call()
        event_id = enqueue(item["phonon-uuid"])
        # When it is delivered
        with log_lines() as lines:
            handle(event_of(receive()))
        # Then one WebhookDeliveries, namespace outdial, dimension service
        [metric] = emf(capfd.readouterr().out, "WebhookDeliveries")
        assert metric["WebhookDeliveries"] == [1.0] and metric["service"] == "outdial"
        assert metric["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "outdial"
        # and the handler's log lines carry phonon-uuid and event-id
        [attempt] = [line for line in lines if line["message"] == "webhook attempt"]
        assert attempt["phonon-uuid"] == item["phonon-uuid"]
        assert attempt["event-id"] == event_id


class TestNothingToSend:
    def test_an_account_without_webhook_url_sends_nothing_and_succeeds(
        self, apply: Any, config_doc: dict[str, Any], receiver: HttpPeer
    ) -> None:
        # Given an account with no webhook-url
        config_doc["accounts"][0]["webhook-url"] = None
        apply(config_doc)
        enqueue(completed_call()["phonon-uuid"])
        # When the message is handled / Then it is done, with nothing sent and nothing dead
        assert handle(event_of(receive())) == []
        assert receiver.requests == [] and dlq() == []

    def test_a_call_that_no_longer_exists_is_dropped(self, receiver: HttpPeer) -> None:
        enqueue(str(uuid.uuid4()))
        assert handle(event_of(receive())) == []
        assert receiver.requests == [] and dlq() == []

    def test_a_malformed_message_goes_to_the_dlq(self, receiver: HttpPeer) -> None:
        aws.client("sqs").send_message(QueueUrl=get_settings().webhook_queue_url, MessageBody="{")
        assert handle(event_of(receive())) == []
        [dead] = dlq()
        assert dead["Body"] == "{"
        assert dead["MessageAttributes"]["reason"]["StringValue"] == "rejected"


class TestRetried:
    def test_a_5xx_postpones_the_message_with_backoff_and_reports_it_failed(
        self, receiver: HttpPeer, sqs_spy: RecordingSqs, capfd: pytest.CaptureFixture[str]
    ) -> None:
        # Given a receiver answering 503
        receiver.responder, receiver.default = None, Reply(503)
        enqueue(completed_call()["phonon-uuid"])
        messages = receive()
        # When its first receive is handled
        failed = handle(event_of(messages, ApproximateReceiveCount="1"))
        # Then the item is reported failed, hidden for 30 s, and not dead-lettered
        assert failed == [messages[0]["MessageId"]]
        assert sqs_spy.visibility == [30]
        assert dlq() == []
        [metric] = emf(capfd.readouterr().out, "WebhookFailures")
        assert (metric["reason"], metric["service"]) == ("retry", "outdial")
        assert metric["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "reason"]]

    @pytest.mark.parametrize(("receives", "hidden"), [(2, 60), (4, 240), (9, 7200), (30, 7200)])
    def test_the_backoff_doubles_per_receive_up_to_two_hours(
        self, receiver: HttpPeer, sqs_spy: RecordingSqs, receives: int, hidden: int
    ) -> None:
        receiver.responder, receiver.default = None, Reply(500)
        enqueue(completed_call()["phonon-uuid"])
        handle(event_of(receive(), ApproximateReceiveCount=str(receives)))
        assert sqs_spy.visibility == [hidden]

    def test_a_dead_receiver_is_retried(
        self, apply: Any, config_doc: dict[str, Any], sqs_spy: RecordingSqs
    ) -> None:
        # Given a webhook-url where nothing listens (connection refused)
        with HttpPeer() as gone:
            config_doc["accounts"][0]["webhook-url"] = gone.url_for("/hook")
        apply(config_doc)
        enqueue(completed_call()["phonon-uuid"])
        messages = receive()
        # When handled / Then retried later
        assert handle(event_of(messages)) == [messages[0]["MessageId"]]
        assert sqs_spy.visibility == [30]

    def test_a_receiver_slower_than_the_timeout_is_retried_quickly(
        self, receiver: HttpPeer, sqs_spy: RecordingSqs
    ) -> None:
        # Given a receiver that answers after 8 s (far past the client's deadline)
        receiver.responder, receiver.default = None, Reply(200, delay=8.0)
        enqueue(completed_call()["phonon-uuid"])
        started = time.monotonic()
        # When handled
        handle(event_of(receive()))
        # Then the handler gave up at its deadline, not waiting for the answer, and postponed
        # the message
        assert DEADLINE <= time.monotonic() - started < DEADLINE + 3
        assert sqs_spy.visibility == [30]

    def test_no_attempt_when_the_invocation_is_nearly_out_of_time(
        self, receiver: HttpPeer, sqs_spy: RecordingSqs
    ) -> None:
        enqueue(completed_call()["phonon-uuid"])
        messages = receive()
        # Given 5 s left of the invocation / When handled
        failed = handle(event_of(messages), LambdaContext(timeout_seconds=5))
        # Then nothing is sent; the message comes back after the queue's visibility timeout
        assert failed == [messages[0]["MessageId"]]
        assert receiver.requests == [] and sqs_spy.visibility == []


class TestDeadLettered:
    def test_a_4xx_goes_to_the_dlq_at_once(
        self, receiver: HttpPeer, capfd: pytest.CaptureFixture[str]
    ) -> None:
        # Given a receiver answering 410 Gone
        receiver.responder, receiver.default = None, Reply(410)
        event_id = enqueue(completed_call()["phonon-uuid"])
        messages = receive()
        # When handled
        failed = handle(event_of(messages))
        # Then it is done with (not failed) and sits in the DLQ, body unchanged, reason given
        assert failed == []
        [dead] = dlq()
        assert json.loads(dead["Body"])["event-id"] == event_id
        assert dead["Body"] == messages[0]["Body"]
        assert dead["MessageAttributes"]["reason"]["StringValue"] == "rejected"
        assert len(receiver.requests) == 1
        [metric] = emf(capfd.readouterr().out, "WebhookFailures")
        assert metric["reason"] == "rejected"

    def test_a_message_older_than_24_hours_goes_to_the_dlq(
        self, receiver: HttpPeer, clock: Clock, capfd: pytest.CaptureFixture[str]
    ) -> None:
        # Given a receiver still failing, and a message sent 24 h and 1 s ago
        receiver.responder, receiver.default = None, Reply(503)
        enqueue(completed_call()["phonon-uuid"])
        sent_ms = int((clock.now - DAY - 1) * 1000)
        # When handled
        failed = handle(event_of(receive(), SentTimestamp=str(sent_ms)))
        # Then it had one last try, and is now in the DLQ as expired
        assert failed == []
        assert len(receiver.requests) == 1
        [dead] = dlq()
        assert dead["MessageAttributes"]["reason"]["StringValue"] == "expired"
        assert dead["MessageAttributes"]["first-sent-at"]["StringValue"] == str(sent_ms)
        [metric] = emf(capfd.readouterr().out, "WebhookFailures")
        assert metric["reason"] == "expired"

    def test_an_old_message_is_still_delivered_when_the_receiver_is_back(
        self, receiver: HttpPeer, clock: Clock
    ) -> None:
        # Given a 25 h old message (say, redriven from the DLQ) and a receiver that is up
        enqueue(completed_call()["phonon-uuid"])
        sent_ms = int((clock.now - DAY - 3600) * 1000)
        # When handled / Then delivered, not dead-lettered
        assert handle(event_of(receive(), SentTimestamp=str(sent_ms))) == []
        assert len(receiver.requests) == 1 and dlq() == []

    def test_a_receiver_down_for_a_day_is_retried_with_backoff_then_dead_lettered(
        self, receiver: HttpPeer, sqs_spy: RecordingSqs, clock: Clock
    ) -> None:
        # Given a receiver down for good, and a webhook queue whose redrive leaves the 24 h to the
        # handler (the safety-net maxReceiveCount above the ~20 receives a day of backoff takes)
        receiver.responder, receiver.default = None, Reply(503)
        sqs = aws.client("sqs")
        url = get_settings().webhook_queue_url
        policy = json.loads(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"][
                "RedrivePolicy"
            ]
        )
        policy["maxReceiveCount"] = 50
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(policy)})
        enqueue(completed_call()["phonon-uuid"])
        sent = int(clock.now)  # whole seconds: the arithmetic below stays exact
        clock.now = float(sent)
        # When every receive is handled as SQS brings it back after the backoff
        tries = 0
        while messages := receive():
            tries += 1
            assert tries < 40, "never dead-lettered"
            [message] = messages
            before = len(sqs_spy.visibility)
            handle(event_of(messages, SentTimestamp=str(sent * 1000)))
            if len(sqs_spy.visibility) > before:
                clock.now += sqs_spy.visibility[-1]  # time passes: the backoff
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
        # Then the delays doubled from 30 s to the 2 h cap, the last try came at the 24 h mark,
        # and the message ended in the DLQ as expired
        assert sqs_spy.visibility[:9] == [30, 60, 120, 240, 480, 960, 1920, 3840, 7200]
        assert sum(sqs_spy.visibility) == DAY
        assert tries == len(receiver.requests) == 20
        [dead] = dlq()
        assert dead["MessageAttributes"]["reason"]["StringValue"] == "expired"


class SlowReceiver(InFlight):
    """A verifying receiver that takes ``seconds`` to answer, 503 for ``failing`` calls."""

    def __init__(self, seconds: float, failing: frozenset[str] = frozenset()) -> None:
        super().__init__(seconds)
        self.failing = failing

    def __call__(self, request: Recorded) -> Reply:
        self.wait()
        if request.json()["phonon-uuid"] in self.failing:
            return Reply(503)
        return verifying(request)


def batch_of_five() -> tuple[list[str], list[dict[str, Any]]]:
    """Five calls' webhooks, received as one batch, after one webhook of the same account was
    delivered (its receiver is known to work: deliveries to it go together)."""
    enqueue(completed_call()["phonon-uuid"])
    assert handle(event_of(receive())) == []
    ids = [completed_call()["phonon-uuid"] for _ in range(5)]
    for phonon_uuid in ids:
        enqueue(phonon_uuid)
    messages = receive()
    assert len(messages) == 5
    return ids, messages


class TestBatches:
    def test_a_batch_is_delivered_to_a_slow_receiver_together(self, receiver: HttpPeer) -> None:
        # Given five webhooks in one batch, to a receiver that takes 0.3 s to answer (the
        # client gives up at 0.5 s)
        ids, messages = batch_of_five()
        slow = SlowReceiver(0.3)
        receiver.responder = slow
        # When the batch is handled
        failed = handle(event_of(messages))
        # Then all five were delivered, the five in flight at the same time
        assert failed == [] and dlq() == []
        assert sorted(r.json()["phonon-uuid"] for r in receiver.requests[1:]) == sorted(ids)
        assert slow.most == 5

    def test_the_one_failing_delivery_of_a_batch_is_the_only_failure(
        self, receiver: HttpPeer, sqs_spy: RecordingSqs
    ) -> None:
        # Given five webhooks in one batch, the receiver answering 503 for the third call only
        ids, messages = batch_of_five()
        receiver.responder = SlowReceiver(0.3, failing=frozenset({ids[2]}))
        (failing,) = [m for m in messages if json.loads(m["Body"])["phonon-uuid"] == ids[2]]
        # When the batch is handled
        failed = handle(event_of(messages, ApproximateReceiveCount="1"))
        # Then only that message is reported failed, postponed by its own backoff
        assert failed == [failing["MessageId"]]
        assert sqs_spy.visibility == [30]
        assert dlq() == []
        assert len(receiver.requests) == 1 + 5

    def test_deliveries_that_fail_together_hold_the_account_as_one_failure(
        self, receiver: HttpPeer, clock: Clock
    ) -> None:
        # Given a batch of five to a receiver that worked, and now answers 503 to all
        ids, messages = batch_of_five()
        receiver.responder = SlowReceiver(0.3, failing=frozenset(ids))
        # When the batch is handled
        failed = handle(event_of(messages, ApproximateReceiveCount="1"))
        # Then all five are retried later, and the account is held as after one failure
        assert sorted(failed) == sorted(m["MessageId"] for m in messages)
        held = ReceiverBackoff().get("acme")
        assert held is not None and held.failures == 1
        assert held.until == pytest.approx(clock.now + backoff_seconds(1), abs=1)


class TestThroughThePoller:
    def test_the_local_event_source_mapping_delivers_and_empties_the_queue(
        self, receiver: HttpPeer
    ) -> None:
        # Given two calls' webhooks on the queue and the webhook handler behind a poller
        first, second = completed_call(), completed_call(CallStatus.NOT_CONNECTED)
        enqueue(first["phonon-uuid"])
        enqueue(second["phonon-uuid"])
        poller = QueuePoller(get_settings().webhook_queue_url, webhooks.handler, name="webhooks")
        # When it runs
        poller.start()
        try:
            requests = receiver.wait_for(2)
        finally:
            poller.stop()
        # Then both were delivered, and nothing is left on the queue
        assert {r.json()["phonon-uuid"] for r in requests} == {
            first["phonon-uuid"],
            second["phonon-uuid"],
        }
        assert _in_queue(get_settings().webhook_queue_url) == 0


def _in_queue(url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
