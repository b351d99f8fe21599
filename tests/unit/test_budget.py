"""The dialer's time budget: what fits in what is left of an invocation."""

from __future__ import annotations

import time

from infra import constants as c
from outdial.logic.budget import MARGIN_SECONDS, STEP_SECONDS, budget, fits, placing_seconds
from outdial.models.config import HttpGateway, SimulatorGateway

HTTP = HttpGateway(
    gateway_id="gw", kind="http", url="https://gw.example/legs", secret_id="outdial/gateways/gw"
)


def test_without_a_budget_everything_fits() -> None:
    assert fits(10_000)


def test_work_fits_only_with_the_margin_kept() -> None:
    with budget(20):
        assert fits(20 - MARGIN_SECONDS - 1)
        assert not fits(20 - MARGIN_SECONDS + 1)
    assert fits(10_000)  # the budget ends with its block


def test_the_budget_runs_down() -> None:
    with budget(MARGIN_SECONDS + 0.3):
        assert fits(0.1)
        time.sleep(0.3)
        assert not fits(0.1)


def test_an_http_leg_may_take_every_retry_and_retry_after() -> None:
    # 4 attempts of connect 3 + read 10 s, and 3 waits of up to 10 s (Retry-After's cap)
    assert placing_seconds(HTTP) == STEP_SECONDS + 4 * 13 + 3 * 10
    assert placing_seconds(SimulatorGateway(gateway_id="sim", kind="simulator")) == STEP_SECONDS


def test_the_dialers_timeout_fits_one_leg_against_a_failing_gateway() -> None:
    assert c.DIALER_TIMEOUT.to_seconds() >= placing_seconds(HTTP) + MARGIN_SECONDS
