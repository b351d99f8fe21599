"""The README's quick-start request is the one `outdial serve` prints for its demo flow."""

from __future__ import annotations

from pathlib import Path

from outdial.local.demo import demo_curl

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_curl_is_the_demo_request() -> None:
    assert demo_curl("http://127.0.0.1:8080") in README.read_text()


def _python_block_after(marker: str) -> str:
    text = README.read_text()
    start = text.index("```python\n", text.index(marker)) + len("```python\n")
    return text[start : text.index("```", start)]


def test_readmes_library_free_webhook_check_verifies_our_signature() -> None:
    import time

    import pytest

    from outdial.adapters.webhook_secrets import new_secret, secret_key
    from outdial.signatures import sign_standard

    # Given the README's verification code without any library, and a signed delivery
    namespace: dict[str, object] = {}
    exec(_python_block_after("Without any library"), namespace)
    verify = namespace["verify"]
    secret, other, body, now = new_secret(), new_secret(), b'{"event-id":"e-1"}', int(time.time())
    headers = {
        "webhook-id": "e-1",
        "webhook-timestamp": str(now),
        "webhook-signature": sign_standard(
            [secret_key(other), secret_key(secret)], "e-1", body, now
        ),
    }
    # Then it accepts it with the secret, and refuses a changed body or a stale timestamp
    verify(secret, headers, body)  # type: ignore[operator]
    with pytest.raises(ValueError, match="bad signature"):
        verify(secret, headers, body + b" ")  # type: ignore[operator]
    with pytest.raises(ValueError, match="stale"):
        verify(secret, headers | {"webhook-timestamp": str(now - 3600)}, body)  # type: ignore[operator]
