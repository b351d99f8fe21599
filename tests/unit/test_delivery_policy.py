"""After each webhook attempt: done, postponed with backoff, or dead-lettered (SPEC §4)."""

from __future__ import annotations

import pytest

from outdial.contract import WEBHOOK_MAX_AGE_SECONDS
from outdial.logic.delivery_policy import DeadLetter, Done, Postpone, next_step
from outdial.logic.notify import Notified


@pytest.mark.parametrize(
    ("outcome", "step"),
    [
        (Notified.DELIVERED, Done(delivered=True)),
        (Notified.NO_WEBHOOK, Done(delivered=False)),
        (Notified.NO_CALL, Done(delivered=False)),
        (Notified.REJECTED, DeadLetter("rejected")),
        (Notified.RETRY, Postpone(30)),
    ],
)
def test_a_first_attempt(outcome: Notified, step: object) -> None:
    assert next_step(outcome, receive_count=1, age_seconds=5) == step


def test_retries_back_off_exponentially_up_to_two_hours() -> None:
    delays = [next_step(Notified.RETRY, n, 60).seconds for n in (1, 2, 3, 10, 20)]  # type: ignore[union-attr]
    assert delays == [30, 60, 120, 7200, 7200]


def test_the_last_retry_lands_at_the_deadline_not_after() -> None:
    assert next_step(Notified.RETRY, 20, WEBHOOK_MAX_AGE_SECONDS - 100) == Postpone(100)


def test_a_message_still_failing_after_a_day_is_dead_lettered() -> None:
    assert next_step(Notified.RETRY, 21, WEBHOOK_MAX_AGE_SECONDS) == DeadLetter("expired")
    # but a delivered one is done whatever its age
    assert next_step(Notified.DELIVERED, 21, WEBHOOK_MAX_AGE_SECONDS + 1) == Done(True)
