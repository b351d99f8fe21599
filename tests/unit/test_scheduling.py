"""How `make test` shares the tests among its workers (tests/scheduling.py)."""

from __future__ import annotations

from pathlib import Path

from tests.scheduling import E2E, INFRA, LONGEST_E2E, queue_order, unit_of

TESTS = Path(__file__).resolve().parents[1]


def test_tests_sharing_a_fixture_share_a_unit() -> None:
    # The infra tests (one synthesized stack) and each e2e module (one `outdial serve`)
    assert unit_of("tests/infra/test_api.py::test_a") == unit_of("tests/infra/test_waf.py::b")
    assert unit_of("tests/e2e/test_cli.py::test_a") == unit_of("tests/e2e/test_cli.py::T::b[1]")
    assert unit_of("tests/e2e/test_cli.py::a") != unit_of("tests/e2e/test_controls.py::a")
    # ... while any other test is a unit of its own
    assert unit_of("tests/unit/test_x.py::a") != unit_of("tests/unit/test_x.py::b")


def test_e2e_modules_come_first_longest_first_then_infra_then_single_tests() -> None:
    units = [
        "tests/chaos/test_chaos.py::a",
        "tests/e2e/test_cli.py",
        "tests/e2e/test_serve.py",
        "tests/e2e/test_carriers.py",
        INFRA,
        "tests/unit/test_x.py::a",
    ]
    assert queue_order(units) == [
        "tests/e2e/test_carriers.py",
        "tests/e2e/test_cli.py",
        "tests/e2e/test_serve.py",
        INFRA,
        "tests/chaos/test_chaos.py::a",
        "tests/unit/test_x.py::a",
    ]


def test_the_longest_e2e_modules_named_exist() -> None:
    modules = {path.stem for path in (TESTS / E2E.removeprefix("tests/")).glob("test_*.py")}
    assert set(LONGEST_E2E) <= modules
