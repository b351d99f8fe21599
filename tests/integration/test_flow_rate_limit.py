"""Per-flow ``requests-per-second`` (SPEC §12): counted across every api invocation, answered
429 with code 608, and only for callers who authenticated."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from outdial.adapters.rate_limits import FlowRateLimiter
from outdial.handlers import api
from outdial.local.apigateway import LambdaContext
from outdial.models.codes import Code
from tests.conftest import FLOW_ID, OTHER_FLOW_ID, OTHER_SECURITY_ID, SECURITY_ID, api_event, invoke

NOW = datetime(2026, 12, 1, 5, 0, 0, 250_000, tzinfo=UTC)
UUID = "501c78ee-8d06-498e-8952-fce3495f326b"


class _Frozen(datetime):
    moment = NOW

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return cls.moment


@pytest.fixture
def limited(
    resources: Any, apply: Any, config_doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    config_doc["flows"][0]["requests-per-second"] = 2
    apply(config_doc)
    monkeypatch.setattr(api, "datetime", _Frozen)


def pull(flow_id: str = FLOW_ID, security_id: str = SECURITY_ID) -> tuple[int, dict[str, Any]]:
    body = {"security-id": security_id, "flow-id": flow_id, "phonon-uuids": [UUID]}
    return invoke(api_event("POST", "/outbound/pull", body))


HEADERS = {"x-flow-id": FLOW_ID, "x-security-id": SECURITY_ID}


def get(security_id: str = SECURITY_ID) -> tuple[int, dict[str, Any]]:
    headers = {**HEADERS, "x-security-id": security_id}
    return invoke(api_event("GET", f"/outbound/calls/{UUID}", headers=headers))


@pytest.mark.usefixtures("limited")
class TestThroughTheApi:
    def test_over_the_limit_is_429_with_608(self) -> None:
        # Given a flow allowed 2 requests per second, When 4 come within one second
        answers = [pull(), get(), pull(), get()]
        # Then 2 are served (213: nothing known) and the rest throttled, whatever the route
        assert [status for status, _ in answers] == [404, 404, 429, 429]
        throttled = answers[2][1]
        assert throttled["api-response-code"] == Code.TOO_MANY_REQUESTS.code == 608
        assert throttled["api-response-message"] == "Too Many Requests"
        # And the answer says when to try again
        result = api.handler(
            api_event("GET", f"/outbound/calls/{UUID}", headers=HEADERS), LambdaContext()
        )
        assert (result["statusCode"], result["multiValueHeaders"]["Retry-After"]) == (429, ["1"])

    def test_the_next_second_has_a_fresh_budget(self) -> None:
        assert [pull()[0] for _ in range(3)] == [404, 404, 429]
        _Frozen.moment = NOW.replace(second=1)
        try:
            assert pull()[0] == 404
        finally:
            _Frozen.moment = NOW

    def test_strangers_do_not_spend_the_budget(self) -> None:
        # Given many requests with a wrong security-id
        for _ in range(5):
            assert get(security_id="x" * 64)[1]["api-response-code"] == 202
        # Then the flow's own requests are still served
        assert [get()[0] for _ in range(2)] == [404, 404]

    def test_a_flow_without_a_limit_is_not_limited(self) -> None:
        statuses = {pull(OTHER_FLOW_ID, OTHER_SECURITY_ID)[0] for _ in range(6)}
        assert statuses == {404}

    def test_create_is_limited_too(self) -> None:
        body = {"api-version": "1.0", "security-id": SECURITY_ID, "flow-id": FLOW_ID, "calls": []}
        codes = [invoke(api_event("POST", "/outbound/create", body))[1] for _ in range(3)]
        assert [c["api-response-code"] for c in codes] == [302, 302, 608]


def test_concurrent_requests_across_lambdas_admit_exactly_the_limit(resources: Any) -> None:
    # Given 40 requests of one flow racing in one second, from as many "Lambdas"
    limiter = FlowRateLimiter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        admitted = list(pool.map(lambda _: limiter.admit(FLOW_ID, 7, 1_800_000_000), range(40)))
    # Then exactly the limit got through
    assert admitted.count(True) == 7
    # And another second, or another flow, counts apart
    assert limiter.admit(FLOW_ID, 7, 1_800_000_001)
    assert limiter.admit(OTHER_FLOW_ID, 7, 1_800_000_000)


def test_a_counting_fault_admits_the_request(
    limited: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outdial.adapters.errors import AdapterError

    def broken(*_: Any) -> bool:
        raise AdapterError("throttled")

    monkeypatch.setattr(FlowRateLimiter, "admit", broken)
    assert [pull()[0] for _ in range(4)] == [404] * 4
