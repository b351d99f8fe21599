"""Each repository move is one the state machine allows, and only that one: for every status a
call (or leg) may be in, the write succeeds exactly when the machine allows the move."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from outdial.adapters.call_repository import TARGETS, DynamoCallRepository, status_condition
from outdial.adapters.config_store import ConfigStore
from outdial.models.calls import TERMINAL, CallStatus, can_move, sources_of
from outdial.models.legs import LEG_ALLOWED, LegState
from tests import factories

pytestmark = pytest.mark.usefixtures("configured")

NOW = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
LEG = "the-current-leg"


def balance() -> Decimal:
    amount = ConfigStore().get_balance("acme")
    assert amount is not None
    return amount


def in_status(status: CallStatus) -> dict[str, Any]:
    item = factories.call(status, **{"current-leg": LEG})
    factories.stored(item)
    return item


Move = Callable[[DynamoCallRepository, dict[str, Any]], Any]

MOVES: dict[str, tuple[CallStatus, Move]] = {
    "start_dialing": (CallStatus.DIALING, lambda r, c: r.start_dialing(c["phonon-uuid"], NOW)),
    "schedule_retry": (
        CallStatus.SCHEDULED,
        lambda r, c: r.schedule_retry(c["phonon-uuid"], LEG, 2, NOW, None),
    ),
    "cancel": (CallStatus.CANCELLED, lambda r, c: r.cancel(c, NOW)),
    **{
        f"finish_{status.value}": (
            status,
            lambda r, c, s=status: r.finish(c, LEG, s, {"ended-at": NOW.isoformat()}, None),
        )
        for status in TERMINAL - {CallStatus.CANCELLED}
    },
}


def test_every_status_move_of_the_repository_is_in_the_table() -> None:
    for method, target in TARGETS.items():
        assert MOVES.get(method, (target,))[0] is target
        condition, values = status_condition(target)
        assert set(values.values()) == {s.value for s in sources_of(target)}, condition
        assert all(can_move(src, target) for src in sources_of(target))


@pytest.mark.parametrize("source", list(CallStatus))
@pytest.mark.parametrize("method", sorted(MOVES))
def test_a_move_succeeds_exactly_when_the_machine_allows_it(
    method: str, source: CallStatus
) -> None:
    # Given a call in ``source`` whose current leg is LEG
    target, move = MOVES[method]
    item = in_status(source)
    repository = DynamoCallRepository()

    # When the repository tries the move
    done = move(repository, item)

    # Then it happened exactly when the state machine allows source → target
    after = repository.get(item["phonon-uuid"])
    assert after is not None
    assert bool(done) is can_move(source, target)
    assert after["status"] == (target if can_move(source, target) else source).value


def test_finishing_with_a_refund_settles_once() -> None:
    # Given a call being dialled, and the balance before
    item = in_status(CallStatus.DIALING)
    before = balance()
    repository = DynamoCallRepository()

    # When it is finished NOT_CONNECTED with a refund, twice
    values = {"ended-at": NOW.isoformat()}
    first = repository.finish(item, LEG, CallStatus.NOT_CONNECTED, values, Decimal(1))
    second = repository.finish(item, LEG, CallStatus.NOT_CONNECTED, values, Decimal(1))

    # Then only the first took effect, and the account got its reservation back once
    assert (first, second) == (True, False)
    assert balance() == before + 1


def test_a_move_of_a_leg_that_is_no_longer_current_is_refused() -> None:
    item = in_status(CallStatus.DIALING)
    repository = DynamoCallRepository()
    assert repository.advance_to(item["phonon-uuid"], "another-leg", 1) is None
    assert repository.advance_to(item["phonon-uuid"], LEG, 1) is not None


@pytest.mark.parametrize("source", list(CallStatus))
def test_a_call_is_withdrawn_only_where_it_could_be_cancelled(source: CallStatus) -> None:
    item = in_status(source)
    repository = DynamoCallRepository()
    repository.withdraw(item["phonon-uuid"])
    gone = repository.get(item["phonon-uuid"]) is None
    assert gone is can_move(source, CallStatus.CANCELLED)


LEG_MOVES: dict[str, tuple[LegState, Callable[[DynamoCallRepository, str], Any]]] = {
    "take_over_claim": (
        LegState.CLAIMED,
        lambda r, leg_id: r.take_over_claim(leg_id, 10**10, 10**10),
    ),
    "mark_placed": (LegState.PLACED, lambda r, leg_id: r.mark_placed(leg_id)),
    "end_leg": (LegState.ENDED, lambda r, leg_id: r.end_leg(leg_id, {"outcome": "BUSY"})),
}


@pytest.mark.parametrize("source", list(LegState))
@pytest.mark.parametrize("method", sorted(LEG_MOVES))
def test_a_leg_moves_exactly_when_its_machine_allows_it(method: str, source: LegState) -> None:
    # Given a leg item in ``source`` (claimed long ago)
    target, move = LEG_MOVES[method]
    item = factories.leg(factories.call(), state=source, now=NOW)
    factories.stored(item)
    repository = DynamoCallRepository()

    # When the repository tries the move
    move(repository, item["leg-id"])

    # Then the leg moved exactly when the leg machine allows source → target
    after = repository.get_leg(item["leg-id"])
    assert after is not None
    allowed = target in LEG_ALLOWED[source]
    assert after["state"] == (target if allowed else source).value
    if method == "take_over_claim":
        assert (after["claimed-epoch"] == 10**10) is allowed
