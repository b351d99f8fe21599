"""Signed bodies: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from outdial.signatures import InvalidSignature, sign, sign_rotating, verify

SECRET = "S" * 32 + "e" * 32
BODY = b'{"event-id":"e1","status":"COMPLETED"}'
T = 1_790_000_000


def reference_hex(secret: str, body: bytes, timestamp: int) -> str:
    """SPEC §4's formula, spelled out."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class TestSign:
    def test_follows_the_spec_formula(self) -> None:
        # Given a secret, a raw body and a time / When signed
        header = sign(SECRET, BODY, T)
        # Then the header is t=<unix>,v1=<hex of HMAC-SHA256(secret, "<t>.<body>")>
        assert header == f"t={T},v1={reference_hex(SECRET, BODY, T)}"

    def test_empty_body(self) -> None:
        assert sign(SECRET, b"", T) == f"t={T},v1={reference_hex(SECRET, b'', T)}"

    def test_rotating_signs_with_each_secret(self) -> None:
        header = sign_rotating(["old", "new"], BODY, T)
        assert header == (
            f"t={T},v1={reference_hex('old', BODY, T)},v1={reference_hex('new', BODY, T)}"
        )

    def test_rotating_needs_a_secret(self) -> None:
        with pytest.raises(ValueError):
            sign_rotating([], BODY, T)


class TestVerify:
    def test_accepts_its_own_signature(self) -> None:
        verify(sign(SECRET, BODY, T), SECRET, BODY, now=T)

    @pytest.mark.parametrize("skew", [-300, -1, 0, 1, 300])
    def test_accepts_within_tolerance(self, skew: int) -> None:
        verify(sign(SECRET, BODY, T), SECRET, BODY, now=T + skew)

    @pytest.mark.parametrize("skew", [-301, 301, 86_400])
    def test_rejects_stale_or_future(self, skew: int) -> None:
        # Given a valid signature made too long before (or after) now
        with pytest.raises(InvalidSignature, match="outside"):
            verify(sign(SECRET, BODY, T), SECRET, BODY, now=T + skew)

    def test_custom_tolerance(self) -> None:
        verify(sign(SECRET, BODY, T), SECRET, BODY, now=T + 1000, tolerance=1000)
        with pytest.raises(InvalidSignature):
            verify(sign(SECRET, BODY, T), SECRET, BODY, now=T + 11, tolerance=10)

    def test_rejects_another_secret(self) -> None:
        with pytest.raises(InvalidSignature, match="does not match"):
            verify(sign("other", BODY, T), SECRET, BODY, now=T)

    def test_rejects_a_tampered_body(self) -> None:
        with pytest.raises(InvalidSignature, match="does not match"):
            verify(sign(SECRET, BODY, T), SECRET, BODY + b" ", now=T)

    def test_rejects_a_moved_timestamp(self) -> None:
        # Given the signature of time T presented as if made at T+1
        digest = reference_hex(SECRET, BODY, T)
        with pytest.raises(InvalidSignature, match="does not match"):
            verify(f"t={T + 1},v1={digest}", SECRET, BODY, now=T)

    def test_any_matching_v1_entry_verifies(self) -> None:
        # Given a header signed with an old and a new secret (rotation)
        header = sign_rotating(["old-secret", SECRET], BODY, T)
        # Then a receiver holding either secret accepts it
        verify(header, SECRET, BODY, now=T)
        verify(header, "old-secret", BODY, now=T)
        with pytest.raises(InvalidSignature):
            verify(header, "third", BODY, now=T)

    def test_other_schemes_and_spaces_are_ignored(self) -> None:
        digest = reference_hex(SECRET, BODY, T)
        verify(f"t={T}, v0=abc, v1={digest}", SECRET, BODY, now=T)

    @pytest.mark.parametrize("header", [None, ""])
    def test_rejects_missing(self, header: str | None) -> None:
        with pytest.raises(InvalidSignature, match="missing"):
            verify(header, SECRET, BODY, now=T)

    @pytest.mark.parametrize(
        "header",
        [
            "garbage",
            f"v1={'a' * 64}",  # no t
            f"t={T}",  # no v1
            f"t={T},t={T},v1={'a' * 64}",  # two t
            f"t=-{T},v1={'a' * 64}",
            f"t={T}.5,v1={'a' * 64}",
            "t=\uff11\uff12\uff13,v1=" + "a" * 64,  # fullwidth digits: isdigit() but not ASCII
            f"t={T},v1={'a' * 63}",
            f"t={T},v1={'A' * 64}",
            f"t={T},v1={'g' * 64}",
            f"t={T},v1",
            f"t={T},v1={'a' * 64}," + ",".join(["v0=x"] * 2000),  # absurdly long
        ],
    )
    def test_rejects_malformed(self, header: str) -> None:
        with pytest.raises(InvalidSignature):
            verify(header, SECRET, BODY, now=T)
