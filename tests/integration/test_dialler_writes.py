"""What the dialer writes per leg, on moto: a leg is an entry of its call, claimed by the write
that takes the call to it (its start, or its move to the next number) and ended by the write
that moves the call on; its outcome is due by its own deadline, which the reconciler moves the
call's index entry to (SPEC §11)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.call_repository import DynamoCallRepository
from outdial.logic.reconcile import reconcile
from outdial.models.calls import leg_of
from outdial.models.legs import leg_id_of
from tests.integration.dialing import Harness, accept, status_of

pytestmark = pytest.mark.usefixtures("configured")

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness().install(monkeypatch)


@pytest.fixture
def writes() -> Iterator[list[str]]:
    """Every DynamoDB write request from now on, by operation."""
    seen: list[str] = []

    def record(model: Any, **_: Any) -> None:
        if model.name in WRITES:
            seen.append(model.name)

    events = aws.client("dynamodb").meta.events
    events.register("before-parameter-build.dynamodb", record)
    yield seen
    events.unregister("before-parameter-build.dynamodb", record)


def test_an_answered_call_is_four_writes_once_accepted(harness: Harness, writes: list[str]) -> None:
    # Given an accepted call to a number the simulator answers
    phonon_uuid = accept("9812345670")
    writes.clear()
    # When a dialer takes it and places its leg
    harness.drain_queue()
    # Then the leg shows on the call while it is out, recorded by the write that took the call
    view = status_of(phonon_uuid)
    assert view["status"] == "DIALING"
    ((leg,),) = [attempt["legs"] for attempt in view["attempts"]]
    assert (leg["number"], leg["did"], leg["outcome"]) == (
        "+919812345670",
        "+918030000001",
        None,
    )
    assert leg["started-at"]
    # And that took two writes: the call taken with its leg claimed, then the leg placed
    assert writes == ["UpdateItem", "UpdateItem"]
    # When its outcome comes back
    writes.clear()
    harness.settle()
    # Then two more: the call ended with its leg's end, the call reported
    assert status_of(phonon_uuid)["status"] == "COMPLETED"
    assert writes == ["UpdateItem", "UpdateItem"]


def test_the_next_number_is_recorded_by_the_move_to_it(harness: Harness, writes: list[str]) -> None:
    # Given a call whose first number is busy and second answers
    phonon_uuid = accept("9812345677", "9812345670")
    harness.drain_queue()
    writes.clear()
    # When the busy outcome comes back and the dialer moves on
    harness.deliver_events()
    # Then the call shows the busy leg ended and the next one out
    legs = status_of(phonon_uuid)["attempts"][0]["legs"]
    assert [(leg["number"], leg["outcome"]) for leg in legs] == [
        ("+919812345677", "BUSY"),
        ("+919812345670", None),
    ]
    # And the busy leg's end and the next leg's claim rode on one move of the call, then the
    # next leg was placed
    assert writes == ["UpdateItem", "UpdateItem"]
    harness.settle()
    assert status_of(phonon_uuid)["status"] == "COMPLETED"


def test_the_move_to_the_next_number_leaves_the_calls_deadline_sooner(
    harness: Harness, writes: list[str]
) -> None:
    # Given a call taken, due in the dialing-deadlines index a few minutes on, whose first
    # number is busy and whose second the gateway takes and never reports
    phonon_uuid = accept("9812345677", "9812345676")
    harness.drain_queue()
    repository = DynamoCallRepository()
    taken = repository.get(phonon_uuid)
    assert taken is not None and taken.overdue_at is not None
    # When the busy outcome, half a minute on, moves it on to its second number
    assert harness.dialer is not None
    harness.dialer.clock = lambda: datetime.now(UTC) + timedelta(seconds=30)
    harness.deliver_events()
    # Then it stays due when it was (sooner than the second leg's own deadline)
    moved = repository.get(phonon_uuid)
    assert moved is not None
    assert (moved.number_index, moved.overdue_at) == (1, taken.overdue_at)
    # When the reconciler finds it then, its second leg out, Then it is due at that leg's
    # deadline
    reconcile(datetime.fromtimestamp(taken.overdue_at + 1, UTC), harness.dialer)
    later = repository.get(phonon_uuid)
    assert later is not None
    leg = leg_of(later, leg_id_of(phonon_uuid, 1, 1))
    assert leg is not None and leg.deadline_at is not None
    assert later.overdue_at == leg.deadline_at + 1
