"""Flow views kept in-process for 30 s: the dialer and the webhooks function read a flow once
however many legs, outcomes and deliveries ask for it, and see a configuration change within
that time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.config_store import FLOW_VIEW_TTL_SECONDS, CachedConfigStore
from outdial.adapters.parallel import each
from tests.clock import Clock
from tests.conftest import FLOW_ID

pytestmark = pytest.mark.usefixtures("configured")


@pytest.fixture
def flow_reads() -> Iterator[list[str]]:
    """The key of every GetItem of a flow from now on."""
    read: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        pk = params["Key"]["pk"]["S"]
        if pk.startswith("FLOW#"):
            read.append(pk)

    events = aws.client("dynamodb").meta.events
    events.register("provide-client-params.dynamodb.GetItem", record)
    yield read
    events.unregister("provide-client-params.dynamodb.GetItem", record)


def test_ten_threads_asking_at_once_read_the_flow_once(flow_reads: list[str]) -> None:
    # Given a cold cache
    store = CachedConfigStore()
    # When a dial group's ten threads ask for their flow at the same time
    views = each(lambda _: store.get_flow_view(FLOW_ID), list(range(10)))
    # Then each got it, and it was read once
    assert {view.flow.flow_id for view in views if not isinstance(view, Exception)} == {FLOW_ID}
    assert flow_reads == [f"FLOW#{FLOW_ID}"]


def test_a_configuration_change_is_seen_once_the_view_expires(
    flow_reads: list[str], apply: Any, config_doc: dict[str, Any]
) -> None:
    clock = Clock()
    store = CachedConfigStore(clock=clock)
    first = store.get_flow_view(FLOW_ID)
    assert first is not None
    # Given the flow's max-attempts changed after it was read
    config_doc["flows"][0]["max-attempts"] = first.flow.max_attempts + 1
    apply(config_doc)
    # Then the view read before holds until it expires, then the change is read
    clock.now += FLOW_VIEW_TTL_SECONDS - 1
    cached = store.get_flow_view(FLOW_ID)
    assert cached is not None and cached.flow.max_attempts == first.flow.max_attempts
    clock.now += 2
    fresh = store.get_flow_view(FLOW_ID)
    assert fresh is not None and fresh.flow.max_attempts == first.flow.max_attempts + 1
    assert len(flow_reads) == 2
