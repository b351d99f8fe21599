"""The pure per-call checks: start-time rules, number forms, keys, and their order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from outdial.logic.validation import CallRules, RejectedCall, ValidCall, validate_call
from outdial.models.codes import Code

IST = ZoneInfo("Asia/Kolkata")
# 10:00 in India on 2026-12-01.
NOW = datetime(2026, 12, 1, 4, 30, tzinfo=UTC)


def rules(**overrides: object) -> CallRules:
    values: dict[str, object] = {"region": "IN", "zone": IST, "now": NOW}
    values.update(overrides)
    return CallRules(**values)  # type: ignore[arg-type]


def a_call(**overrides: object) -> dict[str, object]:
    call: dict[str, object] = {
        "client-identifier": "c-1",
        "start-time": "2026-12-01T10:30:00+05:30",
        "contact-numbers": ["9812345670"],
    }
    call.update(overrides)
    return {k: v for k, v in call.items() if v is not ...}


def rejected(raw: object, **rule_overrides: object) -> RejectedCall:
    result = validate_call(raw, rules(**rule_overrides))
    assert isinstance(result, RejectedCall), result
    return result


def accepted(raw: object, **rule_overrides: object) -> ValidCall:
    result = validate_call(raw, rules(**rule_overrides))
    assert isinstance(result, ValidCall), result
    return result


class TestStartTime:
    def test_later_today_is_scheduled_for_that_instant(self) -> None:
        # Given a start 30 minutes ahead, When validated, Then it is due then, not now
        call = accepted(a_call())
        assert not call.immediate
        assert call.due_at == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)

    def test_past_time_today_means_dial_now(self) -> None:
        call = accepted(a_call(**{"start-time": "2026-12-01T00:05:00+05:30"}))
        assert call.immediate
        assert call.due_at == NOW

    def test_now_exactly_means_dial_now(self) -> None:
        assert accepted(a_call(**{"start-time": NOW.isoformat()})).immediate

    def test_yesterday_is_invalid_format(self) -> None:
        result = rejected(a_call(**{"start-time": "2026-11-30T23:59:00+05:30"}))
        assert result.code is Code.INVALID_FORMAT
        assert "before today" in result.detail

    def test_today_is_judged_in_the_accounts_time_zone(self) -> None:
        # Given 2026-11-30T20:00Z, which is already 2026-12-01 01:30 in India
        call = accepted(a_call(**{"start-time": "2026-11-30T20:00:00Z"}))
        # Then it is today (in India), in the past: dial now
        assert call.immediate

    def test_yesterday_in_utc_terms_can_be_today_elsewhere(self) -> None:
        # Given an account in New York where it is still 2026-11-30 23:30
        ny = ZoneInfo("America/New_York")
        call = accepted(a_call(**{"start-time": "2026-11-30T23:45:00"}), zone=ny)
        # Then the offset-less time is read in New York and is 15 minutes ahead
        assert call.due_at == datetime(2026, 12, 1, 4, 45, tzinfo=UTC)
        assert not call.immediate

    def test_no_offset_is_read_in_the_account_time_zone(self) -> None:
        call = accepted(a_call(**{"start-time": "2026-12-01T11:00:00"}))
        assert call.start_time.utcoffset() == timedelta(hours=5, minutes=30)
        assert call.due_at == datetime(2026, 12, 1, 5, 30, tzinfo=UTC)

    @pytest.mark.parametrize("value", ["tomorrow", "2026-13-01T10:00:00Z", "", 1733030400, None])
    def test_unparseable_or_missing(self, value: object) -> None:
        result = rejected(a_call(**{"start-time": value}))
        expected = Code.INVALID_MANDATORY_PARAMETERS if value in ("", None) else Code.INVALID_FORMAT
        assert result.code is expected


class TestNumbers:
    @pytest.mark.parametrize("form", ["+919812345670", "919812345670", "9812345670", "09812345670"])
    def test_every_accepted_form_becomes_e164(self, form: str) -> None:
        assert accepted(a_call(**{"contact-numbers": [form]})).contact_numbers == ("+919812345670",)

    def test_national_numbers_use_the_account_region(self) -> None:
        call = accepted(a_call(**{"contact-numbers": ["2025550123"]}), region="US")
        assert call.contact_numbers == ("+12025550123",)

    def test_order_is_kept(self) -> None:
        numbers = ["9812345671", "+919812345670", "919812345672"]
        call = accepted(a_call(**{"contact-numbers": numbers}))
        assert call.contact_numbers == ("+919812345671", "+919812345670", "+919812345672")

    @pytest.mark.parametrize("bad", ["12345", "", "abc", "+999123", 9812345670, None])
    def test_an_invalid_number_rejects_the_call(self, bad: object) -> None:
        result = rejected(a_call(**{"contact-numbers": ["9812345670", bad]}))
        assert result.code is Code.INVALID_CONTACT_NUMBER
        assert "contact-numbers[1]" in result.detail

    def test_more_than_ten_numbers_is_invalid_format(self) -> None:
        assert (
            rejected(a_call(**{"contact-numbers": ["9812345670"] * 11})).code is Code.INVALID_FORMAT
        )

    def test_empty_list_is_missing(self) -> None:
        assert rejected(a_call(**{"contact-numbers": []})).code is Code.INVALID_MANDATORY_PARAMETERS

    def test_test_version_needs_whitelisted_numbers(self) -> None:
        whitelist = frozenset({"+919812345670"})
        assert accepted(a_call(), phone_whitelist=whitelist)
        result = rejected(
            a_call(**{"contact-numbers": ["9812345670", "9812345671"]}), phone_whitelist=whitelist
        )
        assert result.code is Code.PHONE_NOT_WHITELISTED
        assert "+919812345671" in result.detail


class TestKeys:
    def test_keys_are_kept_in_order(self) -> None:
        keys = [{"name": "$flow.key.b", "value": "2"}, {"name": "$flow.key.a_1", "value": "1"}]
        assert accepted(a_call(keys=keys)).keys == (("$flow.key.b", "2"), ("$flow.key.a_1", "1"))

    @pytest.mark.parametrize(
        "keys",
        [
            "name=value",
            [{"name": "flow.key.x", "value": "v"}],
            [{"name": "$flow.key.x-y", "value": "v"}],
            [{"name": "$flow.key.x", "value": 3}],
            [{"name": "$flow.key.x"}],
            [{"name": "$flow.key.x", "value": "v", "extra": 1}],
            [{"name": "$flow.key.x", "value": "a"}, {"name": "$flow.key.x", "value": "b"}],
        ],
    )
    def test_malformed_keys_are_invalid_format(self, keys: object) -> None:
        assert rejected(a_call(keys=keys)).code is Code.INVALID_FORMAT

    def test_required_key_missing_is_mandatory_parameter(self) -> None:
        result = rejected(a_call(), required_keys=frozenset({"$flow.key.name"}))
        assert result.code is Code.INVALID_MANDATORY_PARAMETERS
        assert "$flow.key.name" in result.detail


class TestOrderWithinACall:
    def test_not_an_object(self) -> None:
        assert rejected(["x"]).code is Code.INVALID_FORMAT

    def test_format_beats_missing_fields(self) -> None:
        # Given a bad start-time and no contact numbers, Then 400 decides, not 210
        call = a_call(**{"start-time": "yesterday", "contact-numbers": ...})
        assert rejected(call).code is Code.INVALID_FORMAT

    def test_missing_beats_bad_number(self) -> None:
        call = a_call(**{"client-identifier": ..., "contact-numbers": ["123"]})
        assert rejected(call).code is Code.INVALID_MANDATORY_PARAMETERS

    def test_bad_number_beats_whitelist(self) -> None:
        call = a_call(**{"contact-numbers": ["9812345671", "123"]})
        result = rejected(call, phone_whitelist=frozenset({"+919812345670"}))
        assert result.code is Code.INVALID_CONTACT_NUMBER

    def test_client_identifier_is_echoed_on_rejection(self) -> None:
        result = rejected(a_call(**{"contact-numbers": ["1"]}))
        assert result.details()["client-identifier"] == "c-1"
        assert result.details()["error-code"] == 205

    @pytest.mark.parametrize("value", [7, "x" * 129])
    def test_client_identifier_must_be_a_short_string(self, value: object) -> None:
        assert rejected(a_call(**{"client-identifier": value})).code is Code.INVALID_FORMAT
