"""Every check of SPEC §2 through the api handler on moto: each code, its HTTP status, the order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from outdial.models.codes import Code
from tests.conftest import (
    FLOW_ID,
    OTHER_SECURITY_ID,
    SECURITY_ID,
    api_event,
    call,
    create_body,
    invoke,
)

pytestmark = pytest.mark.usefixtures("configured")


def post(body: Any = None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    return invoke(api_event("POST", "/outbound/create", body, **kwargs))


def assert_code(result: tuple[int, dict[str, Any]], code: Code) -> dict[str, Any]:
    status, body = result
    assert (body["api-response-code"], body["api-response-message"]) == (code.code, code.message)
    assert status == code.http
    return body


class TestCheck1Format:
    @pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"", b"\xff\xfe"])
    def test_not_a_json_object(self, raw: bytes) -> None:
        assert_code(post(raw=raw), Code.INVALID_FORMAT)

    def test_over_one_mebibyte(self) -> None:
        body = create_body(padding="x" * (1024 * 1024))
        assert_code(post(body), Code.INVALID_FORMAT)

    @pytest.mark.parametrize(
        "field,value",
        [
            ("api-version", 1.0),
            ("security-id", 5),
            ("flow-id", ["AB12cd34"]),
            ("calls", {"a": 1}),
            ("calls", ""),
        ],
    )
    def test_top_level_field_of_the_wrong_type(self, field: str, value: Any) -> None:
        assert_code(post(create_body(**{field: value})), Code.INVALID_FORMAT)

    def test_format_beats_missing_fields(self) -> None:
        assert_code(post({"api-version": 1, "calls": None}), Code.INVALID_FORMAT)


class TestCheck2Mandatory:
    # An empty string where `calls` (a list) belongs is a wrong type: check 1, tested above.
    @pytest.mark.parametrize(
        "field,value",
        [
            (field, value)
            for field in ("api-version", "security-id", "flow-id", "calls")
            for value in (..., None, "")
            if (field, value) != ("calls", "")
        ],
    )
    def test_missing_null_or_empty(self, field: str, value: Any) -> None:
        body = assert_code(post(create_body(**{field: value})), Code.INVALID_MANDATORY_PARAMETERS)
        assert field in body["error-detail"]


def test_check3_api_version() -> None:
    assert_code(post(create_body(**{"api-version": "2.0"})), Code.INVALID_API_VERSION)


@pytest.mark.parametrize("flow_id", ["NOPE1234", "short", "AB12cd34x"])
def test_check4_unknown_flow(flow_id: str) -> None:
    assert_code(post(create_body(**{"flow-id": flow_id})), Code.INVALID_FLOW_ID)


def test_check5_wrong_security_id() -> None:
    # Given another flow's (valid) secret
    assert_code(post(create_body(**{"security-id": OTHER_SECURITY_ID})), Code.INVALID_SECURITY_ID)


class TestCheck6IpWhitelist:
    def test_outside_the_whitelist(self) -> None:
        assert_code(post(create_body(), source_ip="10.1.2.3"), Code.IP_NOT_WHITELISTED)

    def test_ipv6_inside(self) -> None:
        assert_code(post(create_body(), source_ip="::1"), Code.SUCCESS)

    def test_empty_whitelist_admits_nobody(self, apply: Any, config_doc: dict[str, Any]) -> None:
        config_doc["accounts"][0]["ip-whitelist"] = []
        apply(config_doc)
        assert_code(post(create_body()), Code.IP_NOT_WHITELISTED)


class TestCheck7Validity:
    @pytest.mark.parametrize("section", ["accounts", "flows"])
    def test_past_valid_until(self, section: str, apply: Any, config_doc: dict[str, Any]) -> None:
        config_doc[section][0]["valid-until"] = "2020-01-01T00:00:00Z"
        apply(config_doc)
        assert_code(post(create_body()), Code.VALIDITY_EXPIRED)


def test_check8_flow_not_published_for_version(apply: Any, config_doc: dict[str, Any]) -> None:
    config_doc["flows"][0]["versions"] = ["TEST"]
    apply(config_doc)
    assert_code(post(create_body()), Code.INVALID_FLOW_VERSION)


class TestCheck9Gateway:
    def test_disabled(self, apply: Any, config_doc: dict[str, Any]) -> None:
        config_doc["gateways"][0]["enabled"] = False
        apply(config_doc)
        assert_code(post(create_body()), Code.INVALID_GATEWAY_ID)

    def test_absent(self, apply: Any, config_doc: dict[str, Any]) -> None:
        config_doc["flows"][0]["gateway-id"] = "nowhere"
        apply(config_doc)
        assert_code(post(create_body()), Code.INVALID_GATEWAY_ID)


class TestCheck10Dids:
    def test_no_dids(self, apply: Any, config_doc: dict[str, Any]) -> None:
        config_doc["flows"][0]["dids"] = []
        apply(config_doc)
        assert_code(post(create_body()), Code.DID_NOT_MAPPED)

    def test_none_enabled(self, apply: Any, config_doc: dict[str, Any]) -> None:
        config_doc["flows"][0]["dids"][0]["enabled"] = False
        apply(config_doc)
        assert_code(post(create_body()), Code.NO_MASK_AVAILABLE)


class TestCheck11Size:
    def test_empty(self) -> None:
        assert_code(post(create_body([])), Code.EMPTY_CALL_LIST)

    def test_over_500(self) -> None:
        assert_code(post(create_body([call()] * 501)), Code.MAX_DATA_LIST_SIZE_EXCEEDED)

    def test_exactly_500_is_fine(self) -> None:
        calls = [call(**{"client-identifier": f"c{i}"}) for i in range(500)]
        body = assert_code(post(create_body(calls)), Code.SUCCESS)
        assert len(body["call-details"]) == 500


class TestCheck12Checksum:
    def test_same_bytes_again(self) -> None:
        event = api_event("POST", "/outbound/create", create_body())
        first = assert_code(invoke(event), Code.SUCCESS)
        again = assert_code(invoke(event), Code.CHECKSUM_REPEATED)
        assert again["request-id"] == first["request-id"]
        assert again["call-details"] == first["call-details"]

    def test_different_bytes_are_a_new_request(self) -> None:
        first = assert_code(post(create_body()), Code.SUCCESS)
        raw = (__import__("json").dumps(create_body()) + " ").encode()
        second = assert_code(post(raw=raw), Code.SUCCESS)
        assert second["request-id"] != first["request-id"]

    def test_checked_before_the_calls(self) -> None:
        # Given a body accepted earlier whose calls would no longer pass (the balance ran out)
        event = api_event("POST", "/outbound/create", create_body())
        assert_code(invoke(event), Code.SUCCESS)
        from outdial.adapters.balances import Balances

        Balances().add("acme", -(Balances().show("acme") or 0))
        # Then the repeat is still recognised as a repeat, not 212
        assert_code(invoke(event), Code.CHECKSUM_REPEATED)

    def test_same_body_for_another_flow_is_not_a_repeat(self, apply: Any, config_doc: Any) -> None:
        assert_code(post(create_body()), Code.SUCCESS)
        config_doc["flows"][1]["versions"] = ["1.0"]
        body = create_body(**{"flow-id": "ZZ99yy88", "security-id": OTHER_SECURITY_ID})
        body["calls"][0]["keys"] = []
        assert_code(post(body), Code.SUCCESS)
        assert_code(post(body), Code.CHECKSUM_REPEATED)


class TestCheck13PerCall:
    def test_partial_success_keeps_request_order(self) -> None:
        calls = [
            call(**{"client-identifier": "good-1"}),
            call(**{"client-identifier": "bad-number", "contact-numbers": ["123"]}),
            call(**{"client-identifier": "good-2"}),
            "not an object",
        ]
        body = assert_code(post(create_body(calls)), Code.PARTIAL_SUCCESS)
        details = body["call-details"]
        assert [d.get("client-identifier") for d in details] == [
            "good-1",
            "bad-number",
            "good-2",
            None,
        ]
        assert "phonon-uuid" in details[0] and "phonon-uuid" in details[2]
        assert details[1]["error-code"] == 205 and "phonon-uuid" not in details[1]
        assert details[3]["error-code"] == 400
        assert body["request-id"]

    @pytest.mark.parametrize(
        "bad_call,code",
        [
            (call(**{"start-time": "2000-01-01T00:00:00Z"}), Code.INVALID_FORMAT),
            (call(keys=[{"name": "bad", "value": "x"}]), Code.INVALID_FORMAT),
            (call(**{"client-identifier": ...}), Code.INVALID_MANDATORY_PARAMETERS),
            (call(keys=[]), Code.INVALID_MANDATORY_PARAMETERS),  # the flow requires $flow.key.name
            (call(**{"contact-numbers": ["98"]}), Code.INVALID_CONTACT_NUMBER),
        ],
    )
    def test_none_valid_first_rejection_decides(self, bad_call: Any, code: Code) -> None:
        other = call(**{"contact-numbers": ["1"]})
        body = assert_code(post(create_body([bad_call, other])), code)
        assert [d["error-code"] for d in body["call-details"]] == [code.code, 205]
        assert "request-id" not in body

    def test_test_version_whitelist(self) -> None:
        body = create_body([call(**{"contact-numbers": ["9812345671"]})], **{"api-version": "TEST"})
        assert_code(post(body), Code.PHONE_NOT_WHITELISTED)
        ok = create_body([call(**{"contact-numbers": ["9812345670"]})], **{"api-version": "TEST"})
        assert_code(post(ok), Code.SUCCESS)


class TestCheck14Balance:
    def test_refused_whole_and_nothing_reserved(self) -> None:
        from outdial.adapters.balances import Balances
        from outdial.adapters.config_store import ConfigStore

        Balances().add("acme", Decimal(-998))
        calls = [call(**{"client-identifier": f"c{i}"}) for i in range(3)]
        assert_code(post(create_body(calls)), Code.INSUFFICIENT_BALANCE)
        assert ConfigStore().get_balance("acme") == 2
        # And the same body is not remembered as accepted
        assert_code(post(create_body(calls[:2])), Code.SUCCESS)
        assert ConfigStore().get_balance("acme") == 0

    def test_only_valid_calls_are_charged(self) -> None:
        from outdial.adapters.config_store import ConfigStore

        calls = [call(), call(**{"contact-numbers": ["1"]})]
        assert_code(post(create_body(calls)), Code.PARTIAL_SUCCESS)
        assert ConfigStore().get_balance("acme") == 999


class TestUnknownRoutes:
    def test_unknown_path_answers_in_contract_format(self) -> None:
        status, body = invoke(api_event("GET", "/nope"))
        assert status == 404 and body["api-response-code"] == Code.NOT_FOUND.code

    def test_health(self) -> None:
        assert_code(invoke(api_event("GET", "/health")), Code.SUCCESS)


def test_unexpected_fault_is_500_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    from outdial.adapters.config_store import ConfigStore

    def broken(self: Any, flow_id: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ConfigStore, "get_flow_view", broken)
    body = assert_code(post(create_body()), Code.FAILURE)
    assert "boom" not in str(body)


def test_timestamps_far_ahead_are_scheduled() -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    body = assert_code(post(create_body([call(**{"start-time": later})])), Code.SUCCESS)
    assert len(body["call-details"]) == 1


def test_flow_id_is_case_sensitive() -> None:
    assert_code(post(create_body(**{"flow-id": FLOW_ID.lower()})), Code.INVALID_FLOW_ID)
    assert SECURITY_ID
