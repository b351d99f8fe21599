"""Contention that moto never shows, injected through botocore's hooks: DynamoDB transaction
conflicts and throttling are retried with jittered backoff, so money stays exact and the api
answers instead of failing (SPEC §11)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.aws import CONTENTION_MAX_ATTEMPTS
from outdial.adapters.balances import Balances
from outdial.adapters.calls_store import CallsStore, call_pk
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.errors import AdapterError
from tests.conftest import api_event, create_body, invoke
from tests.fakes.aws import Faults, aws_error

pytestmark = pytest.mark.usefixtures("configured")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff delays are computed but not slept (botocore sleeps what the hook returns)."""
    monkeypatch.setattr("outdial.adapters.aws._BACKOFF_BASE_SECONDS", 0.0)


def first(n: int, operation: str, answer: Any) -> Any:
    """A plan failing the first ``n`` calls of ``operation`` with ``answer()``."""
    left = {"n": n}

    def plan(name: str) -> Any:
        if name == operation and left["n"] > 0:
            left["n"] -= 1
            return answer()
        return None

    return plan


def conflict_cancellation() -> Any:
    return aws_error(
        "TransactionCanceledException",
        CancellationReasons=[{"Code": "TransactionConflict"}, {"Code": "None"}],
    )


def dialing_call(phonon_uuid: str = "c1") -> None:
    CallsStore().put_items([{"pk": call_pk(phonon_uuid), "status": "DIALING", "cost": 1}])


def finish(phonon_uuid: str = "c1") -> bool:
    return CallsStore().finish_and_refund(
        call_pk(phonon_uuid),
        {"status": "FAILED"},
        condition="#status = :dialing",
        condition_values={":dialing": "DIALING"},
        account_id="acme",
        refund=Decimal(1),
    )


def test_a_conflicting_refund_is_retried_and_lands_once() -> None:
    # Given a call whose refund transaction conflicts three times with others on the account
    dialing_call()
    with Faults(aws.client("dynamodb"), first(3, "TransactWriteItems", conflict_cancellation)) as f:
        # When it is finished, Then it lands, exactly once
        assert finish()
    assert f.injected == ["TransactWriteItems"] * 3
    assert ConfigStore().get_balance("acme") == 1001


@pytest.mark.parametrize(
    "code",
    [
        "TransactionConflictException",
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
    ],
)
def test_contended_single_writes_are_retried(code: str) -> None:
    with Faults(aws.client("dynamodb"), first(5, "UpdateItem", lambda: aws_error(code))) as f:
        CallsStore().refund("acme", Decimal(3), "CALL#c1")
    assert len(f.injected) == 5
    assert ConfigStore().get_balance("acme") == 1003


@pytest.mark.parametrize("amount", [-3, 3])
def test_a_contended_balance_add_is_retried_and_lands_once(amount: int) -> None:
    throttled = first(5, "TransactWriteItems", lambda: aws_error("ThrottlingException"))
    with Faults(aws.client("dynamodb"), throttled) as f:
        assert Balances().add("acme", Decimal(amount)) == 1000 + amount
    assert len(f.injected) == 5
    assert ConfigStore().get_balance("acme") == 1000 + amount


def test_a_lost_condition_is_not_retried() -> None:
    # Given a call another dialer already ended / When finishing it again
    dialing_call()
    assert finish()
    with Faults(aws.client("dynamodb"), lambda _: None) as f:
        assert not finish()
    # Then one attempt, False, and no second refund
    assert f.injected == []
    assert ConfigStore().get_balance("acme") == 1001


def test_contention_that_never_ends_is_an_error_after_the_last_attempt() -> None:
    dialing_call()
    faults = Faults(aws.client("dynamodb"), lambda op: conflict_cancellation())
    with faults as f, pytest.raises(AdapterError):
        finish()
    assert len(f.injected) == CONTENTION_MAX_ATTEMPTS
    assert ConfigStore().get_balance("acme") == 1000


def test_create_answers_despite_conflicts_on_the_balance() -> None:
    # Given the account's balance contended by other requests (its reservation conflicts)
    plan = first(4, "TransactWriteItems", conflict_cancellation)
    with Faults(aws.client("dynamodb"), plan):
        status, body = invoke(api_event("POST", "/outbound/create", create_body()))
    # Then the request is accepted (not a 500) and reserved once
    assert (status, body["api-response-code"]) == (200, 200)
    assert ConfigStore().get_balance("acme") == 999
