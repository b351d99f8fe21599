"""``Outdial-Dry-Run: true`` on ``POST /outbound/create`` (SPEC §7), through the api handler on
moto: every check runs, the answer is the real one with null ids, and nothing is written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from outdial.adapters import aws
from outdial.models.codes import Code
from outdial.settings import get_settings
from tests.conftest import api_event, call, create_body
from tests.integration.accounts import FULL_BALANCE, balance, set_balance
from tests.integration.create_requests import post
from tests.integration.stored import dial_messages, in_hours, scan, schedules

pytestmark = pytest.mark.usefixtures("configured")
DRY = {"Outdial-Dry-Run": "true"}


def dry(body: dict[str, Any], key: str | None = None) -> tuple[int, dict[str, Any], Any]:
    return post(body, key, **DRY)


def nothing_written() -> None:
    assert scan() == []
    assert dial_messages() == [] and schedules() == []
    assert balance() == FULL_BALANCE


class TestDryRun:
    def test_a_valid_batch_answers_200_with_null_ids_and_writes_nothing(self) -> None:
        body = create_body(
            [
                call(**{"client-identifier": "now"}),
                call(**{"client-identifier": "later", "start-time": in_hours(3).isoformat()}),
            ]
        )
        status, answer, headers = dry(body)
        assert status == 200 and headers["Outdial-Dry-Run"] == "true"
        assert answer == {
            "api-response-code": 200,
            "api-response-message": "Success",
            "request-id": None,
            "call-details": [
                {"client-identifier": "now", "phonon-uuid": None},
                {"client-identifier": "later", "phonon-uuid": None},
            ],
        }
        nothing_written()
        # And the same body sent for real afterwards is accepted (not a checksum repeat)
        status, real, headers = post(body, None)
        assert (status, real["api-response-code"]) == (200, 200) and real["request-id"]
        assert "Outdial-Dry-Run" not in headers

    def test_partial_success_keeps_the_rejected_calls_details(self) -> None:
        body = create_body([call(), call(**{"contact-numbers": ["12"]})])
        status, answer, _ = dry(body)
        assert (status, answer["api-response-code"]) == (200, Code.PARTIAL_SUCCESS.code)
        ok, bad = answer["call-details"]
        assert ok["phonon-uuid"] is None
        assert bad["error-code"] == Code.INVALID_CONTACT_NUMBER.code and "phonon-uuid" not in bad
        nothing_written()

    def test_every_check_runs(self) -> None:
        # Check 5 (auth) and check 13 (per call) answer as they would for real, with the header
        status, answer, headers = dry(create_body(**{"security-id": "x" * 64}))
        assert (status, answer["api-response-code"]) == (401, 202)
        assert headers["Outdial-Dry-Run"] == "true"
        status, answer, _ = dry(create_body([call(**{"contact-numbers": ["12"]})]))
        assert (status, answer["api-response-code"]) == (400, Code.INVALID_CONTACT_NUMBER.code)
        nothing_written()

    def test_the_balance_is_checked_without_reserving(self) -> None:
        set_balance(2)
        three = create_body([call(**{"client-identifier": f"c{i}"}) for i in range(3)])
        status, answer, _ = dry(three)
        assert (status, answer["api-response-code"]) == (402, Code.INSUFFICIENT_BALANCE.code)
        two = create_body([call(**{"client-identifier": f"c{i}"}) for i in range(2)])
        assert dry(two)[0] == 200
        assert dry(two)[0] == 200  # nothing was reserved by the first
        assert post(two, None)[1]["api-response-code"] == 200

    def test_a_would_be_repeat_is_a_201_with_null_ids(self) -> None:
        body = create_body()
        post(body, None)
        status, answer, _ = dry(body)
        assert (status, answer["api-response-code"]) == (409, Code.CHECKSUM_REPEATED.code)
        assert answer["request-id"] is None
        assert answer["call-details"] == [{"client-identifier": "order-1", "phonon-uuid": None}]

    def test_a_dry_run_with_a_key_neither_holds_nor_spends_it(self) -> None:
        body = create_body()
        assert dry(body, "batch-7")[0] == 200
        nothing_written()
        # The real request with that key is processed, and a dry run of it then replays
        _, real, headers = post(body, "batch-7")
        assert "Idempotent-Replayed" not in headers and real["request-id"]
        status, answer, headers = dry(body, "batch-7")
        assert status == 200 and headers["Idempotent-Replayed"] == "true"
        assert answer["request-id"] is None
        # And another body with the key is 603 in a dry run too
        assert dry(create_body([call(**{"client-identifier": "z"})]), "batch-7")[0] == 422

    @pytest.mark.parametrize("value", ["TRUE", "True"])
    def test_the_header_is_case_insensitive(self, value: str) -> None:
        status, answer, _ = post(create_body(), None, **{"Outdial-Dry-Run": value})
        assert status == 200 and answer["request-id"] is None
        nothing_written()

    def test_false_is_a_real_request_and_anything_else_is_refused(self) -> None:
        status, answer, _ = post(create_body(), None, **{"Outdial-Dry-Run": "yes"})
        assert (status, answer["api-response-code"]) == (400, Code.INVALID_FORMAT.code)
        nothing_written()
        status, answer, _ = post(create_body(), None, **{"Outdial-Dry-Run": "false"})
        assert status == 200 and answer["request-id"]


def test_the_header_name_is_matched_in_any_case() -> None:
    from outdial.handlers import api
    from outdial.local.apigateway import LambdaContext

    event = api_event(
        "POST", "/outbound/create", create_body(), headers={"outdial-dry-run": "true"}
    )
    result = api.handler(event, LambdaContext())
    assert json.loads(result["body"])["request-id"] is None
    assert aws.client("dynamodb").scan(TableName=get_settings().calls_table)["Items"] == []
