"""``Idempotency-Key`` on ``POST /outbound/create`` (SPEC §7), through the api handler on moto:
replayed answers, 603 for another body, 607 while the first is in flight, races, and a request
killed holding its key."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.adapters.dial_queue import DialQueue
from outdial.adapters.errors import EnqueueError
from outdial.adapters.scheduler import Scheduler
from outdial.logic.accept_calls import Services
from outdial.logic.create_controls import ControlServices, create
from outdial.models.codes import Code
from outdial.models.requests import CreateCallsBody
from outdial.settings import get_settings
from tests.conftest import (
    OTHER_FLOW_ID,
    OTHER_SECURITY_ID,
    api_event,
    call,
    config_document,
    create_body,
    invoke,
)
from tests.integration.accounts import FULL_BALANCE, balance, set_balance
from tests.integration.create_requests import post
from tests.integration.stored import in_hours, rows
from tests.integration.sweeping import Killed, age_pending, dies, past_grace, run_sweeper

pytestmark = pytest.mark.usefixtures("configured")


def expire_leases() -> None:
    """Pretend every key's request started longer ago than the lease."""
    client = aws.client("dynamodb")
    for row in rows("IDEMPOTENCY#"):
        client.update_item(
            TableName=get_settings().calls_table,
            Key={"pk": {"S": row["pk"]}},
            UpdateExpression="SET #lease = :zero",
            ExpressionAttributeNames={"#lease": "lease-until"},
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )


