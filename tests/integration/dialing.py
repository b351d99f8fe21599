"""A harness that runs the dialer through its Lambda handler on moto, with a recording simulator."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.dial_queue import event_message
from outdial.adapters.gateways import Leg, LegEvent, SimulatorGatewayAdapter
from outdial.handlers import dialer as dialer_handler
from outdial.local.apigateway import LambdaContext
from outdial.logic.dial import Dialer
from outdial.models.config import HttpGateway, SimulatorGateway
from outdial.settings import get_settings
from tests.conftest import FLOW_ID, SECURITY_ID, api_event, call, create_body, invoke, sqs_event


@dataclass
class Harness:
    """Drives the dial queue by hand: what Lambda's event source mapping does on AWS."""

    placed: list[Leg] = field(default_factory=list)
    events: list[LegEvent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    dialer: Dialer | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Harness:
        def factory(config: SimulatorGateway | HttpGateway) -> Any:
            assert isinstance(config, SimulatorGateway)
            harness = self

            class Recording:
                gateway_id = config.gateway_id
                inner = SimulatorGatewayAdapter(config, lambda e, _d: harness.events.append(e))

                def place(self, leg: Leg) -> None:
                    with harness.lock:
                        harness.placed.append(leg)
                    self.inner.place(leg)

                def status(self, leg: Leg) -> LegEvent | None:
                    return self.inner.status(leg)

            return Recording()

        self.dialer = Dialer(gateway_factory=factory)
        monkeypatch.setattr(dialer_handler, "dialer", lambda: self.dialer)
        return self

    def deliver(self, *bodies: str) -> dict[str, Any]:
        """Invoke the dialer handler with these message bodies; returns its response."""
        return dialer_handler.handler(sqs_event(list(bodies)), LambdaContext())

    def drain_queue(self) -> int:
        """Deliver every visible dial-queue and outcome-queue message (deleting those the
        handler took)."""
        settings = get_settings()
        return sum(
            self._drain(url) for url in (settings.dial_queue_url, settings.outcome_queue_url)
        )

    def _drain(self, url: str) -> int:
        sqs = aws.client("sqs")
        delivered = 0
        while True:
            messages = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60
            ).get("Messages", [])
            if not messages:
                return delivered
            for message in messages:
                response = self.deliver(message["Body"])
                assert response["batchItemFailures"] == [], response
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                delivered += 1

    def deliver_events(self) -> int:
        """Hand the simulator's pending outcomes to the dialer, as the dial queue would."""
        pending, self.events[:] = list(self.events), []
        for event in pending:
            self.deliver(event_message(event.gateway_id, event.to_dict()))
        return len(pending)

    def settle(self) -> None:
        """Run until nothing is left to dial and no outcome is pending."""
        for _ in range(50):
            if not (self.drain_queue() + self.deliver_events()):
                return
        raise AssertionError("dialling did not settle")

    def placed_numbers(self) -> list[str]:
        return [leg.to_number for leg in self.placed]


def webhook_messages() -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    found = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=get_settings().webhook_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
        ).get("Messages", [])
        if not batch:
            return found
        found += [json.loads(m["Body"]) for m in batch]


HEADERS = {"x-flow-id": FLOW_ID, "x-security-id": SECURITY_ID}


def accept(*numbers: str, start: str | None = None) -> str:
    body = create_body(
        [call(**{"contact-numbers": list(numbers), **({"start-time": start} if start else {})})]
    )
    status, answer = invoke(api_event("POST", "/outbound/create", body))
    assert status == 200, answer
    return str(answer["call-details"][0]["phonon-uuid"])


def status_of(phonon_uuid: str) -> dict[str, Any]:
    status, body = invoke(api_event("GET", f"/outbound/calls/{phonon_uuid}", headers=HEADERS))
    assert status == 200, body
    return body["call"]  # type: ignore[no-any-return]
