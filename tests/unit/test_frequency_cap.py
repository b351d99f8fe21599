"""Frequency caps (SPEC §9): at most N legs to a number in any rolling 24 h, race-safe."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from outdial.logic.frequency_cap import (
    DAY_SECONDS,
    CapContention,
    release,
    take,
    wait_until,
)

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
T = int(NOW.timestamp())


@dataclass
class MemoryLog:
    """The placements store's contract: versioned reads, writes conditional on the version."""

    items: dict[tuple[str, str], tuple[dict[str, int], int]] = field(default_factory=dict)
    before_write: list[object] = field(default_factory=list)  # callables run once, in order

    def read(self, account_id: str, number: str) -> tuple[dict[str, int], int]:
        placements, version = self.items.get((account_id, number), ({}, 0))
        return dict(placements), version

    def write(
        self,
        account_id: str,
        number: str,
        placements: dict[str, int],
        version: int,
        expires_at: int,
    ) -> bool:
        if self.before_write:
            self.before_write.pop(0)()  # type: ignore[operator]
        if self.items.get((account_id, number), ({}, 0))[1] != version:
            return False
        self.items[(account_id, number)] = (dict(placements), version + 1)
        return True


class TestRule:
    def test_under_the_cap_may_place_now(self) -> None:
        assert wait_until({}, 1, T) is None
        assert wait_until({"a": T - 100}, 2, T) is None

    def test_at_the_cap_waits_until_the_oldest_is_a_day_old(self) -> None:
        assert wait_until({"a": T - 3600}, 1, T) == T - 3600 + DAY_SECONDS
        assert wait_until({"a": T - 7200, "b": T - 60}, 2, T) == T - 7200 + DAY_SECONDS

    def test_placements_over_a_day_old_do_not_count(self) -> None:
        assert wait_until({"a": T - DAY_SECONDS}, 1, T) is None
        assert wait_until({"a": T - DAY_SECONDS + 1}, 1, T) == T + 1

    def test_placements_stamped_after_the_moment_asked_about_count(self) -> None:
        # Another dialer, whose clock read a second later, placed the number's last free leg
        assert wait_until({"a": T - 60, "b": T + 1}, 2, T) == T - 60 + DAY_SECONDS
        assert wait_until({"a": T + 1}, 1, T) == T + 1 + DAY_SECONDS

    def test_over_a_lowered_cap_waits_until_enough_have_aged_out(self) -> None:
        # Three placements, cap now 1: two must age out, so the wait ends a day after the second
        placements = {"a": T - 300, "b": T - 200, "c": T - 100}
        assert wait_until(placements, 1, T) == T - 100 + DAY_SECONDS
        assert wait_until(placements, 2, T) == T - 200 + DAY_SECONDS

    def test_the_wait_is_never_more_than_a_day(self) -> None:
        placements = {str(i): T - i for i in range(10)}
        free = wait_until(placements, 3, T)
        assert free is not None and free - T <= DAY_SECONDS


class TestTake:
    def test_takes_a_free_place_and_counts_the_leg_once(self) -> None:
        log = MemoryLog()
        assert take(log, "acme", "+91", "leg-1", 2, NOW) is None
        assert take(log, "acme", "+91", "leg-1", 2, NOW) is None  # a retry of the same leg
        assert log.read("acme", "+91") == ({"leg-1": T}, 1)

    def test_a_full_number_says_when_it_frees(self) -> None:
        log = MemoryLog()
        take(log, "acme", "+91", "leg-1", 1, NOW - timedelta(hours=2))
        assert take(log, "acme", "+91", "leg-2", 1, NOW) == NOW + timedelta(hours=22)
        # and the leg was not counted
        assert list(log.read("acme", "+91")[0]) == ["leg-1"]

    def test_accounts_and_numbers_are_counted_apart(self) -> None:
        log = MemoryLog()
        assert take(log, "acme", "+91", "leg-1", 1, NOW) is None
        assert take(log, "acme", "+92", "leg-2", 1, NOW) is None
        assert take(log, "other", "+91", "leg-3", 1, NOW) is None

    def test_of_two_dialers_racing_for_the_last_place_one_gets_it(self) -> None:
        # Given a dialer whose write is overtaken by another's for the same number's last place
        log = MemoryLog()
        log.before_write.append(lambda: take(log, "acme", "+91", "leg-B", 1, NOW))
        # When the first dialer tries
        result = take(log, "acme", "+91", "leg-A", 1, NOW)
        # Then it read again and found the place taken: it waits a day
        assert result == NOW + timedelta(days=1)
        assert list(log.read("acme", "+91")[0]) == ["leg-B"]

    def test_a_losing_write_under_the_cap_tries_again(self) -> None:
        log = MemoryLog()
        log.before_write.append(lambda: take(log, "acme", "+91", "leg-B", 2, NOW))
        assert take(log, "acme", "+91", "leg-A", 2, NOW) is None
        assert set(log.read("acme", "+91")[0]) == {"leg-A", "leg-B"}

    def test_endless_contention_is_an_error_not_an_overcount(self) -> None:
        log = MemoryLog()
        counter = iter(range(100))
        log.before_write.extend(
            (lambda: log.items.update({("acme", "+91"): ({}, 1000 + next(counter))}))
            for _ in range(20)
        )
        with pytest.raises(CapContention):
            take(log, "acme", "+91", "leg-A", 5, NOW)

    def test_old_placements_are_dropped_when_writing(self) -> None:
        log = MemoryLog()
        take(log, "acme", "+91", "old", 1, NOW - timedelta(days=2))
        take(log, "acme", "+91", "new", 1, NOW)
        assert log.read("acme", "+91")[0] == {"new": T}

    def test_release_uncounts_a_leg_that_was_never_placed(self) -> None:
        log = MemoryLog()
        take(log, "acme", "+91", "leg-1", 1, NOW)
        release(log, "acme", "+91", "leg-1")
        assert take(log, "acme", "+91", "leg-2", 1, NOW) is None
        release(log, "acme", "+91", "unknown")  # nothing to release: nothing happens
        assert list(log.read("acme", "+91")[0]) == ["leg-2"]
