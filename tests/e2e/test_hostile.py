"""Hostile input and hostile configuration through a real `outdial serve` and the CLI (SPEC §10,
§12): 4xx with contract codes, 608 over a flow's requests-per-second, one answer for an unknown
gateway and a bad signature, and `outdial config check` refusing where webhooks may not go."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from outdial.local.demo import DEMO_FLOW_ID, DEMO_SECURITY_ID, demo_config
from outdial.signatures import GATEWAY_SIGNATURE_HEADER, sign
from tests.e2e.conftest import Served, outdial, start_serve, stop_serve

pytestmark = pytest.mark.e2e

EVENT_SECRET = "e2e-event-secret-0123456789abcdefghij"


def send(
    url: str, raw: bytes, method: str = "POST", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=raw if method != "GET" else None,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def create(served: Served, calls: list[Any]) -> tuple[int, dict[str, Any]]:
    body = {
        "api-version": "1.0",
        "security-id": DEMO_SECURITY_ID,
        "flow-id": DEMO_FLOW_ID,
        "calls": calls,
    }
    return send(f"{served.url}/outbound/create", json.dumps(body).encode())


def a_call(**fields: Any) -> dict[str, Any]:
    return {
        "client-identifier": "hostile-1",
        "start-time": datetime.now().astimezone().isoformat(),
        "contact-numbers": ["9812345670"],
        **fields,
    }


class TestHostileBodies:
    @pytest.mark.parametrize(
        "raw",
        [
            b"[" * 100_000,
            b'{"api-version": "1.0", "flow-id": "DEMOfl01", "security-id": "\\ud800", "calls": []}',
            b'{"api-version": NaN}',
            b'{"api-version": ' + b"9" * 5000 + b"}",
        ],
        ids=["deep", "lone-surrogate", "nan", "huge-int"],
    )
    def test_whole_bodies_get_400(self, served: Served, raw: bytes) -> None:
        status, body = send(f"{served.url}/outbound/create", raw)
        assert (status, body["api-response-code"]) == (400, 400), body
        assert body["api-response-message"] == "Invalid Format"

    @pytest.mark.parametrize(
        "start",
        [
            "9999-12-31T23:00-05:00",
            "0001-01-01T00:00+14:00",
            "9999-12-31T10:00+05:30",
            "2150-01-01",
        ],
    )
    def test_dates_out_of_range_are_refused_per_call(self, served: Served, start: str) -> None:
        status, body = create(served, [a_call(**{"start-time": start})])
        assert (status, body["api-response-code"]) == (400, 400), body
        assert body["call-details"][0]["error-code"] == 400

    def test_more_than_90_days_ahead_is_refused(self, served: Served) -> None:
        far = (datetime.now().astimezone() + timedelta(days=92)).isoformat()
        status, body = create(served, [a_call(**{"start-time": far})])
        assert (status, body["api-response-code"]) == (400, 400), body
        assert "90 days" in body["call-details"][0]["error-detail"]

    def test_a_huge_key_rejects_its_call_only(self, served: Served) -> None:
        huge = a_call(keys=[{"name": "$flow.key.name", "value": "v" * 450_000}])
        status, body = create(served, [huge, a_call(**{"client-identifier": "fine"})])
        assert (status, body["api-response-code"]) == (200, 209), body
        assert body["call-details"][0]["error-code"] == 400
        assert "phonon-uuid" in body["call-details"][1]

    def test_odd_ids_in_paths_are_no_data(self, served: Served) -> None:
        headers = {"x-flow-id": DEMO_FLOW_ID, "x-security-id": DEMO_SECURITY_ID}
        status, body = send(
            f"{served.url}/outbound/calls/{'x' * 3000}", b"", method="GET", headers=headers
        )
        assert (status, body["api-response-code"]) == (404, 213)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A serve whose demo flow allows 2 requests per second and dials through an http gateway
    whose event secret is in the embedded AWS."""
    document = demo_config()
    document["flows"][0]["requests-per-second"] = 2
    document["gateways"].append(
        {
            "gateway-id": "carrier",
            "kind": "http",
            "url": "http://127.0.0.1:9/legs",
            "secret-id": "outdial/gateways/carrier",
        }
    )
    path = tmp_path_factory.mktemp("guarded") / "outdial.json"
    path.write_text(json.dumps(document))
    running = start_serve("--config", str(path))
    _secrets(running).create_secret(
        Name="outdial/gateways/carrier",
        SecretString=json.dumps({"token": "t", "event-secret": EVENT_SECRET}),
    )
    yield running
    stop_serve(running)


