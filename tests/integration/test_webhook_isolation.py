"""Bounded deliveries (SPEC §10): a receiver that drips its answer is cut off at the wall-clock
limit, and it slows only its own account's webhooks, never another account's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from outdial.adapters.calls_store import CallsStore
from outdial.adapters.gateways.secrets import FlowSecrets, shared_flow_secrets
from outdial.adapters.receiver_backoff import ReceiverBackoff, backoff_seconds
from outdial.adapters.webhook_client import DELIVERY_DEADLINE_SECONDS, Delivery, WebhookClient
from outdial.adapters.webhook_queue import WebhookQueue
from outdial.handlers import webhooks
from outdial.logic.notify import NotifyServices
from tests.clock import Clock
from tests.conftest import FLOW_ID, SECURITY_ID
from tests.fakes import DrippingReceiver, HttpPeer, Reply
from tests.integration.webhook_queue import (
    completed_call,
    enqueue,
    event_of,
    handle,
    receive,
)

DEADLINE = 1.0  # the limit under test, shortened from the production 10 s to keep tests fast
OTHER_FLOW_ID = "GLbx0001"
OTHER_SECURITY_ID = "G" * 64

pytestmark = pytest.mark.usefixtures("loopback_egress")


def test_the_production_limit_is_ten_seconds() -> None:
    assert DELIVERY_DEADLINE_SECONDS == 10
    assert WebhookClient()._deadline == 10


def test_a_dripping_receiver_is_cut_off_at_the_wall_clock_limit() -> None:
    # Given a receiver that sends a header line every 0.1 s, forever
    with DrippingReceiver(interval=0.1) as drip:
        client = WebhookClient(deadline_seconds=DEADLINE, connect_timeout=1.0)
        # When one delivery is made to it
        started = time.monotonic()
        outcome = client.deliver(drip.url, b"{}", "t=1,v1=" + "0" * 64, "evt-1")
        took = time.monotonic() - started
    # Then it ends at the limit (a per-read timeout never would), to be retried later
    assert outcome is Delivery.RETRY
    assert DEADLINE <= took < DEADLINE + 2  # (the margin: a loaded CI machine)


@pytest.fixture
def two_accounts(
    resources: Any, apply: Any, config_doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[DrippingReceiver, HttpPeer, Clock]]:
    """Account acme's receiver drips; account globex's answers at once."""
    with DrippingReceiver(interval=0.1) as drip, HttpPeer(default=Reply(204)) as fast:
        config_doc["accounts"][0]["webhook-url"] = drip.url
        config_doc["accounts"].append(
            {**config_doc["accounts"][0], "account-id": "globex", "webhook-url": fast.url}
        )
        config_doc["flows"].append(
            {
                **config_doc["flows"][1],
                "flow-id": OTHER_FLOW_ID,
                "account-id": "globex",
                "security-id": OTHER_SECURITY_ID,
            }
        )
        shared_flow_secrets.cache_clear()
        apply(config_doc)
        FlowSecrets().put(FLOW_ID, SECURITY_ID)
        clock = Clock()
        made = webhooks.WebhookServices(
            notify=NotifyServices(
                client=WebhookClient(deadline_seconds=DEADLINE, connect_timeout=1.0), clock=clock
            ),
            queue=WebhookQueue(),
            clock=clock,
        )
        monkeypatch.setattr(webhooks, "services", lambda: made)
        yield drip, fast, clock
    shared_flow_secrets.cache_clear()


def ended_call(flow_id: str, account_id: str) -> str:
    item = completed_call()
    CallsStore().delete_items([item["pk"]])
    moved = {**item, "flow-id": flow_id, "account-id": account_id}
    CallsStore().put_items([moved])
    return str(item["phonon-uuid"])


def test_a_slow_receiver_slows_only_its_own_account(
    two_accounts: tuple[DrippingReceiver, HttpPeer, Clock],
) -> None:
    drip, fast, clock = two_accounts
    # Given five webhooks of the dripping account queued ahead of three of another account
    slow_events = [enqueue(ended_call(FLOW_ID, "acme")) for _ in range(5)]
    fast_events = [enqueue(ended_call(OTHER_FLOW_ID, "globex")) for _ in range(3)]
    messages = receive() + receive()
    assert len(messages) == 8
    batch = [m for m in messages if any(e in m["Body"] for e in slow_events)] + [
        m for m in messages if any(e in m["Body"] for e in fast_events)
    ]
    assert len(batch) == 8

    # When the webhooks Lambda handles them in one batch
    started = time.monotonic()
    failed = handle(event_of(batch))
    took = time.monotonic() - started

    # Then the dripping receiver cost one bounded attempt, not five: the rest of its account's
    # webhooks were held back without a connection
    assert drip.connections == 1
    assert took < 5 * DEADLINE  # what five cut-off attempts would take at the very least
    # And the other account's webhooks were all delivered
    assert len(fast.wait_for(3)) == 3
    assert {m["MessageId"] for m in batch[:5]} == set(failed)
    # And the dripping account is held for its backoff
    held = ReceiverBackoff().get("acme")
    assert held is not None and held.failures == 1
    assert held.until == pytest.approx(clock.now + backoff_seconds(1), abs=1)
    assert ReceiverBackoff().get("globex") is None


def test_a_receiver_that_recovers_is_released(
    two_accounts: tuple[DrippingReceiver, HttpPeer, Clock],
) -> None:
    _, fast, clock = two_accounts
    backoff = ReceiverBackoff()
    backoff.failed("globex", clock.now)
    # While held, a webhook of that account is not attempted
    enqueue(ended_call(OTHER_FLOW_ID, "globex"))
    [message] = receive()
    assert handle(event_of([message])) == [message["MessageId"]]
    assert fast.requests == []
    # Once the hold is over, the next attempt is made, succeeds, and clears the hold
    clock.now += backoff_seconds(1) + 1
    assert handle(event_of([message])) == []
    assert len(fast.requests) == 1
    assert backoff.get("globex") is None


def test_failures_in_a_row_hold_longer_up_to_a_cap() -> None:
    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff_seconds(50) == 15 * 60
