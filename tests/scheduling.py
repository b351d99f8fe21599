"""How `make test` (``pytest -n 4 --dist loadscope``) shares the tests among its workers.

A *unit* goes to one worker whole. Tests that share an expensive fixture form one unit, so the
fixture is built once per run, not once per worker:

- every infra test: the synthesized stack (a CDK synth with cdk-nag, ~15 s of CPU);
- each e2e module: its module-scoped `outdial serve` (and the fakes around it).

Every other test is a unit of its own, so the last ones spread evenly over the workers.

The groups are made here, from the test's path, because pytest-xdist's ``xdist_group`` marks
no longer reach its scheduler under pytest 9.2 (pytest-dev/pytest-xdist#1386: they are written
into the node id, which pytest now derives from elsewhere).

Which unit a worker gets next matters on two cores. An e2e module mostly waits (for its
server, for calls to ring out): half the workers (rounded up) take e2e modules, longest first,
while the others take the CPU-bound units (the infra unit first); a worker with nothing of its
kind left takes what there is.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScopeScheduling

INFRA = "tests/infra/"
E2E = "tests/e2e/"
# The e2e modules that take longest, longest first (measured); the others follow them.
LONGEST_E2E = (
    "test_carriers",
    "test_controls",
    "test_every_call_ends",
    "test_pacing",
    "test_dialling",
    "test_schemathesis",
    "test_cli",
    "test_hostile",
    "test_policy",
)


def unit_of(nodeid: str) -> str:
    """The unit a test belongs to (see the module's docstring)."""
    path = nodeid.split("::", 1)[0]
    if path.startswith(INFRA):
        return INFRA
    if path.startswith(E2E):
        return path
    return nodeid


def is_e2e(unit: str) -> bool:
    return unit.startswith(E2E)


def queue_order(units: list[str]) -> list[str]:
    """``units`` (in collection order) in the order they are handed out: the e2e modules,
    longest first, then the infra unit, then the single tests."""

    def rank(unit: str) -> int:
        stem = unit.removeprefix(E2E).removesuffix(".py")
        return LONGEST_E2E.index(stem) if stem in LONGEST_E2E else len(LONGEST_E2E)

    e2e = sorted((u for u in units if is_e2e(u)), key=rank)  # stable: collection order next
    infra = [u for u in units if u == INFRA]
    return e2e + infra + [u for u in units if not is_e2e(u) and u != INFRA]


class SharedFixtureScheduling(LoadScopeScheduling):
    """``--dist loadscope`` with the units, the order and the lanes above."""

    def __init__(self, config: Any, log: Any = None) -> None:
        super().__init__(config, log)
        config.option.loadscopereorder = False  # the order is ``queue_order``'s
        self._ordered = False
        self._e2e_unit: dict[Any, str] = {}  # the e2e module each worker was last given

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def _in_e2e(self, node: Any) -> bool:
        unit = self._e2e_unit.get(node)
        return unit is not None and not all(self.assigned_work[node][unit].values())

    def _assign_work_unit(self, node: Any) -> None:
        if not self._ordered:  # the queue is complete before the first unit is handed out
            for unit in reversed(queue_order(list(self.workqueue))):
                self.workqueue.move_to_end(unit, last=False)
            self._ordered = True
        first = next(iter(self.workqueue))
        others_in_e2e = sum(self._in_e2e(n) for n in self.assigned_work if n is not node)
        wants_e2e = self._in_e2e(node) or others_in_e2e < (len(self.nodes) + 1) // 2
        if is_e2e(first) and not wants_e2e:
            cpu_bound = next((u for u in self.workqueue if not is_e2e(u)), None)
            if cpu_bound is not None:
                self.workqueue.move_to_end(cpu_bound, last=False)
                first = cpu_bound
        if is_e2e(first):
            self._e2e_unit[node] = first
        super()._assign_work_unit(node)
