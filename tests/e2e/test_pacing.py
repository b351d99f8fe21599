"""Pacing through `outdial serve`: a gateway's calls-per-second holds across every dialer, and a
burst waits its turn instead of failing (SPEC §8)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import FLOW_ID, SECURITY_ID, config_document
from tests.e2e.conftest import Served, http, start_serve, stop_serve

pytestmark = pytest.mark.e2e

CALLS = 40  # eight seconds' worth at the gateway's pace, all due at once
CPS = 5


@pytest.fixture(scope="module")
def paced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    document = config_document()
    document["flows"][0]["max-attempts"] = 1
    document["gateways"] = [
        {"gateway-id": "sim", "kind": "simulator", "ring-seconds": 0, "calls-per-second": CPS}
    ]
    path = Path(tmp_path_factory.mktemp("paced")) / "outdial.json"
    path.write_text(json.dumps(document))
    served = start_serve("--config", str(path))
    yield served
    stop_serve(served)


def _placements(served: Served) -> list[datetime]:
    """When the simulator placed each leg, as it logs it (threads may share a line)."""
    text = "".join(served.output)
    return [datetime.fromisoformat(m) for m in re.findall(r'"placed_at":\s*"([^"]+)"', text)]


def test_a_burst_is_placed_at_the_gateways_pace_and_none_fails(paced: Served) -> None:
    # Given 40 calls due at once on a gateway allowed 5 calls a second
    body = {
        "api-version": "1.0",
        "security-id": SECURITY_ID,
        "flow-id": FLOW_ID,
        "calls": [
            {
                "client-identifier": f"burst-{i}",
                "start-time": datetime.now(UTC).isoformat(),
                "contact-numbers": [f"+9198120{i:04d}0"],
                "keys": [{"name": "$flow.key.name", "value": "Ravi"}],
            }
            for i in range(CALLS)
        ],
    }
    status, answer = http("POST", f"{paced.url}/outbound/create", body)
    assert status == 200, answer
    request_id = answer["request-id"]
    # When the dialers work through them
    deadline = time.monotonic() + 120
    while True:
        statuses = _statuses(paced, request_id)
        if all(s not in ("SCHEDULED", "QUEUED", "DIALING") for s in statuses):
            break
        assert time.monotonic() < deadline, Counter(statuses)
        time.sleep(1)
    # Then every call connected: waiting for pace never failed one
    assert Counter(statuses) == {"COMPLETED": CALLS}
    # And the simulator was handed at most 5 legs in any second, over at least 7 seconds
    placed = _placements(paced)
    assert len(placed) == CALLS
    per_second = Counter(int(moment.timestamp()) for moment in placed)
    assert max(per_second.values()) <= CPS, per_second
    span = max(per_second) - min(per_second)
    assert span >= CALLS // CPS - 1, per_second
    print(f"{CALLS} legs placed over {span + 1} seconds: {CALLS / (span + 1):.2f} per second")


def _statuses(served: Served, request_id: str) -> list[str]:
    import urllib.request

    request = urllib.request.Request(
        f"{served.url}/outbound/requests/{request_id}",
        headers={"x-flow-id": FLOW_ID, "x-security-id": SECURITY_ID},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data = json.loads(response.read())
    return [call["status"] for call in data["calls"]]
