"""Fixtures of the integration suites."""

from __future__ import annotations

import pytest

from tests.integration.dialing import Harness


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Harness:
    """The dialer handler on moto with a recording simulator, driven by hand."""
    return Harness().install(monkeypatch)
