"""Pacing's arithmetic: slots per second, places in line, and the end of a second."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from outdial.logic.pacing import Pacer, window
from outdial.models.config import SimulatorGateway


class Slots:
    """The slot counters in memory, as the DynamoDB store keeps them."""

    def __init__(self) -> None:
        self.placed: Counter[tuple[str, int]] = Counter()
        self.waiting: Counter[tuple[str, int]] = Counter()

    def take(self, gateway_id: str, second: int, limit: int) -> bool:
        if self.placed[gateway_id, second] >= limit:
            return False
        self.placed[gateway_id, second] += 1
        return True

    def wait_in_line(self, gateway_id: str, second: int) -> int:
        self.waiting[gateway_id, second] += 1
        return self.waiting[gateway_id, second]


def gateway(cps: float | None) -> SimulatorGateway:
    return SimulatorGateway(gateway_id="g", kind="simulator", calls_per_second=cps)


def pacer(slots: Slots, now: list[float], slept: list[float] | None = None) -> Pacer:
    def sleep(seconds: float) -> None:
        (slept if slept is not None else []).append(seconds)
        now[0] += seconds

    return Pacer(store=slots, clock=lambda: now[0], sleep=sleep)  # type: ignore[arg-type]


def test_an_unpaced_gateway_is_never_asked() -> None:
    slots = Slots()
    assert pacer(slots, [100.2]).admit(gateway(None)) == 0
    assert not slots.placed


def test_a_burst_gets_the_seconds_slots_then_places_in_line() -> None:
    # Given a gateway allowed 2 calls a second and 7 legs in the same second
    slots, now = Slots(), [100.2]
    paced = pacer(slots, now)
    waits = [paced.admit(gateway(2)) for _ in range(7)]
    # Then two go now and the others come back a slot's worth later each, in line
    assert waits == [0, 0, 1, 1, 2, 2, 3]
    assert slots.placed["g", 100] == 2


def test_slots_are_per_gateway() -> None:
    slots, now = Slots(), [100.2]
    paced = pacer(slots, now)
    other = SimulatorGateway(gateway_id="h", kind="simulator", calls_per_second=1)
    assert [paced.admit(gateway(1)), paced.admit(other), paced.admit(gateway(1))] == [0, 0, 1]


def test_the_last_moment_of_a_second_waits_for_the_next() -> None:
    # Given a leg arriving 50 ms before a second ends
    slots, now, slept = Slots(), [100.95], []
    # When it is admitted
    assert pacer(slots, now, slept).admit(gateway(5)) == 0
    # Then it took a slot of the next second, having waited for it to begin
    assert slots.placed == {("g", 101): 1}
    assert abs(sum(slept) - 0.05) < 1e-9


def test_no_second_holds_more_than_its_slots_over_a_long_burst() -> None:
    # Given 100 legs arriving over time, each coming back when told
    slots, now = Slots(), [0.0]
    paced = pacer(slots, now)
    due: list[float] = [0.0] * 100
    placed: list[float] = []
    while due:
        due.sort()
        now[0] = max(now[0], due.pop(0))
        wait = paced.admit(gateway(5))
        if wait:
            due.append(now[0] + wait)
        else:
            placed.append(now[0])
        now[0] += 0.01
    per_second: Any = Counter(int(t) for t in placed)
    assert max(per_second.values()) <= 5
    assert max(per_second) - min(per_second) >= 19


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(1, (1, 1)), (5, (1, 5)), (3.5, (1, 3)), (0.5, (2, 1)), (0.3, (4, 1)), (0.25, (4, 1))],
)
def test_a_rate_becomes_windows_of_whole_slots(rate: float, expected: tuple[int, int]) -> None:
    assert window(rate) == expected


def test_a_rate_below_one_spaces_legs_out() -> None:
    # Given a gateway allowed one call every two seconds and legs coming back when told
    slots, now = Slots(), [10.2]
    paced = pacer(slots, now)
    due = [10.2] * 4
    placed: list[float] = []
    while due:
        due.sort()
        now[0] = max(now[0], due.pop(0))
        wait = paced.admit(gateway(0.5))
        if wait:
            due.append(now[0] + wait)
        else:
            placed.append(now[0])
        now[0] += 0.01
    # Then no two were placed within the same two-second window
    windows = [int(t) // 2 for t in placed]
    assert len(set(windows)) == 4


def test_a_slot_granted_after_its_second_ended_is_not_used() -> None:
    # Given a gateway allowed 2 calls a second, and a slot store that answers slowly: the
    # second the slot was asked for has ended when the answer comes
    slots, now = Slots(), [100.5]

    class Slow(Slots):
        def take(self, gateway_id: str, second: int, limit: int) -> bool:
            now[0] += 0.6
            return slots.take(gateway_id, second, limit)

    paced = pacer(Slow(), now)
    # When a leg asks for a slot
    wait = paced.admit(gateway(2))
    # Then it is not placed in the next second on the last one's slot: it waits a window
    assert wait == 1
    assert slots.placed["g", 100] == 1 and slots.placed["g", 101] == 0
