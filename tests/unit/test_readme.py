"""The README's quick-start request is the one `outdial serve` prints for its demo flow."""

from __future__ import annotations

from pathlib import Path

from outdial.local.demo import demo_curl

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_curl_is_the_demo_request() -> None:
    assert demo_curl("http://127.0.0.1:8080") in README.read_text()
