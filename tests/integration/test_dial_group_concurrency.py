"""A dial group's calls are dialled together: ten legs wait on a slow gateway at the same time,
and calls the invocation has no time left for go back on the queue once, none lost, none
placed twice (SPEC §4)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.gateways import Leg, LegEvent, SimulatorGatewayAdapter
from outdial.handlers import dialer as dialer_handler
from outdial.logic.budget import MARGIN_SECONDS, STEP_SECONDS
from outdial.logic.dial import Dialer
from outdial.models.config import HttpGateway, SimulatorGateway
from outdial.settings import get_settings
from tests.conftest import api_event, call, create_body, invoke
from tests.fakes import InFlight
from tests.integration.dialing import status_of

pytestmark = pytest.mark.usefixtures("configured")

GROUP = 10


class SlowGateway(InFlight):
    """The simulator behind a create-call request that takes ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.placed: list[Leg] = []
        self.events: list[LegEvent] = []
        self._placed_lock = threading.Lock()

    def factory(self, config: SimulatorGateway | HttpGateway) -> Any:
        assert isinstance(config, SimulatorGateway)
        outer = self
        inner = SimulatorGatewayAdapter(config, lambda e, _d: outer.events.append(e))

        class Slow:
            gateway_id = config.gateway_id

            def place(self, leg: Leg) -> None:
                outer.wait()
                with outer._placed_lock:
                    outer.placed.append(leg)
                inner.place(leg)

            def status(self, leg: Leg) -> LegEvent | None:
                return inner.status(leg)

        return Slow()


def dial_queue_bodies() -> list[dict[str, Any]]:
    """Take every visible dial-queue message off the queue."""
    sqs, url = aws.client("sqs"), get_settings().dial_queue_url
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def accept_group() -> list[str]:
    """Ten calls due now in one request: one dial message of ten."""
    calls = [
        call(**{"client-identifier": f"g{n}", "contact-numbers": [f"981234{n:03d}0"]})
        for n in range(GROUP)
    ]
    status, answer = invoke(api_event("POST", "/outbound/create", create_body(calls)))
    assert status == 200, answer
    return [str(d["phonon-uuid"]) for d in answer["call-details"]]


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> tuple[SlowGateway, Dialer]:
    gateway = SlowGateway(seconds=0.5)
    dialer = Dialer(gateway_factory=gateway.factory)
    monkeypatch.setattr(dialer_handler, "dialer", lambda: dialer)
    return gateway, dialer


def test_a_group_waits_on_its_gateway_together(slow: tuple[SlowGateway, Dialer]) -> None:
    gateway, dialer = slow
    # Given ten calls due now, in one dial message, and a gateway that takes 0.5 s to answer
    ids = accept_group()
    (message,) = dial_queue_bodies()
    assert message["call-ids"] == ids

    # When a dialer handles the message
    started = time.monotonic()
    dialer.handle(message, remaining_seconds=120)
    took = time.monotonic() - started

    # Then every call's leg was placed once, the ten waiting on the gateway at the same time
    assert sorted(leg.phonon_uuid for leg in gateway.placed) == sorted(ids)
    assert gateway.most == GROUP
    assert took < GROUP * gateway.seconds / 2  # one after another would take 5 s
    assert {status_of(i)["status"] for i in ids} == {"DIALING"}
    assert dial_queue_bodies() == []  # nothing put back


def test_calls_with_no_time_left_go_back_once_and_are_dialled_once(
    slow: tuple[SlowGateway, Dialer],
) -> None:
    gateway, dialer = slow
    # Given ten calls in one message, and a dialer that dials two at a time against a gateway
    # that takes 1 s, with time for one wave of two only
    gateway.seconds = 1.0
    dialer.dial_concurrency = 2
    ids = accept_group()
    (message,) = dial_queue_bodies()

    # When the dialer handles the message
    dialer.handle(message, remaining_seconds=MARGIN_SECONDS + STEP_SECONDS + 0.6)

    # Then the first two were placed, and the other eight went back on the queue in one message
    assert sorted(leg.phonon_uuid for leg in gateway.placed) == sorted(ids[:2])
    (requeued,) = dial_queue_bodies()
    assert requeued["call-ids"] == ids[2:]

    # When that message is handled (the same message delivered twice, as SQS may)
    gateway.seconds = 0.0
    dialer.handle(requeued)
    dialer.handle(requeued)

    # Then every call was placed exactly once
    legs = [leg.leg_id for leg in gateway.placed]
    assert sorted(leg.phonon_uuid for leg in gateway.placed) == sorted(ids)
    assert len(set(legs)) == len(legs) == GROUP
    assert {status_of(i)["status"] for i in ids} == {"DIALING"}
