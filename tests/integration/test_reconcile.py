"""Every call ends (SPEC §11), on moto: leg deadlines, the reconciler, unknown placement, and
the redelivered message that moves a stalled call on. Simulator digits 5 and 6 (SPEC §8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from outdial.adapters.dial_queue import dial_message
from outdial.adapters.gateways import LegEvent, LegOutcome
from outdial.logic.reconcile import reconcile
from tests.integration.accounts import balance
from tests.integration.dialing import Harness, accept, status_of, webhook_messages

pytestmark = pytest.mark.usefixtures("configured")


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Harness:
    return Harness().install(monkeypatch)


def later(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def run_reconciler(harness: Harness, at: datetime) -> dict[str, int]:
    assert harness.dialer is not None
    return dict(reconcile(at, harness.dialer))


def outcomes(phonon_uuid: str) -> list[str]:
    return [leg["outcome"] for leg in status_of(phonon_uuid)["attempts"][0]["legs"]]


class TestSilentGateway:
    def test_a_leg_never_reported_ends_unknown_at_its_deadline(self, harness: Harness) -> None:
        # Given a call whose first number the gateway takes and never reports (digit 6)
        phonon_uuid = accept("9812345676", "9812345670")
        harness.settle()
        # Then it waits, DIALING, its money held, the next number not dialled
        assert status_of(phonon_uuid)["status"] == "DIALING"
        assert harness.placed_numbers() == ["+919812345676"]
        assert balance() == 999
        # And the reconciler leaves it alone before its deadline (ring 0 + 3600 + 120 s)
        assert run_reconciler(harness, later(seconds=3000)) == {}
        # When the deadline has passed
        assert run_reconciler(harness, later(seconds=3800)) == {"unknown": 1}
        # Then the leg is UNKNOWN, the call FAILED 206, refunded, reported once
        view = status_of(phonon_uuid)
        assert (view["status"], view["error-code"]) == ("FAILED", 206)
        assert outcomes(phonon_uuid) == ["UNKNOWN"]
        assert harness.placed_numbers() == ["+919812345676"]
        assert balance() == 1000
        assert webhook_messages() == [
            {"phonon-uuid": phonon_uuid, "event-id": f"{phonon_uuid}:FAILED"}
        ]
        # And it has left the index: a later run finds nothing
        assert run_reconciler(harness, later(days=1)) == {}

    def test_a_late_event_after_the_verdict_changes_nothing(self, harness: Harness) -> None:
        phonon_uuid = accept("9812345676")
        harness.settle()
        run_reconciler(harness, later(hours=2))
        # When an outcome for the leg arrives after all
        now = datetime.now(UTC)
        assert harness.dialer is not None
        harness.dialer.apply_event(
            LegEvent("sim", f"{phonon_uuid}-a1-n0", LegOutcome.ANSWERED, 5, now, now, "late")
        )
        # Then the call stays FAILED and refunded
        assert status_of(phonon_uuid)["status"] == "FAILED"
        assert balance() == 1000

    def test_an_overdue_leg_the_gateway_knows_takes_its_outcome(self, harness: Harness) -> None:
        # Given a busy number whose event was lost
        phonon_uuid = accept("9812345677")
        harness.drain_queue()
        harness.events.clear()
        # When overdue, Then the simulator's answer (BUSY) ends it as the event would have: the
        # flow's second attempt is scheduled
        assert run_reconciler(harness, later(hours=2)) == {"reported": 1}
        assert status_of(phonon_uuid)["status"] == "SCHEDULED"
        assert outcomes(phonon_uuid) == ["BUSY"]


class TestUnknownPlacement:
    def test_a_timed_out_placement_that_is_answered_completes(self, harness: Harness) -> None:
        # Given a first number whose placing request times out, yet rings and is answered (5)
        phonon_uuid = accept("9812345675", "9812345670")
        harness.drain_queue()
        # Then while its outcome is unknown the next number is not dialled
        assert status_of(phonon_uuid)["status"] == "DIALING"
        assert harness.placed_numbers() == ["+919812345675"]
        harness.deliver(dial_message([phonon_uuid]))  # nor on a redelivery
        assert harness.placed_numbers() == ["+919812345675"]
        # When its outcome arrives
        harness.settle()
        # Then the call COMPLETED on that number; no later number was dialled; charged
        view = status_of(phonon_uuid)
        assert (view["status"], view["connected-number"]) == ("COMPLETED", "+919812345675")
        assert harness.placed_numbers() == ["+919812345675"]
        assert balance() == 999


class TestStalledCalls:
    def test_a_dialer_that_died_applying_an_outcome_left_nothing_half_done(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a busy leg whose dialer died while applying its outcome, before its write (the
        # leg's end and the call's move are that one write)
        phonon_uuid = accept("9812345677", "9812345670")
        harness.drain_queue()
        bodies = _events_dying_in(harness, monkeypatch, "advance")
        assert status_of(phonon_uuid)["status"] == "DIALING"
        assert outcomes(phonon_uuid) == [None]  # the leg is not ended
        # When the event's message is redelivered
        harness.deliver(*bodies)
        harness.settle()
        # Then the call moved on to its second number and completed
        assert harness.placed_numbers() == ["+919812345677", "+919812345670"]
        assert status_of(phonon_uuid)["status"] == "COMPLETED"

    def test_the_reconciler_ends_a_leg_whose_outcome_was_never_applied(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        phonon_uuid = accept("9812345678")
        harness.drain_queue()
        _events_dying_in(harness, monkeypatch, "advance")
        # When no message comes back at all, Then the reconciler asks the gateway past the
        # deadline and applies its answer (no answer): the second attempt is scheduled
        assert run_reconciler(harness, later(hours=2)) == {"reported": 1}
        assert status_of(phonon_uuid)["status"] == "SCHEDULED"
        assert outcomes(phonon_uuid) == ["NO_ANSWER"]
        assert run_reconciler(harness, later(days=1)) == {}

    def test_a_call_taken_by_a_dialer_that_died_is_dialled(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a call a dialer moved to DIALING, its leg claimed, and died before placing it
        phonon_uuid = accept("9812345670")
        assert harness.dialer is not None
        dial_current_leg = harness.dialer._dial_current_leg
        monkeypatch.setattr(harness.dialer, "_dial_current_leg", _crash)
        with pytest.raises(BatchProcessingError):
            harness.drain_queue()
        monkeypatch.setattr(harness.dialer, "_dial_current_leg", dial_current_leg)
        assert status_of(phonon_uuid)["status"] == "DIALING"
        assert harness.placed == []
        # When its message is lost but a few minutes pass, Then the reconciler dials it
        assert run_reconciler(harness, later(minutes=1)) == {}
        monkeypatch.setattr(harness.dialer, "clock", lambda: later(minutes=6))
        assert run_reconciler(harness, later(minutes=6)) == {"dialled": 1}
        harness.settle()
        assert status_of(phonon_uuid)["status"] == "COMPLETED"
        assert harness.placed_numbers() == ["+919812345670"]

    def test_a_call_moved_on_by_a_dialer_that_died_dials_its_next_number(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a busy first number whose outcome moved the call on to its second, claimed by
        # the same write, and a dialer that died before placing it
        phonon_uuid = accept("9812345677", "9812345670")
        harness.drain_queue()
        bodies = _events_dying_in(harness, monkeypatch, "_dial_current_leg")
        # When the event's message comes back, Then it changes nothing (the claim is fresh)
        harness.deliver(*bodies)
        assert outcomes(phonon_uuid) == ["BUSY", None]
        assert harness.placed_numbers() == ["+919812345677"]
        # When minutes pass, Then the reconciler dials the second number, once
        monkeypatch.setattr(harness.dialer, "clock", lambda: later(minutes=6))
        assert run_reconciler(harness, later(minutes=6)) == {"dialled": 1}
        harness.settle()
        assert status_of(phonon_uuid)["status"] == "COMPLETED"
        assert harness.placed_numbers() == ["+919812345677", "+919812345670"]


def _crash(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("the dialer died here")


def _events_dying_in(harness: Harness, monkeypatch: pytest.MonkeyPatch, step: str) -> list[str]:
    """Deliver the gateway's pending events to a dialer that dies in its ``step``; the
    messages, which SQS will deliver again."""
    assert harness.dialer is not None
    alive = getattr(harness.dialer, step)
    monkeypatch.setattr(harness.dialer, step, _crash)
    bodies = _event_bodies(harness)
    with pytest.raises(BatchProcessingError):
        harness.deliver(*bodies)
    monkeypatch.setattr(harness.dialer, step, alive)
    return bodies


def _event_bodies(harness: Harness) -> list[str]:
    from outdial.adapters.dial_queue import event_message

    pending, harness.events[:] = list(harness.events), []
    return [event_message(event.gateway_id, event.to_dict()) for event in pending]


class TestTimeBudget:
    def test_calls_that_would_not_fit_go_back_on_the_queue(self, harness: Harness) -> None:
        from outdial.handlers import dialer as dialer_handler
        from outdial.local.apigateway import LambdaContext
        from tests.conftest import sqs_event

        # Given two due calls (their acceptance's own message set aside)
        first, second = accept("9812345672"), accept("9812345673")
        purge_dial_queue()
        # When one message holding both reaches an invocation with 6 s left (under the margin
        # and one step)
        context = LambdaContext(timeout_seconds=6)
        response = dialer_handler.handler(sqs_event([dial_message([first, second])]), context)
        # Then nothing was dialled, the message succeeded, and both calls are back on the queue
        assert response["batchItemFailures"] == []
        assert harness.placed == []
        harness.settle()
        assert status_of(first)["status"] == status_of(second)["status"] == "COMPLETED"
        # (each once; a group's calls are dialled together, so in either order)
        assert sorted(harness.placed_numbers()) == ["+919812345672", "+919812345673"]


def purge_dial_queue() -> None:
    from outdial.adapters import aws
    from outdial.settings import get_settings

    sqs, url = aws.client("sqs"), get_settings().dial_queue_url
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
