"""`outdial serve` over real HTTP on 127.0.0.1, as a newcomer would use it."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from datetime import datetime
from typing import Any

import pytest

from outdial.local.demo import DEMO_FLOW_ID, DEMO_SECURITY_ID, demo_curl
from tests.e2e.conftest import Served, embedded_client, start_serve, stop_serve

pytestmark = pytest.mark.e2e


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_banner_names_the_demo_flow(served: Served) -> None:
    assert served.banner["demo-flow-id"] == DEMO_FLOW_ID
    assert served.banner["demo-security-id"] == DEMO_SECURITY_ID
    assert served.url.startswith("http://127.0.0.1:")


def test_health(served: Served) -> None:
    assert http("GET", f"{served.url}/health") == (
        200,
        {"api-response-code": 200, "api-response-message": "Success", "status": "ok"},
    )


def test_the_printed_curl_is_accepted(served: Served) -> None:
    # When the curl that serve prints (and the README shows) is pasted into a shell
    result = subprocess.run(
        ["bash", "-c", demo_curl(served.url)], capture_output=True, text=True, check=True
    )
    body = json.loads(result.stdout)
    # Then the call is accepted
    assert body["api-response-code"] == 200, body
    assert body["call-details"][0]["client-identifier"] == "order-1"


def test_create_over_http(served: Served) -> None:
    call = {
        "client-identifier": "e2e-1",
        "start-time": datetime.now().astimezone().isoformat(),
        "contact-numbers": ["+919812345670", "9812345671"],
    }
    body = {
        "api-version": "1.0",
        "security-id": DEMO_SECURITY_ID,
        "flow-id": DEMO_FLOW_ID,
        "calls": [call],
    }
    status, answer = http("POST", f"{served.url}/outbound/create", body)
    assert status == 200 and answer["api-response-message"] == "Success"
    # And the same bytes again are a repeat
    status, again = http("POST", f"{served.url}/outbound/create", body)
    assert status == 409 and again["request-id"] == answer["request-id"]


def test_wrong_secret_over_http(served: Served) -> None:
    body = {"api-version": "1.0", "security-id": "x" * 64, "flow-id": DEMO_FLOW_ID, "calls": [{}]}
    status, answer = http("POST", f"{served.url}/outbound/create", body)
    assert (status, answer["api-response-code"]) == (401, 202)


def test_openapi_document(served: Served) -> None:
    status, document = http("GET", f"{served.url}/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    assert "/outbound/create" in document["paths"]


def test_config_file_and_clean_shutdown(tmp_path: Any) -> None:
    from tests.conftest import config_document

    path = tmp_path / "outdial.json"
    path.write_text(json.dumps(config_document()))
    running = start_serve("--config", str(path))
    try:
        assert "demo-flow-id" not in running.banner
        status, _ = http("GET", f"{running.url}/health")
        assert status == 200
    finally:
        output = stop_serve(running)
    assert running.process.returncode == 0
    assert '"outdial stopped"' in output


def test_the_embedded_aws_is_reachable_from_other_processes(served: Served) -> None:
    # Given the endpoint serve prints, When another client lists the tables and reads a flow
    dynamodb = embedded_client(served, "dynamodb")
    # Then it sees the very tables and configuration the service uses
    assert {"outdial-config", "outdial-calls"} <= set(dynamodb.list_tables()["TableNames"])
    flow = dynamodb.get_item(TableName="outdial-config", Key={"pk": {"S": f"FLOW#{DEMO_FLOW_ID}"}})
    assert "Item" in flow
