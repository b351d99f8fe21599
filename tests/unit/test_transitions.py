"""The call state machine: every (src, dst) pair of the table, and decide() over a grid."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from outdial.adapters.gateways.base import LegOutcome
from outdial.logic.transitions import (
    ALLOWED,
    REFUSED,
    DialNext,
    Finish,
    LegEnd,
    LegResult,
    RetryLater,
    can_move,
    decide,
    sources_of,
)
from outdial.models.calls import TERMINAL, CallStatus

S = CallStatus
NOW = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
OUTCOMES: list[LegEnd] = [*LegOutcome, REFUSED]

# Written out independently of the module's table: SPEC §3's life of a call.
EXPECTED_MOVES = {
    (S.SCHEDULED, S.QUEUED),
    (S.SCHEDULED, S.DIALING),
    (S.SCHEDULED, S.CANCELLED),
    (S.QUEUED, S.DIALING),
    (S.QUEUED, S.CANCELLED),
    (S.QUEUED, S.SCHEDULED),  # rescheduled to a later time
    (S.DIALING, S.SCHEDULED),
    (S.DIALING, S.COMPLETED),
    (S.DIALING, S.NOT_CONNECTED),
    (S.DIALING, S.FAILED),
}


def result(**overrides: object) -> LegResult:
    fields: dict[str, object] = {
        "attempt": 1,
        "number_index": 0,
        "numbers": 1,
        "max_attempts": 1,
        "retry_after_seconds": 900,
        "outcome": LegOutcome.NO_ANSWER,
        "placed_before": False,
        "now": NOW,
    }
    fields.update(overrides)
    return LegResult(**fields)  # type: ignore[arg-type]


class TestTable:
    def test_covers_every_status(self) -> None:
        assert set(ALLOWED) == set(CallStatus)

    @pytest.mark.parametrize(("src", "dst"), list(itertools.product(CallStatus, CallStatus)))
    def test_every_pair(self, src: CallStatus, dst: CallStatus) -> None:
        # Given a call in src / When asked whether it may move to dst
        # Then only the moves of the call's life are allowed
        assert can_move(src, dst) is ((src, dst) in EXPECTED_MOVES)

    @pytest.mark.parametrize("terminal", sorted(TERMINAL))
    def test_terminal_statuses_never_move(self, terminal: CallStatus) -> None:
        assert ALLOWED[terminal] == frozenset()
        assert not any(can_move(terminal, dst) for dst in CallStatus)

    def test_no_status_moves_to_itself(self) -> None:
        assert not any(can_move(status, status) for status in CallStatus)

    def test_cancel_only_before_dialling(self) -> None:
        assert sources_of(S.CANCELLED) == {S.SCHEDULED, S.QUEUED}

    @pytest.mark.parametrize("dst", list(CallStatus))
    def test_sources_of_inverts_the_table(self, dst: CallStatus) -> None:
        assert sources_of(dst) == {src for src, d in EXPECTED_MOVES if d == dst}


def grid() -> list[tuple[int, int, int, int, LegEnd, bool]]:
    """(attempt, max_attempts, numbers, number_index, outcome, placed_before), all valid combos."""
    return [
        (attempt, max_attempts, numbers, index, outcome, placed_before)
        for max_attempts in (1, 2, 3)
        for attempt in range(1, max_attempts + 1)
        for numbers in (1, 2, 3)
        for index in range(numbers)
        for outcome in OUTCOMES
        for placed_before in (False, True)
    ]


class TestDecideGrid:
    @pytest.mark.parametrize(
        ("attempt", "max_attempts", "numbers", "index", "outcome", "placed_before"), grid()
    )
    def test_decision(
        self,
        attempt: int,
        max_attempts: int,
        numbers: int,
        index: int,
        outcome: LegEnd,
        placed_before: bool,
    ) -> None:
        # Given a call whose leg (attempt, index) just ended with outcome
        after = result(
            attempt=attempt,
            max_attempts=max_attempts,
            numbers=numbers,
            number_index=index,
            outcome=outcome,
            placed_before=placed_before,
            retry_after_seconds=600,
        )
        # When deciding what follows
        decision = decide(after)
        # Then it follows SPEC §4
        last_number = index == numbers - 1
        last_attempt = attempt == max_attempts
        if outcome == LegOutcome.ANSWERED:
            assert decision == Finish(S.COMPLETED, connected_number_index=index)
        elif outcome == LegOutcome.UNKNOWN:
            # SPEC §11: the gateway never told; the person may be on the line
            assert decision == Finish(S.FAILED)
        elif not last_number:
            assert decision == DialNext(attempt=attempt, number_index=index + 1)
        elif not last_attempt:
            assert decision == RetryLater(attempt=attempt + 1, at=NOW + timedelta(seconds=600))
        elif placed_before or outcome != REFUSED:
            assert decision == Finish(S.NOT_CONNECTED)
        else:
            assert decision == Finish(S.FAILED)

    @pytest.mark.parametrize(
        ("attempt", "max_attempts", "numbers", "index", "outcome", "placed_before"), grid()
    )
    def test_decision_is_a_move_the_table_allows(
        self,
        attempt: int,
        max_attempts: int,
        numbers: int,
        index: int,
        outcome: LegEnd,
        placed_before: bool,
    ) -> None:
        decision = decide(
            result(
                attempt=attempt,
                max_attempts=max_attempts,
                numbers=numbers,
                number_index=index,
                outcome=outcome,
                placed_before=placed_before,
            )
        )
        if isinstance(decision, RetryLater):
            assert can_move(S.DIALING, S.SCHEDULED)
        elif isinstance(decision, Finish):
            assert can_move(S.DIALING, decision.status)
            assert (decision.connected_number_index is not None) is (decision.status == S.COMPLETED)


def walk(outcomes: dict[int, LegEnd], numbers: int, max_attempts: int) -> tuple[list, Finish]:
    """Drive a call from its first leg to the end; ``outcomes`` by number index (same every
    attempt). Returns the legs dialled, in order, and the final decision."""
    legs: list[tuple[int, int]] = []
    attempt, index, placed, now = 1, 0, False, NOW
    while True:
        legs.append((attempt, index))
        outcome = outcomes[index]
        decision = decide(
            result(
                attempt=attempt,
                number_index=index,
                numbers=numbers,
                max_attempts=max_attempts,
                outcome=outcome,
                placed_before=placed,
                now=now,
            )
        )
        placed = placed or outcome != REFUSED
        if isinstance(decision, Finish):
            return legs, decision
        if isinstance(decision, RetryLater):
            assert decision.number_index == 0
            assert decision.at == now + timedelta(seconds=900)
            now = decision.at
        attempt, index = decision.attempt, decision.number_index


class TestWholeCalls:
    def test_alternates_in_order_until_one_answers(self) -> None:
        # Given numbers that are busy, unanswered, then answered
        outcomes = {0: LegOutcome.BUSY, 1: LegOutcome.NO_ANSWER, 2: LegOutcome.ANSWERED}
        # When the call is dialled
        legs, end = walk(outcomes, numbers=3, max_attempts=3)
        # Then each number is tried once, in order, and the third connects
        assert legs == [(1, 0), (1, 1), (1, 2)]
        assert end == Finish(S.COMPLETED, connected_number_index=2)

    @pytest.mark.parametrize("max_attempts", [1, 2, 3])
    def test_every_number_of_every_attempt_then_not_connected(self, max_attempts: int) -> None:
        outcomes: dict[int, LegEnd] = {0: LegOutcome.BUSY, 1: LegOutcome.FAILED}
        legs, end = walk(outcomes, numbers=2, max_attempts=max_attempts)
        assert legs == [(a, i) for a in range(1, max_attempts + 1) for i in range(2)]
        assert len(set(legs)) == len(legs)  # no leg twice
        assert end == Finish(S.NOT_CONNECTED)

    def test_all_refused_is_failed(self) -> None:
        legs, end = walk({0: REFUSED, 1: REFUSED}, numbers=2, max_attempts=2)
        assert legs == [(1, 0), (1, 1), (2, 0), (2, 1)]
        assert end == Finish(S.FAILED)

    def test_a_refusal_moves_on_to_the_next_number(self) -> None:
        legs, end = walk({0: REFUSED, 1: LegOutcome.ANSWERED}, numbers=2, max_attempts=1)
        assert legs == [(1, 0), (1, 1)]
        assert end == Finish(S.COMPLETED, connected_number_index=1)

    def test_one_placed_leg_among_refusals_is_not_connected(self) -> None:
        _, end = walk({0: REFUSED, 1: LegOutcome.NO_ANSWER}, numbers=2, max_attempts=1)
        assert end == Finish(S.NOT_CONNECTED)

    def test_placed_in_an_earlier_attempt_counts(self) -> None:
        # Given a last leg refused, but a leg of attempt 1 was placed
        decision = decide(result(attempt=2, max_attempts=2, outcome=REFUSED, placed_before=True))
        # Then the call is NOT_CONNECTED, not FAILED
        assert decision == Finish(S.NOT_CONNECTED)

    def test_max_attempts_lowered_below_the_running_attempt_finishes(self) -> None:
        decision = decide(result(attempt=3, max_attempts=2, placed_before=True))
        assert decision == Finish(S.NOT_CONNECTED)

    def test_zero_retry_delay_retries_now(self) -> None:
        decision = decide(result(max_attempts=2, retry_after_seconds=0))
        assert decision == RetryLater(attempt=2, at=NOW)


class TestInvalidInput:
    @pytest.mark.parametrize(
        "overrides",
        [
            {"numbers": 0},
            {"number_index": 1, "numbers": 1},
            {"number_index": -1},
            {"attempt": 0},
            {"max_attempts": 0},
            {"retry_after_seconds": -1},
            {"outcome": "RINGING"},
        ],
    )
    def test_rejected(self, overrides: dict[str, object]) -> None:
        with pytest.raises(ValueError):
            result(**overrides)


class TestRetryOn:
    """SPEC §9: another attempt only if a leg of this one ended with an outcome in retry-on."""

    def _after(self, outcomes: set[str], retry_on: set[str], last: LegEnd) -> LegResult:
        return LegResult(
            attempt=1,
            number_index=1,
            numbers=2,
            max_attempts=3,
            retry_after_seconds=600,
            outcome=last,
            placed_before=True,
            now=NOW,
            retry_on=frozenset(retry_on),
            attempt_outcomes=frozenset(outcomes),
        )

    def test_an_outcome_in_the_list_retries(self) -> None:
        decision = decide(self._after({"BUSY", "NO_ANSWER"}, {"NO_ANSWER"}, LegOutcome.BUSY))
        assert decision == RetryLater(attempt=2, at=NOW + timedelta(seconds=600))

    def test_no_outcome_in_the_list_ends_the_call(self) -> None:
        decision = decide(self._after({"BUSY", "FAILED"}, {"NO_ANSWER"}, LegOutcome.BUSY))
        assert decision == Finish(CallStatus.NOT_CONNECTED)

    def test_an_empty_list_never_retries(self) -> None:
        decision = decide(self._after({"NO_ANSWER"}, set(), LegOutcome.NO_ANSWER))
        assert decision == Finish(CallStatus.NOT_CONNECTED)

    def test_skipped_legs_alone_do_not_retry_by_default(self) -> None:
        decision = decide(
            LegResult(
                attempt=1,
                number_index=0,
                numbers=1,
                max_attempts=3,
                retry_after_seconds=600,
                outcome=REFUSED,
                placed_before=False,
                now=NOW,
                attempt_outcomes=frozenset({"SKIPPED"}),
            )
        )
        assert decision == Finish(CallStatus.FAILED)

    def test_the_default_list_is_todays_behaviour(self) -> None:
        for outcome in (LegOutcome.NO_ANSWER, LegOutcome.BUSY, LegOutcome.FAILED):
            after = self._after({outcome.value}, {"NO_ANSWER", "BUSY", "FAILED"}, outcome)
            assert isinstance(decide(after), RetryLater)