def _secrets(running: Served) -> Any:
    import boto3

    return boto3.client(
        "secretsmanager",
        endpoint_url=running.banner["aws-endpoint"],
        region_name="ap-south-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_a_flow_over_its_requests_per_second_gets_429_608(guarded: Served) -> None:
    body = json.dumps(
        {
            "security-id": DEMO_SECURITY_ID,
            "flow-id": DEMO_FLOW_ID,
            "phonon-uuids": ["501c78ee-8d06-498e-8952-fce3495f326b"],
        }
    ).encode()
    # When requests come back to back (until one is throttled, however slow the machine)
    started = time.monotonic()
    answers: list[tuple[int, dict[str, Any]]] = []
    while len(answers) < 60 and not any(status == 429 for status, _ in answers):
        answers.append(send(f"{guarded.url}/outbound/pull", body))
    elapsed = time.monotonic() - started
    statuses = [status for status, _ in answers]
    # Then some are served, never more than 2 in any second, and the rest throttled with 608
    # (the budget is per wall-clock second: a burst of e seconds spans at most int(e) + 2 of them)
    assert 404 in statuses and 429 in statuses, statuses
    assert statuses.count(404) <= 2 * (int(elapsed) + 2), (statuses, elapsed)
    throttled = next(answer for status, answer in answers if status == 429)
    assert throttled == {
        "api-response-code": 608,
        "api-response-message": "Too Many Requests",
        "error-detail": throttled["error-detail"],
    }
    time.sleep(1.1)  # the budget is per second: the next one is served again
    assert send(f"{guarded.url}/outbound/pull", body)[0] == 404


def test_an_unknown_gateway_and_a_bad_signature_look_the_same(guarded: Served) -> None:
    raw = json.dumps({"event-id": "e1", "leg-id": "l1", "outcome": "BUSY"}).encode()
    forged = {
        GATEWAY_SIGNATURE_HEADER: sign("not-the-secret-0123456789abcdef!", raw, int(time.time()))
    }
    signed = {GATEWAY_SIGNATURE_HEADER: sign(EVENT_SECRET, raw, int(time.time()))}
    bad_signature = send(f"{guarded.url}/gateway/events/carrier", raw, headers=forged)
    unknown = send(f"{guarded.url}/gateway/events/no-such-gateway", raw, headers=signed)
    simulator = send(f"{guarded.url}/gateway/events/sim", raw, headers=signed)
    assert bad_signature == unknown == simulator
    assert (bad_signature[0], bad_signature[1]["api-response-code"]) == (401, 202)


def _file(tmp_path: Path, webhook_url: str) -> Path:
    document = demo_config(webhook_url=webhook_url)
    path = tmp_path / "outdial.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:9001/2018-06-01/runtime/init/error",
        "https://10.0.0.5:6379/",
        "http://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "http://127.0.0.1:9000/hook",
    ],
)
def test_config_check_refuses_webhooks_that_may_not_go_there(tmp_path: Path, url: str) -> None:
    result = outdial("config", "check", str(_file(tmp_path, url)))
    assert result.returncode == 1
    assert "$.accounts[0].webhook-url" in result.stderr and "invalid" in result.stderr


def test_loopback_http_is_for_outdial_serve_only(tmp_path: Path) -> None:
    path = _file(tmp_path, "http://127.0.0.1:9000/hook")
    assert outdial("config", "check", "--local", str(path)).returncode == 0
    assert outdial("config", "check", str(path)).returncode == 1


def test_config_check_refuses_a_short_event_secret(guarded: Served, tmp_path: Path) -> None:
    # Given the gateway's secret, in the AWS the command points at, holds a 20-character key
    _secrets(guarded).put_secret_value(
        SecretId="outdial/gateways/carrier",
        SecretString=json.dumps({"token": "t", "event-secret": "x" * 20}),
    )
    document = demo_config()
    document["gateways"].append(
        {
            "gateway-id": "carrier",
            "kind": "http",
            "url": "http://127.0.0.1:9/legs",
            "secret-id": "outdial/gateways/carrier",
        }
    )
    path = tmp_path / "outdial.json"
    path.write_text(json.dumps(document))
    try:
        result = outdial("config", "check", "--local", str(path), served=guarded)
    finally:
        _secrets(guarded).put_secret_value(
            SecretId="outdial/gateways/carrier",
            SecretString=json.dumps({"token": "t", "event-secret": EVENT_SECRET}),
        )
    # Then refused, naming the gateway's secret-id and the rule
    assert result.returncode == 1, result.stderr
    assert "$.gateways[1].secret-id: event-secret has 20 characters; at least 32" in result.stderr
