"""Chaos: many calls dialled by several workers while AWS misbehaves and invocations die.

On moto, with the simulator (every last digit, 5 and 6 included): 5 % of AWS calls answer
throttling, a transaction conflict, a 500 or a timeout (some after the write landed), 1 % kill
the invocation outright (a ``BaseException`` at that AWS call, before or after it landed),
messages are redelivered (and those that fail five receives redriven from the dead-letter queue,
as the operator does when its alarm fires), and a controllable clock lets the reconciler see
every deadline pass. Then: every call is terminal; no leg is placed twice; each call's legs
follow the rules; the account's money is exact (SPEC §11); every terminal call has exactly one
``call.ended`` event id.

``CHAOS_SEED`` and ``CHAOS_CALLS`` choose the run (CI: the fixed defaults). The default size is
what fits about a minute on a shared 2-core machine: each call costs ~25 AWS requests, and
moto serves a request in 2-5 ms of CPU under one lock, so 1,000 calls take minutes whatever
outdial does (the README gives the figures).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.retries.standard import ExponentialBackoff

from outdial.adapters import aws
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.dead_letters import DeadLetters
from outdial.adapters.dial_queue import event_message
from outdial.adapters.gateways import Leg, LegEvent, SimulatorGatewayAdapter
from outdial.contract import DIAL_BATCH_SIZE, OUTCOME_BATCH_SIZE
from outdial.handlers import dialer as dialer_handler
from outdial.local.apigateway import LambdaContext
from outdial.logic.dial import Dialer
from outdial.logic.reconcile import reconcile
from outdial.models.config import HttpGateway, SimulatorGateway
from outdial.observability import logger
from outdial.settings import get_settings
from tests.conftest import api_event, create_body, invoke, sqs_event
from tests.fakes.aws import aws_error

SEED = int(os.environ.get("CHAOS_SEED", "20261130"))
CALLS = int(os.environ.get("CHAOS_CALLS", "150"))
# How long the calls may take to settle: generous, as the machine running it may be loaded.
SETTLE_SECONDS = float(os.environ.get("CHAOS_SETTLE_SECONDS", "150"))
WORKERS = 4
VISIBILITY_SECONDS = 2  # how soon a message whose invocation died comes back
FAULT_RATE = 0.05
KILL_RATE = 0.01
OPENING = 100_000
FLOWS = ("AB12cd34", "CD34ef56", "EF56gh78")
SECRET = "K" * 64


class RequestCounter:
    """Counts the AWS requests botocore makes (faulted ones included), by service."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.*.*", self._count)

    def _count(self, event_name: str, **_: Any) -> None:
        with self.lock:
            self.counts[event_name.split(".")[1]] += 1

    def by_service(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


class Killed(BaseException):
    """The invocation dies here (a timeout, out of memory): nothing after it runs."""


class Chaos:
    """Decides, per AWS call, whether it fails and how; counts what it injected."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.on = False
        self.redriven = 0  # dial messages and leg outcomes brought back from the dead-letter queue

    def _roll(self) -> float:
        with self.lock:
            return self.rng.random()

    def before_send(self, request: Any = None, event_name: str = "", **_: Any) -> Any:
        if not self.on:
            return None
        from botocore.exceptions import ReadTimeoutError
        from moto.core.models import botocore_stubber

        roll = self._roll()
        if roll < KILL_RATE:
            if roll < KILL_RATE / 2:  # dies after the call landed
                botocore_stubber(event_name, request)
                self.count("kill-after")
            else:
                self.count("kill-before")
            raise Killed(event_name)
        if roll >= KILL_RATE + FAULT_RATE:
            return None
        kind = ("throttling", "conflict", "500", "timeout-before", "timeout-after")[
            int((roll - KILL_RATE) / FAULT_RATE * 5)
        ]
        self.count(kind)
        if kind.startswith("timeout"):
            if kind == "timeout-after":
                botocore_stubber(event_name, request)
            raise ReadTimeoutError(endpoint_url=request.url)
        request.url = "https://injected.invalid/"  # refused: not applied
        if kind == "throttling":
            return aws_error("ThrottlingException")
        if kind == "conflict":
            if event_name.endswith("TransactWriteItems"):
                return aws_error(
                    "TransactionCanceledException",
                    CancellationReasons=[{"Code": "TransactionConflict"}],
                )
            return aws_error("TransactionConflictException")
        return aws_error("InternalServerError", status=500)

    def count(self, kind: str) -> None:
        with self.lock:
            self.counts[kind] += 1


def document() -> dict[str, Any]:
    return {
        "accounts": [
            {
                "account-id": "acme",
                "balance": OPENING,
                "cost-per-call": 1,
                "ip-whitelist": ["127.0.0.1/32"],
            }
        ],
        "flows": [
            {
                "flow-id": flow,
                "account-id": "acme",
                "security-id": SECRET,
                "gateway-id": "sim",
                "dids": [{"number": f"+91803000000{i}"}],
                "max-attempts": 1,
                "max-call-seconds": 60,
            }
            for i, flow in enumerate(FLOWS, start=1)
        ],
        "gateways": [{"gateway-id": "sim", "kind": "simulator", "ring-seconds": 0}],
    }


class Gateway:
    """The simulator, recording each placement; its events go to the dial queue at once."""

    def __init__(self) -> None:
        self.placed: list[Leg] = []
        self.events: list[LegEvent] = []
        self.lock = threading.Lock()

    def factory(self, config: SimulatorGateway | HttpGateway) -> Any:
        assert isinstance(config, SimulatorGateway)
        outer = self

        class Recording:
            gateway_id = config.gateway_id
            inner = SimulatorGatewayAdapter(config, lambda e, _d: outer._emitted(e))

            def place(self, leg: Leg) -> None:
                with outer.lock:
                    outer.placed.append(leg)
                self.inner.place(leg)

            def status(self, leg: Leg) -> LegEvent | None:
                return self.inner.status(leg)

        return Recording()

    def _emitted(self, event: LegEvent) -> None:
        with self.lock:
            self.events.append(event)

    def take_events(self) -> list[LegEvent]:
        with self.lock:
            taken, self.events[:] = list(self.events), []
        return taken


def numbers(rng: random.Random) -> list[str]:
    """1-3 numbers, last digits from every class (0-9)."""
    return [f"98123456{rng.randrange(10)}{rng.randrange(10)}" for _ in range(rng.randint(1, 3))]


def submit(rng: random.Random) -> list[str]:
    ids: list[str] = []
    batch = 50
    for start in range(0, CALLS, batch):
        calls = [
            {
                "client-identifier": f"chaos-{start + i}",
                "start-time": datetime.now(UTC).isoformat(),
                "contact-numbers": numbers(rng),
            }
            for i in range(min(batch, CALLS - start))
        ]
        body = create_body(calls, **{"flow-id": FLOWS[start // batch % 3], "security-id": SECRET})
        status, answer = invoke(api_event("POST", "/outbound/create", body))
        assert status == 200, answer
        ids += [d["phonon-uuid"] for d in answer["call-details"]]
    return ids


def work(gateway: Gateway, chaos: Chaos, stop: threading.Event, rng: random.Random) -> None:
    """One dialer worker: what Lambda's event source mappings do (a dial message an invocation,
    as the dial queue's batch size is 1; up to ten leg outcomes an invocation from the outcome
    queue), with redeliveries."""
    settings = get_settings()
    sqs, outcomes = aws.client("sqs"), settings.outcome_queue_url
    queues = ((settings.dial_queue_url, DIAL_BATCH_SIZE), (outcomes, OUTCOME_BATCH_SIZE))
    while not stop.is_set():
        for event in gateway.take_events():
            _send(sqs, outcomes, event_message(event.gateway_id, event.to_dict()))
        idle = True
        for url, size in queues:
            try:
                batch = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=size, VisibilityTimeout=VISIBILITY_SECONDS
                ).get("Messages", [])
            except (Exception, Killed):
                continue
            if batch:
                idle = False
                invoke_dialer(sqs, url, batch, rng)
        if idle:
            time.sleep(0.05)


def invoke_dialer(sqs: Any, url: str, messages: list[dict[str, Any]], rng: random.Random) -> None:
    """One invocation for a batch; SQS delivers at least once, so now and then twice."""
    event = sqs_event([m["Body"] for m in messages])
    for _ in range(2 if rng.random() < 0.05 else 1):
        try:
            response = dialer_handler.handler(event, LambdaContext())
        except (Exception, Killed):
            return  # the whole invocation failed: the batch comes back
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    for record, message in zip(event["Records"], messages, strict=True):
        if record["messageId"] in failed:
            continue  # it comes back
        # A delete that fails: the message comes back, and is taken once all the same.
        with contextlib.suppress(Exception, Killed):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _send(sqs: Any, url: str, body: str) -> None:
    while True:
        try:
            sqs.send_message(QueueUrl=url, MessageBody=body)
            return
        except (Exception, Killed):
            continue


def settle(gateway: Gateway, chaos: Chaos, dialer: Dialer, ids: list[str], seed: int) -> None:
    stop = threading.Event()
    workers = [
        threading.Thread(target=work, args=(gateway, chaos, stop, random.Random(seed + n)))
        for n in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    try:
        future = datetime.now(UTC)
        deadline = time.monotonic() + SETTLE_SECONDS
        waiting = list(ids)
        while time.monotonic() < deadline:
            time.sleep(1)
            waiting = _waiting(waiting)
            if not waiting:
                return
            # The clock moves on: every leg deadline passes, the reconciler runs.
            future += timedelta(hours=1)
            with contextlib.suppress(Exception, Killed):
                reconcile(future, dialer)
            # A message that failed five receives is in the dead-letter queue, whose depth
            # raises an alarm: the operator redrives it (SPEC §11).
            with contextlib.suppress(Exception, Killed):
                chaos.redriven += redrive_if_any()
        chaos.on = False
        late = dict(reconcile(future + timedelta(days=1), dialer))
        dead = redrive_if_any()
        raise AssertionError(
            f"unfinished ({late}; {dead} dead letters): {_describe(_waiting(ids)[:3])}"
        )
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def redrive_if_any() -> int:
    """``outdial dial-queue redrive`` when the dial or outcome dead-letter queue holds
    messages."""
    settings = get_settings()
    moved = 0
    for url in (settings.dial_queue_url, settings.outcome_queue_url):
        dead = DeadLetters(url)
        depth = aws.client("sqs").get_queue_attributes(
            QueueUrl=dead.dlq_url(), AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        moved += dead.redrive() if int(depth) else 0
    return moved


def _waiting(ids: list[str]) -> list[str]:
    """Those of ``ids`` whose call is not terminal yet."""
    from outdial.adapters.calls_store import CallsStore, call_pk

    while True:
        try:
            calls = CallsStore().get_many([call_pk(i) for i in ids])
        except (Exception, Killed):
            continue  # the observer is not under test: ask again
        return [c["phonon-uuid"] for c in calls if c["status"] not in _TERMINAL]


def _describe(stuck: list[str]) -> list[Any]:
    from outdial.adapters.calls_store import CallsStore, call_pk

    store, found = CallsStore(), []
    for phonon_uuid in stuck:
        call = store.get(call_pk(phonon_uuid)) or {}
        legs = call.get("legs")
        found.append(
            (
                call.get("status"),
                call.get("attempt"),
                call.get("number-index"),
                call.get("deadline-at"),
                call.get("notified"),
                legs,
            )
        )
    return found


_TERMINAL = {"COMPLETED", "NOT_CONNECTED", "FAILED", "CANCELLED"}


def webhook_event_ids() -> dict[str, set[str]]:
    sqs, url = aws.client("sqs"), get_settings().webhook_queue_url
    found: dict[str, set[str]] = {}
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300
    ).get("Messages", []):
        for message in batch:
            body = json.loads(message["Body"])
            found.setdefault(body["phonon-uuid"], set()).add(body["event-id"])
    return found


def test_every_call_ends_and_money_is_exact(
    resources: Any, apply: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    started, cpu = time.monotonic(), time.process_time()
    rng = random.Random(SEED)
    apply(document())
    gateway, chaos = Gateway(), Chaos(SEED)
    dialer = Dialer(gateway_factory=gateway.factory)
    monkeypatch.setattr(dialer_handler, "dialer", lambda: dialer)
    # Thousands of invocations: their logs and metrics would cost more than the dialling.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    level = logger.log_level
    logger.setLevel("ERROR")
    request.addfinalizer(lambda: logger.setLevel(level))
    # The clock is ours: botocore's own backoff (up to 20 s after a timeout or a 500) is kept
    # to its shape but scaled down a hundredfold, so the run takes seconds, not minutes.
    backoff = ExponentialBackoff.delay_amount
    monkeypatch.setattr(
        ExponentialBackoff, "delay_amount", lambda self, context: backoff(self, context) / 100
    )
    # Given calls accepted (before the chaos starts)
    ids = submit(rng)
    # When they are dialled while AWS misbehaves and invocations die
    for service in ("dynamodb", "sqs"):
        aws.client(service).meta.events.register_first(
            f"before-send.{service}", chaos.before_send, unique_id="chaos"
        )
    requests = RequestCounter()
    for service in ("dynamodb", "sqs"):
        requests.attach(aws.client(service))
    chaos.on = True
    try:
        settle(gateway, chaos, dialer, ids, SEED)
    finally:
        chaos.on = False
    settled = time.monotonic() - started
    by_service = Counter({s: n for s, n in requests.by_service().items()})
    print(
        f"\nchaos seed {SEED}: {CALLS} calls settled in {settled:.1f} s"
        f" ({time.process_time() - cpu:.1f} s CPU); {len(gateway.placed)} legs placed;"
        f" AWS requests while dialling {dict(by_service)}; injected {dict(chaos.counts)};"
        f" dead letters redriven {chaos.redriven}"
    )

    from outdial.adapters.call_items import call_from_item
    from outdial.adapters.calls_store import CallsStore, call_pk
    from outdial.models.calls import CallStatus
    from outdial.models.legs import LegState

    calls = {c["phonon-uuid"]: c for c in CallsStore().get_many([call_pk(i) for i in ids])}
    # Then every call is terminal
    assert len(calls) == len(ids)
    statuses = Counter(c["status"] for c in calls.values())
    assert set(statuses) <= _TERMINAL, statuses
    # And no leg was placed twice
    placed = Counter(leg.leg_id for leg in gateway.placed)
    assert [leg for leg, n in placed.items() if n > 1] == []
    # And each call's legs follow the rules: in order, none after an answer or an unknown
    for item in calls.values():
        call = call_from_item(item)
        legs = sorted(call.legs.values(), key=lambda leg: leg.number_index)
        assert [leg.number_index for leg in legs] == list(range(len(legs)))
        for leg in legs[:-1]:
            assert leg.outcome not in (None, "ANSWERED", "UNKNOWN"), call
        if call.status is CallStatus.COMPLETED:
            assert legs[-1].outcome == "ANSWERED"
        assert all(leg.state is LegState.ENDED for leg in legs), call
    # And money is exact: opening - cost x COMPLETED (no call is left unended)
    assert ConfigStore().get_balance("acme") == OPENING - statuses["COMPLETED"]
    # And every terminal call has exactly one call.ended event id (deliveries may repeat)
    events = webhook_event_ids()
    assert {i: len(events.get(i, ())) for i in ids} == dict.fromkeys(ids, 1)
    assert sum(chaos.counts.values()) > 0
