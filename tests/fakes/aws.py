"""X-Ray switched on, for tests that look at traces."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def xray_recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The X-Ray SDK switched on (tests normally run with tracing off), yielding its recorder.

    Nothing is sent anywhere unless a test ends a segment; open entities are dropped on exit.
    """
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core import xray_recorder

    monkeypatch.delenv("AWS_XRAY_SDK_ENABLED", raising=False)
    was_enabled = global_sdk_config.sdk_enabled()
    global_sdk_config.set_sdk_enabled(True)
    try:
        yield xray_recorder
    finally:
        xray_recorder.clear_trace_entities()
        global_sdk_config.set_sdk_enabled(was_enabled)
