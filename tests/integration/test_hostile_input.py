"""Hostile input through the api handler on moto: every one gets a 4xx with a contract code,
and nothing is reserved or written for it (SPEC §12)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from outdial.adapters import aws
from outdial.adapters.config_store import ConfigStore
from outdial.models.codes import Code
from outdial.settings import get_settings
from tests.conftest import FLOW_ID, SECURITY_ID, api_event, call, create_body, invoke

pytestmark = pytest.mark.usefixtures("configured")
IST = ZoneInfo("Asia/Kolkata")


def post(body: Any = None, *, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
    return invoke(api_event("POST", "/outbound/create", body, raw=raw))


def balance() -> Decimal:
    found = ConfigStore().get_balance("acme")
    assert found is not None
    return found


def calls_table_items() -> int:
    return int(aws.client("dynamodb").scan(TableName=get_settings().calls_table)["Count"])


def assert_code(result: tuple[int, dict[str, Any]], code: Code) -> dict[str, Any]:
    status, body = result
    assert (status, body["api-response-code"]) == (code.http, code.code), body
    assert body["api-response-message"] == code.message
    return body


def assert_nothing_kept() -> None:
    assert balance() == Decimal(1000)
    assert calls_table_items() == 0


class TestBodies:
    def test_deep_nesting_is_invalid_format(self) -> None:
        # Given 100,000 '[' (the parser recursed until RecursionError: a 500)
        assert_code(post(raw=b"[" * 100_000), Code.INVALID_FORMAT)

    def test_nesting_past_the_limit_inside_a_call_is_invalid_format(self) -> None:
        deep: Any = "x"
        for _ in range(40):
            deep = [deep]
        assert_code(post(create_body([call(extra=deep)])), Code.INVALID_FORMAT)
        assert_nothing_kept()

    def test_a_lone_surrogate_in_the_security_id_is_invalid_format(self) -> None:
        # Given a valid flow-id and a security-id holding "\ud800" (UnicodeEncodeError: a 500)
        raw = json.dumps(create_body(**{"security-id": "\ud800"})).encode()
        assert b"\\ud800" in raw
        assert_code(post(raw=raw), Code.INVALID_FORMAT)

    @pytest.mark.parametrize("where", ["client-identifier", "key"])
    def test_a_lone_surrogate_anywhere_is_invalid_format(self, where: str) -> None:
        one = (
            call(**{"client-identifier": "a\udfffb"})
            if where == "client-identifier"
            else call(keys=[{"name": "$flow.key.name", "value": "\ud83d"}])
        )
        assert_code(post(raw=json.dumps(create_body([one])).encode()), Code.INVALID_FORMAT)
        assert_nothing_kept()

    @pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
    def test_numbers_json_cannot_carry_are_invalid_format(self, number: bytes) -> None:
        raw = b'{"api-version": "1.0", "flow-id": "AB12cd34", "x": ' + number + b"}"
        assert_code(post(raw=raw), Code.INVALID_FORMAT)

    def test_a_huge_integer_is_invalid_format(self) -> None:
        raw = b'{"api-version": ' + b"9" * 5000 + b"}"
        assert_code(post(raw=raw), Code.INVALID_FORMAT)


class TestStartTimes:
    @pytest.mark.parametrize(
        "start",
        [
            "9999-12-31T23:00-05:00",  # past year 9999 in UTC: OverflowError, a 500
            "0001-01-01T00:00+14:00",
            "0001-01-01T03:00+05:31",
        ],
    )
    def test_out_of_range_is_a_per_call_400(self, start: str) -> None:
        body = assert_code(post(create_body([call(**{"start-time": start})])), Code.INVALID_FORMAT)
        [detail] = body["call-details"]
        assert detail["error-code"] == 400 and "phonon-uuid" not in detail
        assert_nothing_kept()

    def test_year_9999_reserves_nothing_and_a_repeat_is_not_a_repeat(self) -> None:
        # Given a start-time that answered 500 after reserving and claiming the checksum
        body = create_body([call(**{"start-time": "9999-12-31T10:00+05:30"})])
        assert_code(post(body), Code.INVALID_FORMAT)
        assert_nothing_kept()
        # When the same body comes again, Then the same per-call answer (not 201)
        assert_code(post(body), Code.INVALID_FORMAT)

    def test_a_century_ahead_is_refused(self) -> None:
        assert_code(
            post(create_body([call(**{"start-time": "2150-01-01T10:00:00+05:30"})])),
            Code.INVALID_FORMAT,
        )
        assert_nothing_kept()

    def test_ninety_days_ahead_is_the_limit(self) -> None:
        today = datetime.now(UTC).astimezone(IST).date()
        last, first_too_far = today + timedelta(days=90), today + timedelta(days=91)
        body = create_body(
            [
                call(**{"client-identifier": "ok", "start-time": f"{last}T12:00:00+05:30"}),
                call(**{"client-identifier": "far", "start-time": f"{first_too_far}T00:30:00"}),
            ]
        )
        status, answer = post(body)
        assert (status, answer["api-response-code"]) == (200, Code.PARTIAL_SUCCESS.code)
        ok, far = answer["call-details"]
        assert "phonon-uuid" in ok
        assert far["error-code"] == 400 and "90 days" in far["error-detail"]
        assert balance() == Decimal(999)


class TestKeys:
    def test_a_450_kb_key_value_rejects_that_call_only(self) -> None:
        # Given one call whose key value alone is past DynamoDB's 400 KB item limit (a 500)
        huge = call(
            **{"client-identifier": "huge"},
            keys=[{"name": "$flow.key.name", "value": "v" * 450_000}],
        )
        status, body = post(create_body([huge, call()]))
        # Then that call is refused, the other accepted
        assert (status, body["api-response-code"]) == (200, Code.PARTIAL_SUCCESS.code)
        assert body["call-details"][0]["error-code"] == 400
        assert "1024" in body["call-details"][0]["error-detail"]
        assert balance() == Decimal(999)

    def test_a_value_of_1024_characters_is_accepted(self) -> None:
        one = call(keys=[{"name": "$flow.key.name", "value": "é" * 1024}])
        assert_code(post(create_body([one])), Code.SUCCESS)

    def test_keys_over_8_kib_in_all_are_refused(self) -> None:
        keys = [{"name": "$flow.key.name", "value": "n"}] + [
            {"name": f"$flow.key.k{i}", "value": "v" * 1000} for i in range(9)
        ]
        body = assert_code(post(create_body([call(keys=keys)])), Code.INVALID_FORMAT)
        assert "8 KiB" in body["call-details"][0]["error-detail"]
        assert_nothing_kept()


class TestOtherRoutes:
    @pytest.mark.parametrize(
        "path",
        [
            "/outbound/calls/" + "x" * 3000,
            "/outbound/calls/%ED%A0%80",
            "/outbound/requests/" + "9" * 3000,
        ],
    )
    def test_odd_ids_in_paths_are_no_data(self, path: str) -> None:
        headers = {"x-flow-id": FLOW_ID, "x-security-id": SECURITY_ID}
        assert_code(invoke(api_event("GET", path, headers=headers)), Code.NO_DATA_AVAILABLE)

    def test_odd_uuids_in_a_pull_are_no_data(self) -> None:
        body = {
            "security-id": SECURITY_ID,
            "flow-id": FLOW_ID,
            "phonon-uuids": ["x" * 5000, 10**30, None, {"a": 1}],
        }
        assert_code(invoke(api_event("POST", "/outbound/pull", body)), Code.NO_DATA_AVAILABLE)

    def test_a_deep_pull_body_is_invalid_format(self) -> None:
        raw = b'{"phonon-uuids": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
        assert_code(invoke(api_event("POST", "/outbound/pull", raw=raw)), Code.INVALID_FORMAT)

    def test_odd_header_credentials_are_refused(self) -> None:
        headers = {"x-flow-id": FLOW_ID, "x-security-id": "\ud800" * 10}
        path = "/outbound/calls/501c78ee-8d06-498e-8952-fce3495f326b"
        assert_code(invoke(api_event("GET", path, headers=headers)), Code.INVALID_SECURITY_ID)


def test_a_start_time_of_a_century_ahead_holds_no_reservation() -> None:
    # The reproduction as the customer saw it: accepted, and its cost held for a century.
    far = (datetime.now(UTC) + timedelta(days=365 * 124)).isoformat()
    assert_code(post(create_body([call(**{"start-time": far})])), Code.INVALID_FORMAT)
    assert balance() == Decimal(1000)
