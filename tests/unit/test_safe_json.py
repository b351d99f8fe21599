"""Bodies from strangers are parsed with bounds; numbers are masked for logs (SPEC §12)."""

from __future__ import annotations

import json

import pytest

from outdial.models import safe_json
from outdial.models.phone import mask


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


class TestBounds:
    def test_depth_32_is_accepted_33_is_not(self) -> None:
        assert safe_json.loads(nested(32)) is not None
        with pytest.raises(safe_json.UnsafeJson, match="deeper than 32"):
            safe_json.loads(nested(33))

    def test_nesting_the_parser_cannot_follow_is_refused_not_raised(self) -> None:
        with pytest.raises(safe_json.UnsafeJson):
            safe_json.loads(b"[" * 100_000)
        with pytest.raises(safe_json.UnsafeJson):
            safe_json.loads(nested(50_000))

    @pytest.mark.parametrize(
        "raw",
        [
            b'{"a": "\\ud800"}',
            b'{"\\udfff": 1}',
            b'["x", ["\\ud83d"]]',
            b'"\\udc00abc"',
        ],
    )
    def test_lone_surrogates_anywhere_are_refused(self, raw: bytes) -> None:
        with pytest.raises(safe_json.UnsafeJson, match="surrogate"):
            safe_json.loads(raw)

    def test_a_surrogate_pair_is_a_character(self) -> None:
        assert safe_json.loads(b'"\\ud83d\\ude00"') == "\U0001f600"

    @pytest.mark.parametrize("raw", [b"NaN", b"-Infinity", b"[Infinity]", b"1e400", b"-1e309"])
    def test_numbers_json_cannot_carry_back_out(self, raw: bytes) -> None:
        with pytest.raises(safe_json.UnsafeJson):
            safe_json.loads(raw)

    @pytest.mark.parametrize("raw", [b"7" * 5000, b"\xff\xfe{}", b"{", b""])
    def test_what_is_not_json_is_refused(self, raw: bytes) -> None:
        with pytest.raises(safe_json.UnsafeJson):
            safe_json.loads(raw)

    def test_ordinary_bodies_parse_as_json_does(self) -> None:
        body = {"calls": [{"keys": [{"name": "$flow.key.x", "value": "é 😀"}]}], "n": 1.5}
        raw = json.dumps(body).encode()
        assert safe_json.loads(raw) == json.loads(raw)


class TestMask:
    @pytest.mark.parametrize(
        ("number", "masked"),
        [
            ("+919812345670", "+91******5670"),
            ("+14155550123", "+1******0123"),
            ("919812345670", "91******5670"),
            ("+4420", "+4420"),
            ("not-a-number", "********mber"),
        ],
    )
    def test_country_code_and_last_four(self, number: str, masked: str) -> None:
        assert mask(number) == masked