class TestReplay:
    def test_the_same_key_and_body_get_the_first_answer_again(self) -> None:
        # Given a request accepted with a key
        body = create_body()
        status, first, headers = post(body, "order-batch-1")
        assert status == 200 and first["api-response-code"] == Code.SUCCESS.code
        assert "Idempotent-Replayed" not in headers
        # When the client sends it again with the same key
        status, again, headers = post(body, "order-batch-1")
        # Then it gets the very same answer, marked replayed (not a 201 checksum repeat)
        assert status == 200 and again == first
        assert headers["Idempotent-Replayed"] == "true"
        # And the calls exist and were paid for once
        assert len(rows("CALL#")) == 1
        assert balance() == FULL_BALANCE - 1

    def test_the_replay_stands_whatever_checks_8_to_15_say_now(self, apply: Any) -> None:
        # Given an accepted request, after which the flow's gateway is switched off
        body = create_body()
        _, first, _ = post(body, "k-1")
        document = config_document()
        document["gateways"][0]["enabled"] = False
        apply(document)
        assert post(create_body([call(**{"client-identifier": "x"})]), None)[0] == 400
        # When it is sent again with its key, Then the first answer is replayed
        status, again, headers = post(body, "k-1")
        assert (status, again, headers["Idempotent-Replayed"]) == (200, first, "true")

    def test_a_refusal_after_check_7_is_kept_and_replayed(self) -> None:
        # Given an account that cannot pay, and a request refused 212 with a key
        set_balance(0)
        body = create_body()
        status, first, _ = post(body, "poor")
        assert (status, first["api-response-code"]) == (402, Code.INSUFFICIENT_BALANCE.code)
        # When the account is topped up and the same request comes again with the key
        set_balance(10)
        status, again, headers = post(body, "poor")
        # Then the 212 is replayed (the key's first answer stands for 24 h)
        assert (status, again, headers["Idempotent-Replayed"]) == (402, first, "true")
        # And without the key the body is accepted
        assert post(body, None)[1]["api-response-code"] == Code.SUCCESS.code

    def test_a_5xx_is_not_kept_and_the_retry_is_processed(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a dial queue that refuses messages, so the request is undone and answered 500
        monkeypatch.setattr(
            DialQueue, "send", lambda *_: (_ for _ in ()).throw(EnqueueError("down"))
        )
        body = create_body()
        assert post(body, "flaky")[0] == 500
        monkeypatch.undo()
        # When the client retries with the same key, Then it is processed and accepted
        status, answer, headers = post(body, "flaky")
        assert (status, answer["api-response-code"]) == (200, Code.SUCCESS.code)
        assert "Idempotent-Replayed" not in headers
        assert balance() == FULL_BALANCE - 1

    def test_keys_are_per_flow(self) -> None:
        # Given a key used on one flow
        post(create_body(), "shared")
        # When another flow uses the same key with its own body
        other = create_body(**{"flow-id": OTHER_FLOW_ID, "security-id": OTHER_SECURITY_ID})
        other["calls"][0].pop("keys")
        status, answer, headers = post(other, "shared")
        # Then that is a request of its own
        assert (status, answer["api-response-code"]) == (200, Code.SUCCESS.code)
        assert "Idempotent-Replayed" not in headers


class TestRefusals:
    def test_the_same_key_with_another_body_is_603(self) -> None:
        post(create_body(), "k")
        status, answer, _ = post(create_body([call(**{"client-identifier": "other"})]), "k")
        assert (status, answer["api-response-code"]) == (422, 603)
        assert answer["api-response-message"] == "Idempotency Key Reused"
        assert len(rows("CALL#")) == 1

    @pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there", "new\nline"])
    def test_a_malformed_key_is_400(self, key: str) -> None:
        status, answer, _ = post(create_body(), key)
        assert (status, answer["api-response-code"]) == (400, Code.INVALID_FORMAT.code)
        assert "Idempotency-Key" in answer["error-detail"]
        assert rows("CALL#") == []

    @pytest.mark.parametrize("key", ["a", "x" * 255, "order 17/batch:3 ~!"])
    def test_1_to_255_printable_characters_are_a_key(self, key: str) -> None:
        assert post(create_body(), key)[0] == 200

    def test_the_key_is_checked_after_check_7(self) -> None:
        # A caller that is not the flow's owner learns nothing about keys
        body = create_body(**{"security-id": "x" * 64})
        status, answer, _ = post(body, "")
        assert (status, answer["api-response-code"]) == (401, Code.INVALID_SECURITY_ID.code)


def _body(document: dict[str, Any]) -> tuple[CreateCallsBody, bytes]:
    raw = json.dumps(document).encode()
    return CreateCallsBody.model_validate(document), raw


def _create(document: dict[str, Any], key: str, now: datetime | None = None) -> Any:
    body, raw = _body(document)
    return create(
        body,
        raw,
        "127.0.0.1",
        now or datetime.now(UTC),
        ControlServices(accept=Services()),
        idempotency_key=key,
    )


class TestInFlight:
    def test_a_second_request_while_the_first_is_processed_is_607(self) -> None:
        # Given a first request paused just before it reserves the balance (and claims the
        # body's checksum, in the same transaction)
        document = create_body()
        paused, resume = threading.Event(), threading.Event()
        events = aws.client("dynamodb").meta.events

        def pause(params: dict[str, Any], **_: Any) -> None:
            # The reservation is the transaction that writes the account (config table).
            tables = {next(iter(i.values()))["TableName"] for i in params.get("TransactItems", [])}
            if get_settings().config_table in tables:
                paused.set()
                assert resume.wait(10)

        events.register("before-parameter-build.dynamodb.TransactWriteItems", pause)
        results: list[Any] = []
        first = threading.Thread(target=lambda: results.append(_create(document, "race")))
        first.start()
        try:
            assert paused.wait(10)
            events.unregister("before-parameter-build.dynamodb.TransactWriteItems", pause)
            # When the same request arrives meanwhile
            second = _create(document, "race")
        finally:
            resume.set()
            first.join(10)
        # Then it is told the key is in use, and the first one is accepted
        assert (second.code, second.code.http) == (Code.IDEMPOTENCY_KEY_IN_USE, 409)
        assert results[0].code is Code.SUCCESS
        # And afterwards the first answer is replayed
        third = _create(document, "race")
        assert third.body == results[0].body and third.headers == {"Idempotent-Replayed": "true"}

    def test_many_concurrent_requests_with_one_key_make_one_request(self) -> None:
        # Given eight clients sending the same body with the same key at once
        document = create_body([call(**{"client-identifier": f"c{i}"}) for i in range(3)])
        start = threading.Barrier(8)
        replies: list[Any] = []
        lock = threading.Lock()

        def client() -> None:
            start.wait(10)
            reply = _create(document, "burst")
            with lock:
                replies.append(reply)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        # Then exactly one was processed, every other got 607 or the replay of its answer
        processed = [r for r in replies if r.code is Code.SUCCESS and not r.headers]
        assert len(processed) == 1
        for reply in replies:
            if reply is processed[0]:
                continue
            assert reply.code is Code.IDEMPOTENCY_KEY_IN_USE or (
                reply.body == processed[0].body and reply.headers["Idempotent-Replayed"] == "true"
            )
        # And three calls exist, paid for once
        assert len(rows("CALL#")) == 3
        assert balance() == FULL_BALANCE - 3


class TestKilledHoldingTheKey:
    def _killed(self, monkeypatch: pytest.MonkeyPatch, where: str) -> dict[str, Any]:
        target = Scheduler if where == "schedule" else DialQueue
        monkeypatch.setattr(target, "create" if where == "schedule" else "send", dies)
        body = create_body(
            [
                call(**{"client-identifier": "now"}),
                call(**{"client-identifier": "later", "start-time": in_hours(2).isoformat()}),
            ]
        )
        event = api_event("POST", "/outbound/create", body, headers={"Idempotency-Key": "dead"})
        with pytest.raises(Killed):
            invoke(event)
        monkeypatch.undo()
        return body

    def test_a_retry_within_the_lease_is_607(self, monkeypatch: pytest.MonkeyPatch) -> None:
        body = self._killed(monkeypatch, "queue")
        status, answer, _ = post(body, "dead")
        assert (status, answer["api-response-code"]) == (409, 607)

    def test_a_retry_after_the_lease_waits_for_the_sweeper_then_gets_the_acceptance(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a request killed after writing its calls, holding its key
        body = self._killed(monkeypatch, "queue")
        ids = {row["phonon-uuid"] for row in rows("CALL#")}
        # When its lease has run out but the sweeper has not settled it yet
        expire_leases()
        status, answer, _ = post(body, "dead")
        # Then a retry is still told 607 (nothing is accepted twice, nothing told 201)
        assert (status, answer["api-response-code"]) == (409, 607)
        # When the sweeper finishes the request
        age_pending(past_grace())
        assert run_sweeper() == {"forward": 1}
        # Then the retry gets the original acceptance, replayed: 200 with its ids
        status, answer, headers = post(body, "dead")
        assert (status, answer["api-response-code"]) == (200, 200)
        assert headers["Idempotent-Replayed"] == "true"
        assert {d["phonon-uuid"] for d in answer["call-details"]} == ids
        # And so does the next one, from the key's record
        assert post(body, "dead")[1] == answer
        assert balance() == FULL_BALANCE - 2

    def test_a_request_the_sweeper_undid_is_processed_afresh(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a request killed before it wrote its calls, holding its key
        from outdial.adapters.calls_store import CallsStore

        monkeypatch.setattr(CallsStore, "put_items", dies)
        body = create_body()
        event = api_event("POST", "/outbound/create", body, headers={"Idempotency-Key": "gone"})
        with pytest.raises(Killed):
            invoke(event)
        monkeypatch.undo()
        # When the sweeper rolls it back and the lease runs out
        age_pending(past_grace())
        assert run_sweeper() == {"back": 1}
        expire_leases()
        # Then the retry with the key is accepted as a new request
        status, answer, headers = post(body, "gone")
        assert (status, answer["api-response-code"]) == (200, 200)
        assert "Idempotent-Replayed" not in headers
        assert balance() == FULL_BALANCE - 1

    def test_a_request_killed_before_it_claimed_anything_frees_its_key_with_the_lease(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Given a request killed holding its key, before it claimed the body's checksum
        from outdial.adapters.calls_store import CallsStore

        monkeypatch.setattr(CallsStore, "reserve_and_claim", dies)
        body = create_body()
        event = api_event("POST", "/outbound/create", body, headers={"Idempotency-Key": "early"})
        with pytest.raises(Killed):
            invoke(event)
        monkeypatch.undo()
        # When a retry comes within the lease, Then the key is in use
        assert post(body, "early")[1]["api-response-code"] == 607
        # When the lease has run out, Then the retry is processed, no sweeper needed
        expire_leases()
        status, answer, headers = post(body, "early")
        assert (status, answer["api-response-code"]) == (200, 200)
        assert "Idempotent-Replayed" not in headers
        assert len(rows("CALL#")) == 1
