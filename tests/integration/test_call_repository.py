"""Each repository move is one the state machine allows, and only that one: for every status a
call (or leg) may be in, the write succeeds exactly when the move names it as a source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from outdial.adapters.call_items import call_from_item
from outdial.adapters.call_repository import DynamoCallRepository
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.moves import LEG_MOVES, MOVES, leg_condition, status_condition
from outdial.models.calls import TERMINAL, WAITING, Call, CallStatus, Ending, can_move, sources_of
from outdial.models.legs import LEG_ALLOWED, LegEnding, LegState, leg_sources_of
from tests import factories

pytestmark = pytest.mark.usefixtures("configured")

NOW = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
POSITION = (1, 0)  # the call's current leg: attempt 1, first number


def balance() -> Decimal:
    amount = ConfigStore().get_balance("acme")
    assert amount is not None
    return amount


def in_status(status: CallStatus) -> Call:
    item = factories.call(status)
    factories.stored(item)
    return call_from_item(item)


Move = Callable[[DynamoCallRepository, Call], Any]

CALLS: dict[str, tuple[CallStatus, Move]] = {
    "start_dialing": (CallStatus.DIALING, lambda r, c: r.start_dialing(c, NOW)),
    "schedule_retry": (
        CallStatus.SCHEDULED,
        lambda r, c: r.schedule_retry(c.phonon_uuid, POSITION, 2, 0, NOW, None),
    ),
    "defer": (CallStatus.SCHEDULED, lambda r, c: r.defer(c.phonon_uuid, POSITION, NOW, None)),
    "cancel": (
        CallStatus.CANCELLED,
        lambda r, c: r.cancel(c.phonon_uuid, c.account_id, c.cost, NOW),
    ),
    "reschedule": (
        CallStatus.SCHEDULED,
        lambda r, c: r.reschedule(
            c.phonon_uuid, None, CallStatus.SCHEDULED, {"due-at": NOW.isoformat()}
        ),
    ),
    **{
        f"finish_{status.value}": (
            status,
            lambda r, c, s=status: r.finish(c, POSITION, Ending(s, NOW), None),
        )
        for status in TERMINAL - {CallStatus.CANCELLED}
    },
}


def _declared(method: str) -> frozenset[CallStatus]:
    return MOVES[method.split("_", 1)[0] if method.startswith("finish_") else method][0]


def test_every_move_of_the_repository_is_one_the_machine_allows() -> None:
    for method, (sources, targets) in MOVES.items():
        for target in targets:
            for source in sources:
                # A reschedule keeps a waiting call waiting: staying put is not a move.
                assert source is target or can_move(source, target), (method, source, target)
            if method != "reschedule":
                condition, values = status_condition(target, sources)
                assert set(values.values()) == {s.value for s in sources}, condition
                assert sources <= sources_of(target)
    for method, (leg_sources, leg_target) in LEG_MOVES.items():
        assert all(leg_target in LEG_ALLOWED[s] for s in leg_sources), method
        assert leg_sources <= leg_sources_of(leg_target)


def test_a_condition_wider_than_the_machine_is_refused() -> None:
    with pytest.raises(ValueError):
        status_condition(CallStatus.DIALING, {CallStatus.COMPLETED})
    with pytest.raises(ValueError):
        leg_condition(LegState.PLACED, {LegState.ENDED})


@pytest.mark.parametrize("source", list(CallStatus))
@pytest.mark.parametrize("method", sorted(CALLS))
def test_a_move_succeeds_exactly_from_its_sources(method: str, source: CallStatus) -> None:
    # Given a call in ``source`` dialling its first leg
    target, move = CALLS[method]
    item = in_status(source)
    repository = DynamoCallRepository()

    # When the repository tries the move
    done = move(repository, item)

    # Then it happened exactly when ``source`` is one the move (and so the machine) allows
    after = repository.get(item.phonon_uuid)
    assert after is not None
    allowed = source in _declared(method)
    assert bool(done) is allowed
    assert after.status is (target if allowed else source)


def test_finishing_with_a_refund_settles_once() -> None:
    # Given a call being dialled, and the balance before
    item = in_status(CallStatus.DIALING)
    before = balance()
    repository = DynamoCallRepository()

    # When it is finished NOT_CONNECTED with a refund, twice
    ending = Ending(CallStatus.NOT_CONNECTED, NOW)
    first = repository.finish(item, POSITION, ending, Decimal(1))
    second = repository.finish(item, POSITION, ending, Decimal(1))

    # Then only the first took effect, and the account got its reservation back once
    assert (first, second) == (True, False)
    assert balance() == before + 1


def test_a_move_of_a_leg_that_is_no_longer_current_is_refused() -> None:
    item = in_status(CallStatus.DIALING)
    repository = DynamoCallRepository()
    assert repository.advance_to(item.phonon_uuid, (1, 1), 1, NOW) is None
    assert repository.advance_to(item.phonon_uuid, POSITION, 1, NOW) is not None


def test_a_wake_up_superseded_by_a_reschedule_cannot_start_the_call() -> None:
    # Given a call read before a reschedule gave it a new dispatch token
    item = in_status(CallStatus.SCHEDULED)
    repository = DynamoCallRepository()
    moved = repository.reschedule(
        item.phonon_uuid, None, CallStatus.SCHEDULED, {"dispatch-id": "new"}
    )
    assert moved is not None
    # When a dialer starts it with what it read, Then nothing moves
    assert repository.start_dialing(item, NOW) is None
    assert repository.start_dialing(replace(item, dispatch_id="new"), NOW) is not None


@pytest.mark.parametrize("source", list(CallStatus))
def test_a_call_is_withdrawn_only_where_it_could_be_cancelled(source: CallStatus) -> None:
    item = in_status(source)
    repository = DynamoCallRepository()
    repository.withdraw(item.phonon_uuid)
    gone = repository.get(item.phonon_uuid) is None
    assert gone is (source in WAITING)
    assert gone is can_move(source, CallStatus.CANCELLED)


LegMove = Callable[[DynamoCallRepository, str], Any]

LEGS: dict[str, LegMove] = {
    "take_over_claim": lambda r, leg_id: r.take_over_claim(leg_id, 10**10, 10**10),
    "take_back_paced": lambda r, leg_id: r.take_back_paced(leg_id, 10**10),
    "set_aside": lambda r, leg_id: r.set_aside(leg_id),
    "mark_placed": lambda r, leg_id: r.mark_placed(
        leg_id, placed_at=NOW, deadline=NOW, gateway_ref=None
    ),
    "mark_placement_unknown": lambda r, leg_id: r.mark_placement_unknown(leg_id, 10**10, "unknown"),
    "end_leg": lambda r, leg_id: r.end_leg(
        leg_id, LegEnding("BUSY", placed=True, ended_at=NOW.isoformat())
    ),
}


@pytest.mark.parametrize("source", list(LegState))
@pytest.mark.parametrize("method", sorted(LEGS))
def test_a_leg_moves_exactly_from_its_sources(method: str, source: LegState) -> None:
    # Given a leg item in ``source`` (claimed long ago)
    sources, target = LEG_MOVES[method]
    item = factories.leg(factories.call(), state=source, now=NOW)
    factories.stored(item)
    repository = DynamoCallRepository()

    # When the repository tries the move
    LEGS[method](repository, item["leg-id"])

    # Then the leg moved exactly when the move (and so the leg machine) allows source → target
    after = repository.get_leg(item["leg-id"])
    assert after is not None
    allowed = source in sources
    assert after.state is (target if allowed else source)
    if method.startswith("take_"):
        assert (after.claimed_epoch == 10**10) is allowed


def test_every_leg_move_is_tried() -> None:
    assert set(LEGS) == set(LEG_MOVES)
    assert {m.split("_", 1)[0] if m.startswith("finish_") else m for m in CALLS} == set(MOVES) - {
        "withdraw"
    }
