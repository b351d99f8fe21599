"""Requests an api invocation left half-done (killed mid-request) are finished or undone by the
sweeper, on moto: no accepted call is left that nothing will dial, no balance is refunded twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from outdial.adapters import aws
from outdial.adapters.calls_store import CallsStore
from outdial.adapters.dial_queue import DialQueue
from outdial.adapters.errors import AdapterError, EnqueueError
from outdial.adapters.scheduler import Scheduler
from outdial.contract import PENDING_SORT_KEY
from outdial.logic.sweep import SweepIncomplete
from outdial.models.codes import Code
from tests.conftest import api_event, call, create_body, invoke
from tests.integration.accounts import FULL_BALANCE, balance
from tests.integration.stored import dial_messages, in_hours, rows, scan, schedules
from tests.integration.sweeping import Killed, age_pending, dies, past_grace, pending, run_sweeper

pytestmark = pytest.mark.usefixtures("configured")


def killed_request(body: dict[str, Any]) -> dict[str, Any]:
    event = api_event("POST", "/outbound/create", body)
    with pytest.raises(Killed):
        invoke(event)
    return event


@contextmanager
def fails_on(
    service: str, operation: str, nth: int | None, error: BaseException | None = None
) -> Iterator[None]:
    """Raise ``error`` (default: kill the invocation) at the ``nth`` ``operation`` request (the
    requests of one step go out concurrently: the nth to start), or at every one (None)."""
    seen = 0

    def hook(**_: Any) -> None:
        nonlocal seen
        seen += 1
        if nth is None or seen == nth:
            raise error or Killed()

    events = aws.client(service).meta.events
    events.register(f"before-call.{service}.{operation}", hook)
    try:
        yield
    finally:
        events.unregister(f"before-call.{service}.{operation}", hook)


def refused(operation: str) -> ClientError:
    """What an AWS service answering no looks like (the request was not carried out)."""
    return ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, operation)


class TestCompletedRequests:
    def test_an_accepted_request_is_not_left_pending(self) -> None:
        # Given a request accepted normally
        _, body = invoke(api_event("POST", "/outbound/create", create_body()))
        assert body["api-response-code"] == Code.SUCCESS.code
        # Then it is not pending dispatch, and the sweeper has nothing to do, however late
        assert pending() == []
        assert len(rows("CHECKSUM#")) == 1
        assert run_sweeper() == {}

    def test_a_request_refused_half_way_is_not_left_pending(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a dial queue that refuses messages, so the request is undone and answered 500
        monkeypatch.setattr(
            DialQueue, "send", lambda *_: (_ for _ in ()).throw(EnqueueError("down"))
        )
        status, _ = invoke(api_event("POST", "/outbound/create", create_body()))
        assert status == 500
        # Then nothing is pending and nothing is left
        assert scan() == []
        assert run_sweeper() == {}
        assert balance() == FULL_BALANCE


class TestKilledAfterWritingCalls:
    """Every item is written: the sweeper enqueues the calls (forward)."""

    calls = [
        call(**{"client-identifier": "now"}),
        call(**{"client-identifier": "later", "start-time": in_hours(2).isoformat()}),
    ]

    def test_killed_before_scheduling_is_finished(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given an invocation killed after writing its calls, before scheduling or queueing any
        monkeypatch.setattr(Scheduler, "create_group", dies)
        event = killed_request(create_body(self.calls))
        monkeypatch.undo()
        assert len(rows("CALL#")) == 2 and schedules() == [] and dial_messages() == []
        ids = {row["client-identifier"]: row["phonon-uuid"] for row in rows("CALL#")}

        # When the sweeper runs within the grace period, Then it leaves the request alone
        assert run_sweeper() == {}
        assert len(pending()) == 1

        # When it runs after the grace period
        age_pending(past_grace())
        assert run_sweeper() == {"forward": 1}

        # Then the due call is queued and the later one has its schedule
        assert [m["call-ids"] for m in dial_messages()] == [[ids["now"]]]
        (schedule,) = schedules()
        assert json.loads(schedule["Target"]["Input"])["call-ids"] == [ids["later"]]
        # And the calls stay accepted, paid once, and no longer pending
        assert {row["status"] for row in rows("CALL#")} == {"QUEUED", "SCHEDULED"}
        assert balance() == FULL_BALANCE - 2
        assert pending() == [] and run_sweeper() == {}
        # And a retry of the same body is told it repeats the request that is now dialling
        _, body = invoke(event)
        assert body["api-response-code"] == Code.CHECKSUM_REPEATED.code
        assert {d["phonon-uuid"] for d in body["call-details"]} == set(ids.values())

    def test_killed_after_scheduling_before_queueing_is_finished(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given an invocation killed after creating its schedule, before queueing the due call
        monkeypatch.setattr(DialQueue, "send", dies)
        killed_request(create_body(self.calls))
        monkeypatch.undo()
        assert len(schedules()) == 1 and dial_messages() == []
        # When the sweeper runs after the grace period
        age_pending(past_grace())
        assert run_sweeper() == {"forward": 1}
        # Then the due call is queued and the schedule is still the one schedule
        assert len(dial_messages()) == 1
        assert len(schedules()) == 1

    def test_a_call_whose_start_time_passed_meanwhile_is_queued(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a killed request whose call was due in 2 hours, swept 3 hours later
        from outdial.logic.enqueue import Services
        from outdial.logic.sweep import sweep

        monkeypatch.setattr(Scheduler, "create_group", dies)
        killed_request(create_body([self.calls[1]]))
        monkeypatch.undo()
        report = sweep(in_hours(3), Services())
        # Then it goes straight to the dial queue rather than to a schedule in the past
        assert dict(report.actions) == {"forward": 1}
        assert len(dial_messages()) == 1 and schedules() == []

    def test_calls_already_dialling_are_not_queued_again(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a killed request whose due call was queued, and dialled, before the kill mark
        # could be cleared
        monkeypatch.setattr(CallsStore, "mark_dispatched", dies)
        killed_request(create_body([self.calls[0]]))
        monkeypatch.undo()
        assert len(dial_messages()) == 1
        (row,) = rows("CALL#")
        CallsStore().update(row["pk"], {"status": "DIALING"})
        # When the sweeper runs after the grace period
        age_pending(past_grace())
        assert run_sweeper() == {"forward": 1}
        # Then nothing is queued again
        assert dial_messages() == []


class TestKilledBeforeWritingEveryCall:
    """Not every item is written: the sweeper undoes the request (back)."""

    def test_killed_before_writing_calls_is_undone(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given an invocation killed after claiming the checksum, before writing any call
        monkeypatch.setattr(CallsStore, "put_items", dies)
        event = killed_request(create_body())
        monkeypatch.undo()
        assert balance() == FULL_BALANCE - 1
        # When the sweeper runs after the grace period
        age_pending(past_grace())
        assert run_sweeper() == {"back": 1}
        # Then nothing is left and the reservation is back
        assert scan() == []
        assert balance() == FULL_BALANCE
        # And a retry of the same body is accepted afresh
        _, body = invoke(event)
        assert body["api-response-code"] == Code.SUCCESS.code

    def test_killed_half_way_through_the_batches_is_undone(self) -> None:
        # Given 60 calls (three batch writes, concurrent), killed at one of them
        calls = [call(**{"client-identifier": f"c{i}"}) for i in range(60)]
        with fails_on("dynamodb", "BatchWriteItem", nth=2):
            killed_request(create_body(calls))
        assert 0 < len(rows("CALL#")) < 60
        # When the sweeper runs after the grace period
        age_pending(past_grace())
        assert run_sweeper() == {"back": 1}
        # Then the written calls are gone too, and the balance is whole
        assert scan() == []
        assert balance() == FULL_BALANCE

    def test_killed_while_undoing_is_undone_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given a refused enqueue whose undo is killed after deleting the calls, before the
        # claim is released and the reservation refunded
        monkeypatch.setattr(
            DialQueue, "send", lambda *_: (_ for _ in ()).throw(EnqueueError("down"))
        )
        monkeypatch.setattr(CallsStore, "release_and_refund", dies)
        killed_request(create_body())
        monkeypatch.undo()
        assert rows("CALL#") == [] and len(pending()) == 1
        # When the sweeper runs after the grace period, twice
        age_pending(past_grace())
        assert run_sweeper() == {"back": 1}
        assert run_sweeper() == {}
        # Then the reservation came back exactly once
        assert balance() == FULL_BALANCE
        assert scan() == []


class TestAcceptanceEdges:
    def test_a_retried_claim_that_had_landed_is_our_own(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a checksum put whose first try landed but whose answer was lost, so the retry
        # finds the claim the first try made
        original = CallsStore.reserve_and_claim

        def lost_answer(self: CallsStore, *args: Any, **kwargs: Any) -> Any:
            assert original(self, *args, **kwargs) is None
            return original(self, *args, **kwargs)

        monkeypatch.setattr(CallsStore, "reserve_and_claim", lost_answer)
        # When the request is made
        _, body = invoke(api_event("POST", "/outbound/create", create_body()))
        # Then it is accepted (not told it repeats itself), charged once, and dialled
        assert body["api-response-code"] == Code.SUCCESS.code
        assert balance() == FULL_BALANCE - 1
        assert len(rows("CALL#")) == 1 and len(dial_messages()) == 1

    def test_a_claim_that_errs_is_refunded_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given a checksum put that lands but answers with an error
        original = CallsStore.reserve_and_claim

        def lands_then_errs(self: CallsStore, *args: Any, **kwargs: Any) -> Any:
            original(self, *args, **kwargs)
            raise AdapterError("timed out")

        monkeypatch.setattr(CallsStore, "reserve_and_claim", lands_then_errs)
        status, _ = invoke(api_event("POST", "/outbound/create", create_body()))
        # Then the client gets 500, the claim is gone and the reservation came back once
        assert status == 500
        assert scan() == [] and balance() == FULL_BALANCE
        assert run_sweeper() == {}

    def test_a_claim_that_fails_is_refunded(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def fails(self: CallsStore, *args: Any, **kwargs: Any) -> Any:
            raise AdapterError("throttled")

        monkeypatch.setattr(CallsStore, "reserve_and_claim", fails)
        status, _ = invoke(api_event("POST", "/outbound/create", create_body()))
        assert status == 500
        assert scan() == [] and balance() == FULL_BALANCE

    def test_a_lost_dispatched_mark_still_answers_200(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given clearing the pending mark fails after the calls were enqueued
        def fails(*_: Any) -> None:
            raise AdapterError("throttled")

        monkeypatch.setattr(CallsStore, "mark_dispatched", fails)
        _, body = invoke(api_event("POST", "/outbound/create", create_body()))
        monkeypatch.undo()
        # Then the client is told the calls are accepted
        assert body["api-response-code"] == Code.SUCCESS.code
        # And the sweeper later clears the mark (queueing the call again, which the dialer
        # takes once: tests/integration/test_dialer_lifecycle.py)
        age_pending(past_grace())
        assert run_sweeper() == {"forward": 1}
        assert pending() == []


def test_recoveries_are_counted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(CallsStore, "put_items", dies)
    killed_request(create_body())
    monkeypatch.undo()
    age_pending(past_grace())
    capsys.readouterr()
    run_sweeper()
    metrics = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    recovered = [m for m in metrics if "DispatchesRecovered" in m]
    assert [(m["DispatchesRecovered"], m["action"]) for m in recovered] == [([1.0], "back")]


def test_one_request_that_cannot_be_settled_does_not_hold_up_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given two killed requests, the older of which cannot be read
    monkeypatch.setattr(CallsStore, "put_items", dies)
    killed_request(create_body([call(**{"client-identifier": "a"})]))
    age_pending(past_grace() + 60)
    killed_request(create_body([call(**{"client-identifier": "b"})]))
    monkeypatch.undo()
    older = min(pending(), key=lambda row: row[PENDING_SORT_KEY])["pk"]
    original_get = CallsStore.get

    def unreadable(self: CallsStore, pk: str) -> Any:
        if pk == older:
            raise AdapterError("unreadable")
        return original_get(self, pk)

    monkeypatch.setattr(CallsStore, "get", unreadable)
    age_pending(past_grace())  # both past the grace now
    # When the sweeper runs
    with pytest.raises(SweepIncomplete) as failed:
        run_sweeper()
    # Then it fails (for the error alarm), having settled the other request, and the unreadable
    # one stays pending, moved to the back: it is not tried again until a grace period on
    assert failed.value.args == ({"failed": 1, "back": 1},)
    (left,) = pending()
    assert left["pk"] == older
    assert left[PENDING_SORT_KEY] >= int(datetime.now(UTC).timestamp()) - 5
    assert run_sweeper() == {}


def test_two_sweepers_settling_one_request_refund_it_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a killed request, and a second sweeper run that read the claim before the first
    # settled it (runs may overlap: the sweeper has no reserved concurrency)
    from outdial.logic.enqueue import Services
    from outdial.logic.sweep import settle

    monkeypatch.setattr(CallsStore, "put_items", dies)
    killed_request(create_body())
    monkeypatch.undo()
    (claim,) = pending()
    original_get = CallsStore.get

    def stale(self: CallsStore, pk: str) -> Any:
        return dict(claim) if pk == claim["pk"] else original_get(self, pk)

    monkeypatch.setattr(CallsStore, "get", stale)
    # When both settle it
    now = datetime.now(UTC)
    assert settle(claim["pk"], now, Services()) == "back"
    assert settle(claim["pk"], now, Services()) is None
    # Then the reservation came back once
    assert balance() == FULL_BALANCE


class TestQueueingFailsPartWay:
    """A dial message may have gone out: the request stands and the sweeper finishes it."""

    # 110 calls due now make 11 dial messages: two SendMessageBatch requests.
    calls = [call(**{"client-identifier": f"c{i}"}) for i in range(110)]

    def test_a_refused_second_batch_leaves_the_request_standing(self) -> None:
        # Given the dial queue takes one batch and refuses the other (sent concurrently)
        event = api_event("POST", "/outbound/create", create_body(self.calls))
        with fails_on("sqs", "SendMessageBatch", nth=2, error=refused("SendMessageBatch")):
            status, body = invoke(event)
        # Then the client gets 500, but nothing is taken back: a dialer may hold those calls
        assert (status, body["api-response-code"]) == (500, Code.FAILURE.code)
        sent = [i for m in dial_messages() for i in m["call-ids"]]
        assert len(sent) in (10, 100)  # the batch of one message, or the batch of ten
        assert len(rows("CALL#")) == 110 and len(pending()) == 1
        assert balance() == FULL_BALANCE - 110
        # And a dialer taking one of the sent calls meanwhile keeps it
        CallsStore().update(f"CALL#{sent[0]}", {"status": "DIALING"})
        # When the sweeper runs after the grace period
        age_pending(past_grace())
        assert run_sweeper() == {"forward": 1}
        # Then every call still waiting is queued (again, for the 99 sent: the dialer takes a
        # call once), the one dialling is left alone, and the request stands
        requeued = {i for m in dial_messages() for i in m["call-ids"]}
        assert len(requeued) == 109 and sent[0] not in requeued  # (requeued: the sent ones too)
        assert pending() == []
        _, retry = invoke(event)
        assert retry["api-response-code"] == Code.CHECKSUM_REPEATED.code

    def test_a_lost_answer_on_the_first_batch_leaves_the_request_standing(self) -> None:
        # Given the first batch's answer never comes (it may have been taken)
        timeout = ReadTimeoutError(endpoint_url="http://127.0.0.1")
        with fails_on("sqs", "SendMessageBatch", nth=1, error=timeout):
            status, _ = invoke(api_event("POST", "/outbound/create", create_body(self.calls)))
        # Then nothing is taken back either
        assert status == 500
        assert len(rows("CALL#")) == 110 and len(pending()) == 1

    def test_refused_batches_take_the_request_back(self) -> None:
        # Given the dial queue refuses every batch: no message went out
        event = api_event("POST", "/outbound/create", create_body(self.calls))
        with fails_on("sqs", "SendMessageBatch", nth=None, error=refused("SendMessageBatch")):
            status, _ = invoke(event)
        # Then the request is taken back whole, and a retry is accepted afresh
        assert status == 500
        assert scan() == [] and balance() == FULL_BALANCE
        _, retry = invoke(event)
        assert retry["api-response-code"] == Code.SUCCESS.code


class TestSettlingIsExact:
    def test_a_call_cancelled_while_pending_is_refunded_once(self) -> None:
        # Given 30 calls killed at one of their two batch writes (25 or 5 written), and a client
        # that learnt an id (a retry is told the request repeats) and cancelled that call
        from outdial.logic.cancel import Cancellations

        event = api_event(
            "POST",
            "/outbound/create",
            create_body([call(**{"client-identifier": f"c{i}"}) for i in range(30)]),
        )
        with fails_on("dynamodb", "BatchWriteItem", nth=2), pytest.raises(Killed):
            invoke(event)
        _, retry = invoke(event)
        assert retry["api-response-code"] == Code.CHECKSUM_REPEATED.code
        written = rows("CALL#")
        assert len(written) in (5, 25)
        Cancellations().cancel("AB12cd34", written[0]["phonon-uuid"])
        assert balance() == FULL_BALANCE - 30 + 1
        # When the sweeper takes the request back
        age_pending(past_grace())
        assert run_sweeper() == {"back": 1}
        # Then the balance is whole: 29 refunded by the sweeper, 1 by the cancel
        assert balance() == FULL_BALANCE
        # And the cancelled call stays as the client left it; the others are gone
        assert [row["status"] for row in rows("CALL#")] == ["CANCELLED"]

    def test_a_stale_sweeper_does_not_release_a_newer_claim(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a killed request taken back by one sweeper run, and the body then sent again and
        # killed too, after writing its call (so its new claim is pending)
        from outdial.logic.enqueue import Services
        from outdial.logic.sweep import settle

        monkeypatch.setattr(CallsStore, "put_items", dies)
        event = killed_request(create_body())
        monkeypatch.undo()
        (old_claim,) = pending()
        now = datetime.now(UTC)
        assert settle(old_claim["pk"], now, Services()) == "back"
        monkeypatch.setattr(DialQueue, "send", dies)
        with pytest.raises(Killed):
            invoke(event)
        monkeypatch.undo()
        (new_claim,) = pending()
        # When an overlapping run, which read the old claim, settles it too
        original_get = CallsStore.get

        def stale(self: CallsStore, pk: str) -> Any:
            return dict(old_claim) if pk == old_claim["pk"] else original_get(self, pk)

        monkeypatch.setattr(CallsStore, "get", stale)
        assert settle(old_claim["pk"], now, Services()) is None
        monkeypatch.undo()
        # Then the new acceptance keeps its pending claim, its call and its charge
        assert pending() == [new_claim]
        assert len(rows("CALL#")) == 1 and balance() == FULL_BALANCE - 1

    def test_a_claim_that_errs_does_not_release_anothers(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a body whose acceptance is still pending (here: killed after writing its call),
        # and its repeat whose checksum put errs
        monkeypatch.setattr(DialQueue, "send", dies)
        event = killed_request(create_body())
        monkeypatch.undo()
        (first,) = pending()

        def errs(self: CallsStore, *args: Any, **kwargs: Any) -> Any:
            raise AdapterError("timed out")

        monkeypatch.setattr(CallsStore, "reserve_and_claim", errs)
        status, _ = invoke(event)
        monkeypatch.undo()
        # Then the repeat gets 500 and its own reservation back, and the first keeps its claim
        assert status == 500
        assert balance() == FULL_BALANCE - 1
        assert pending() == [first]
