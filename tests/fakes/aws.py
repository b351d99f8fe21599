"""An in-process AWS (moto), and X-Ray switched on, for tests that own their fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto import mock_aws

from outdial.adapters import aws

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "ap-south-1",
    "AWS_REGION": "ap-south-1",
}


@contextmanager
def mocked_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's ``mock_aws`` with fake credentials, and the shared boto3 clients made afresh inside
    it (a client made before would talk to real AWS)."""
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        aws.reset_clients()
        try:
            yield
        finally:
            aws.reset_clients()


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


class _Body:
    """The raw stream botocore reads an injected answer from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def aws_error(code: str, status: int = 400, **extra: Any) -> Any:
    """An AWS JSON-protocol error answer with ``code`` (DynamoDB's shape), as botocore receives
    it from the wire."""
    import json

    from botocore.awsrequest import AWSResponse

    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected", **extra}
    ).encode()
    headers = {"x-amzn-RequestId": "injected", "Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse("https://injected", status, headers, _Body(body))


class Faults:
    """Answers AWS calls of one client with injected errors through botocore's ``before-send``
    hook: ``plan(operation_name) -> response | None`` decides per attempt (None: the real call).
    An injected answer stands for a call AWS refused: it is not applied."""

    def __init__(self, client: Any, plan: Any) -> None:
        self.client = client
        self.plan = plan
        self.injected: list[str] = []

    def _before_send(self, request: Any = None, **kwargs: Any) -> Any:
        operation = kwargs.get("event_name", "").rsplit(".", 1)[-1]
        answer = self.plan(operation)
        if answer is not None:
            self.injected.append(operation)
            # botocore runs every before-send handler: point this attempt where moto's stub
            # matches nothing, so the refused call is not applied behind the injected answer.
            request.url = "https://injected.invalid/"
        return answer

    def __enter__(self) -> Faults:
        service = self.client.meta.service_model.service_id.hyphenize()
        self.client.meta.events.register_first(
            f"before-send.{service}", self._before_send, unique_id="injected-faults"
        )
        return self

    def __exit__(self, *exc: object) -> None:
        service = self.client.meta.service_model.service_id.hyphenize()
        self.client.meta.events.unregister(f"before-send.{service}", unique_id="injected-faults")
