"""Each repository move is one the state machine allows, and only that one: for every status a
call (or leg) may be in, the write succeeds exactly when the move names it as a source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from outdial.adapters.call_items import call_from_item
from outdial.adapters.call_repository import DynamoCallRepository
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.moves import LEG_MOVES, MOVES, leg_condition, status_condition
from outdial.logic.placing import leg_entry
from outdial.models.calls import (
    TERMINAL,
    WAITING,
    Call,
    CallStatus,
    EndedLeg,
    Ending,
    LegEntry,
    Wait,
    can_move,
    ended_entry,
    leg_of,
    sources_of,
)
from outdial.models.legs import LEG_ALLOWED, LegEnding, LegState, leg_id_of, leg_sources_of
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
        lambda r, c: r.reschedule(c.phonon_uuid, None, Wait(CallStatus.SCHEDULED, NOW, NOW, "new")),
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
        item.phonon_uuid, None, Wait(CallStatus.SCHEDULED, NOW, NOW, "new")
    )
    assert moved is not None
    # When a dialer starts it with what it read, Then nothing moves
    assert repository.start_dialing(item, NOW) is None
    assert repository.start_dialing(replace(item, dispatch_id="new"), NOW) is not None


def test_a_rescheduled_call_waits_as_the_move_says() -> None:
    item = in_status(CallStatus.SCHEDULED)
    repository = DynamoCallRepository()
    later = NOW + timedelta(hours=2)
    wait = Wait(CallStatus.QUEUED, NOW, later, "token", "move-schedule")
    assert repository.reschedule(item.phonon_uuid, None, wait) is not None
    call = repository.get(item.phonon_uuid)
    assert call is not None
    assert (call.status, call.dispatch_id, call.schedule) == (
        CallStatus.QUEUED,
        "token",
        "move-schedule",
    )
    assert call.due_at == later
    assert call.next_dial_at == later.isoformat()
    assert call.start_time == NOW.isoformat()
    with pytest.raises(ValueError):
        repository.reschedule(item.phonon_uuid, "token", replace(wait, status=CallStatus.DIALING))


@pytest.mark.parametrize("source", list(CallStatus))
def test_a_call_is_withdrawn_only_where_it_could_be_cancelled(source: CallStatus) -> None:
    item = in_status(source)
    repository = DynamoCallRepository()
    repository.withdraw(item.phonon_uuid)
    gone = repository.get(item.phonon_uuid) is None
    assert gone is (source in WAITING)
    assert gone is can_move(source, CallStatus.CANCELLED)


LegMove = Callable[[DynamoCallRepository, Call, str], Any]
LATE = datetime.fromtimestamp(10**10, UTC)  # a claim made now by a dialer whose clock reads this


def _claim(call: Call, number_index: int | None = None) -> LegEntry:
    """The claim of ``call``'s current leg (or its number ``number_index``) a dialer makes at
    LATE."""
    return leg_entry(call, ConfigStore().get_flow_view(call.flow_id), LATE, number_index)


def _ended(call: Call, leg_id: str) -> EndedLeg:
    entry = call.legs[leg_id]
    ending = LegEnding("BUSY", placed=True, ended_at=NOW.isoformat())
    leg = leg_of(call, leg_id)
    assert leg is not None
    return leg_id, ended_entry(replace(call, legs={leg_id: entry}), leg, ending)


LEGS: dict[str, LegMove] = {
    "take_over_claim": lambda r, c, leg_id: r.take_over_claim(c, _claim(c), 10**10),
    "take_back_paced": lambda r, c, leg_id: r.take_back_paced(c, _claim(c)),
    "set_aside": lambda r, c, leg_id: r.set_aside(leg_id),
    "mark_placed": lambda r, c, leg_id: r.mark_placed(
        leg_id, placed_at=NOW, deadline=NOW, gateway_ref=None
    ),
    "mark_placement_unknown": lambda r, c, leg_id: r.mark_placement_unknown(leg_id, 10**10),
    "end_leg": lambda r, c, leg_id: r.end_leg(_ended(c, leg_id)),
}


@pytest.mark.parametrize("source", list(LegState))
@pytest.mark.parametrize("method", sorted(LEGS))
def test_a_leg_moves_exactly_from_its_sources(method: str, source: LegState) -> None:
    # Given a call dialling a leg whose entry is in ``source`` (claimed long ago)
    sources, target = LEG_MOVES[method]
    item = factories.leg(factories.call(), state=source, now=NOW)
    factories.stored(item)
    call = call_from_item(item)
    leg_id = leg_id_of(call.phonon_uuid, 1, 0)
    repository = DynamoCallRepository()

    # When the repository tries the move
    LEGS[method](repository, call, leg_id)

    # Then the leg moved exactly when the move (and so the leg machine) allows source → target
    after = repository.get_leg(leg_id)
    assert after is not None
    allowed = source in sources
    assert after.state is (target if allowed else source)
    if method.startswith("take_"):
        assert (after.claimed_epoch == 10**10) is allowed


@pytest.mark.parametrize("source", list(LegState))
def test_the_end_of_a_leg_rides_on_the_calls_move_only_once(source: LegState) -> None:
    # Given a call dialling a leg whose entry is in ``source``
    item = factories.leg(factories.call(), state=source, now=NOW)
    factories.stored(item)
    call = call_from_item(item)
    leg_id = leg_id_of(call.phonon_uuid, 1, 0)
    repository = DynamoCallRepository()

    # When the call moves on to its next number with the leg's end
    moved = repository.advance_to(
        call.phonon_uuid, POSITION, 1, NOW, ended=_ended(call, leg_id), leg=_claim(call, 1)
    )

    # Then it moved, the leg ended, exactly when the leg had not ended yet
    allowed = source in LEG_MOVES["end_leg"][0]
    assert (moved is not None) is allowed
    after = repository.get(call.phonon_uuid)
    assert after is not None
    assert after.number_index == (1 if allowed else 0)
    assert after.legs[leg_id].state is (LegState.ENDED if allowed else source)


def test_a_leg_whose_claim_was_given_back_is_claimed_once() -> None:
    # Given a call dialling its first leg, whose claim was given back
    item = factories.leg(factories.call(), now=NOW)
    factories.stored(item)
    call = call_from_item(item)
    leg_id = leg_id_of(call.phonon_uuid, 1, 0)
    repository = DynamoCallRepository()
    repository.release_claim(leg_id)
    released = repository.get(call.phonon_uuid)
    assert released is not None and leg_id not in released.legs

    # When two dialers claim it, Then one does
    assert [repository.claim_leg(released, _claim(released)) for _ in range(2)] == [True, False]
    claimed = repository.get_leg(leg_id)
    assert claimed is not None
    assert (claimed.state, claimed.claimed_epoch) == (LegState.CLAIMED, 10**10)


def test_every_leg_move_is_tried() -> None:
    assert set(LEGS) == set(LEG_MOVES)
    assert {m.split("_", 1)[0] if m.startswith("finish_") else m for m in CALLS} == set(MOVES) - {
        "withdraw"
    }
