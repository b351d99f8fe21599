"""The pure pieces of the call controls and webhook controls: header rules, dry-run bodies,
overlap durations, webhook messages, Standard Webhooks signatures."""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
from datetime import timedelta

import pytest

from outdial.adapters.webhook_queue import WebhookMessage
from outdial.adapters.webhook_secrets import new_secret, secret_key
from outdial.cli.webhooks import duration
from outdial.logic.create_controls import check_key, null_ids, parse_dry_run
from outdial.models.codes import Code, ContractError
from outdial.signatures import sign_standard


class TestHeaders:
    @pytest.mark.parametrize("value", ["a", "~" * 255, "batch 7: orders/2026-12-01"])
    def test_a_key_is_1_to_255_printable_ascii(self, value: str) -> None:
        assert check_key(value) == value

    @pytest.mark.parametrize("value", ["", "k" * 256, "\x7f", "caf\u00e9", "a\tb"])
    def test_anything_else_is_400(self, value: str) -> None:
        with pytest.raises(ContractError) as refused:
            check_key(value)
        assert refused.value.code is Code.INVALID_FORMAT

    def test_no_header_no_key(self) -> None:
        assert check_key(None) is None

    @pytest.mark.parametrize(
        ("value", "dry"), [(None, False), ("true", True), (" TRUE ", True), ("false", False)]
    )
    def test_dry_run_is_true_or_false(self, value: str | None, dry: bool) -> None:
        assert parse_dry_run(value) is dry

    @pytest.mark.parametrize("value", ["yes", "1", ""])
    def test_a_dry_run_value_that_is_neither_is_refused(self, value: str) -> None:
        with pytest.raises(ContractError):
            parse_dry_run(value)


def test_a_dry_run_body_has_every_id_null_and_the_rest_unchanged() -> None:
    body = {
        "api-response-code": 209,
        "request-id": "r",
        "call-details": [
            {"client-identifier": "a", "phonon-uuid": "p"},
            {"client-identifier": "b", "error-code": 205},
        ],
    }
    assert null_ids(body) == {
        "api-response-code": 209,
        "request-id": None,
        "call-details": [
            {"client-identifier": "a", "phonon-uuid": None},
            {"client-identifier": "b", "error-code": 205},
        ],
    }
    assert null_ids({"api-response-code": 202}) == {"api-response-code": 202}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("30m", timedelta(minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("2d", timedelta(days=2)),
        ("6", timedelta(hours=6)),
        ("0", timedelta(0)),
    ],
)
def test_overlap_durations(text: str, expected: timedelta) -> None:
    assert duration(text) == expected


@pytest.mark.parametrize("text", ["", "-1h", "1w", "soon", "1.5h"])
def test_bad_overlaps_are_usage_errors(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        duration(text)


class TestWebhookMessages:
    def test_a_call_ended_message_keeps_its_old_shape(self) -> None:
        message = WebhookMessage("p", "p:COMPLETED")
        assert message.body() == '{"phonon-uuid":"p","event-id":"p:COMPLETED"}'
        assert WebhookMessage.parse(message.body()) == message

    def test_a_leg_ended_message_round_trips(self) -> None:
        message = WebhookMessage("p", "p-a1-n0:leg.ended", "leg.ended", "p-a1-n0")
        assert WebhookMessage.parse(message.body()) == message

    @pytest.mark.parametrize(
        "body",
        [
            '{"phonon-uuid":"p","event-id":"e","event-type":"leg.ended"}',
            '{"phonon-uuid":"p","event-id":"e","event-type":"call.started","leg-id":"l"}',
        ],
    )
    def test_an_unknown_type_or_a_leg_event_without_its_leg_is_malformed(self, body: str) -> None:
        with pytest.raises(ValueError):
            WebhookMessage.parse(body)


def test_secrets_are_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(secret_key(first)) == 32


def test_the_standard_signature_is_one_v1_per_key_over_id_timestamp_and_body() -> None:
    keys = [b"k" * 32, b"j" * 32]
    header = sign_standard(keys, "e-1", b"{}", 1_800_000_000)
    expected = [
        "v1,"
        + base64.b64encode(hmac.new(key, b"e-1.1800000000.{}", hashlib.sha256).digest()).decode()
        for key in keys
    ]
    assert header.split(" ") == expected
