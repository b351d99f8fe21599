"""Which AWS answers the adapters retry for contention, and how long they wait."""

from __future__ import annotations

from typing import Any

import pytest

from outdial.adapters.aws import CONTENTION_MAX_ATTEMPTS, contention_delay, retry_contention


def answer(code: str, **extra: Any) -> tuple[None, dict[str, Any]]:
    return None, {"Error": {"Code": code}, **extra}


def test_backoff_is_jittered_and_capped() -> None:
    assert contention_delay(3, rng=lambda: 0.0) == 0.0
    assert contention_delay(3, rng=lambda: 1.0) == pytest.approx(0.2)
    assert contention_delay(30, rng=lambda: 1.0) == 2.0


@pytest.mark.parametrize(
    "code", ["TransactionConflictException", "ThrottlingException", "RequestLimitExceeded"]
)
def test_contention_is_retried_until_the_last_attempt(code: str) -> None:
    assert retry_contention(1, answer(code)) is not None
    assert retry_contention(CONTENTION_MAX_ATTEMPTS, answer(code)) is None


@pytest.mark.parametrize(
    ("reasons", "retried"),
    [
        (["TransactionConflict", "None"], True),
        (["None", "ThrottlingError"], True),
        (["ConditionalCheckFailed", "TransactionConflict"], False),
        (["ConditionalCheckFailed", "None"], False),
    ],
)
def test_a_cancelled_transaction_is_retried_only_for_contention(
    reasons: list[str], retried: bool
) -> None:
    cancelled = answer(
        "TransactionCanceledException", CancellationReasons=[{"Code": r} for r in reasons]
    )
    assert (retry_contention(1, cancelled) is not None) is retried


@pytest.mark.parametrize("code", ["ConditionalCheckFailedException", "ValidationException"])
def test_other_errors_are_left_to_botocore(code: str) -> None:
    assert retry_contention(1, answer(code)) is None


def test_success_and_transport_errors_are_left_to_botocore() -> None:
    assert retry_contention(1, None) is None
    assert retry_contention(1, (None, {"ResponseMetadata": {}})) is None
