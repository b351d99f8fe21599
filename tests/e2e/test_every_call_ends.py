"""SPEC §11 through a real `outdial serve`: a leg never reported ends UNKNOWN and its call FAILED
206 within its deadline plus one sweep; a placement that timed out yet was answered completes on
that number; balances, secrets and the dial dead-letter queue through the CLI against serve's
embedded AWS."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FLOW_ID, OTHER_FLOW_ID, OTHER_SECURITY_ID, SECURITY_ID, config_document
from tests.e2e.conftest import Served, http, outdial, start_serve, stop_serve
from tests.fakes import HttpPeer, Reply

pytestmark = pytest.mark.e2e

RING, MAX_CALL, GRACE, SWEEP = 0, 1, 5, 1  # a leg's deadline: 6 s; the sweeper: every second
CREDENTIALS = {FLOW_ID: SECURITY_ID, OTHER_FLOW_ID: OTHER_SECURITY_ID}


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpPeer]:
    with HttpPeer(default=Reply(204)) as peer:
        yield peer


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory, receiver: HttpPeer) -> Iterator[Served]:
    document = config_document()
    document["accounts"][0]["webhook-url"] = receiver.url_for("/hook")
    document["gateways"][0] |= {"ring-seconds": RING, "grace-seconds": GRACE}
    document["flows"][0] |= {"max-attempts": 1, "max-call-seconds": MAX_CALL}
    # The other flow keeps the default hour: its legs stay open for the whole module.
    path = Path(tmp_path_factory.mktemp("config")) / "outdial.json"
    path.write_text(json.dumps(document))
    served = start_serve(
        "--config", str(path), env_extra={"OUTDIAL_SWEEP_INTERVAL_SECONDS": str(SWEEP)}
    )
    yield served
    stop_serve(served)


def create(served: Served, *numbers: str, flow: str = FLOW_ID) -> str:
    body = {
        "api-version": "1.0",
        "security-id": CREDENTIALS[flow],
        "flow-id": flow,
        "calls": [
            {
                "client-identifier": f"e2e-{time.monotonic_ns()}",
                "start-time": datetime.now(UTC).isoformat(),
                "contact-numbers": list(numbers),
                "keys": [{"name": "$flow.key.name", "value": "Ravi"}],
            }
        ],
    }
    status, answer = http("POST", f"{served.url}/outbound/create", body)
    assert status == 200, answer
    return str(answer["call-details"][0]["phonon-uuid"])


def call_of(served: Served, phonon_uuid: str, flow: str = FLOW_ID) -> dict[str, Any]:
    import urllib.request

    headers = {"x-flow-id": flow, "x-security-id": CREDENTIALS[flow]}
    request = urllib.request.Request(f"{served.url}/outbound/calls/{phonon_uuid}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["call"]  # type: ignore[no-any-return]


def wait_for(served: Served, phonon_uuid: str, status: str, timeout: float, **kw: Any) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = call_of(served, phonon_uuid, **kw)
        if view["status"] == status:
            return view
        time.sleep(0.2)
    raise AssertionError(f"{phonon_uuid} not {status}: {call_of(served, phonon_uuid, **kw)}")


def webhook_for(receiver: HttpPeer, phonon_uuid: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for request in receiver.requests:
            if request.json().get("phonon-uuid") == phonon_uuid:
                return request.json()
        time.sleep(0.2)
    raise AssertionError(f"no webhook for {phonon_uuid}")


def balance(served: Served) -> Any:
    result = outdial("balance", "show", "acme", served=served)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["balance"]


def test_a_leg_never_reported_fails_206_within_its_deadline_and_one_sweep(
    serving: Served, receiver: HttpPeer
) -> None:
    # Given a call whose first number the gateway takes and never reports (last digit 6)
    started = time.monotonic()
    phonon_uuid = create(serving, "9812345676", "9812345670")
    assert call_of(serving, phonon_uuid)["status"] in ("QUEUED", "DIALING")
    # Then within its deadline plus one sweep it ends FAILED 206, its leg UNKNOWN
    view = wait_for(serving, phonon_uuid, "FAILED", timeout=RING + MAX_CALL + GRACE + SWEEP + 10)
    assert time.monotonic() - started >= RING + MAX_CALL + GRACE - 1
    assert view["error-code"] == 206
    [attempt] = view["attempts"]
    assert [(leg["number"], leg["outcome"]) for leg in attempt["legs"]] == [
        ("+919812345676", "UNKNOWN")
    ]
    # And the customer is told
    hook = webhook_for(receiver, phonon_uuid)
    assert (hook["status"], hook["error-code"]) == ("FAILED", 206)


def test_a_timed_out_placement_that_is_answered_completes_on_that_number(
    serving: Served,
) -> None:
    # Given a first number whose placing request times out, yet rings and is answered (digit 5)
    phonon_uuid = create(serving, "9812345675", "9812345670")
    # Then the call completes on that number, and the later number is never dialled
    view = wait_for(serving, phonon_uuid, "COMPLETED", timeout=30)
    assert view["connected-number"] == "+919812345675"
    [attempt] = view["attempts"]
    assert [(leg["number"], leg["outcome"]) for leg in attempt["legs"]] == [
        ("+919812345675", "ANSWERED")
    ]


def test_balance_add_and_show(serving: Served) -> None:
    before = balance(serving)
    result = outdial("balance", "add", "acme", "50", served=serving)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"account-id": "acme", "balance": before + 50}
    assert outdial("balance", "add", "acme", "-50", served=serving).returncode == 0
    assert balance(serving) == before
    missing = outdial("balance", "show", "nobody", served=serving)
    assert missing.returncode == 1 and "no account 'nobody'" in missing.stderr


def test_secret_put(serving: Served) -> None:
    import botocore.session

    value = {"token": "tok", "event-secret": "e" * 32}
    result = outdial("secret", "put", "outdial/gateways/gw", json.dumps(value), served=serving)
    assert result.returncode == 0, result.stderr
    client = botocore.session.get_session().create_client(
        "secretsmanager",
        endpoint_url=serving.banner["aws-endpoint"],
        region_name="ap-south-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stored = client.get_secret_value(SecretId="outdial/gateways/gw")["SecretString"]
    assert json.loads(stored) == value


def test_a_dead_lettered_outcome_is_redriven_and_ends_its_call(serving: Served) -> None:
    import botocore.session

    # Given a call whose leg is open for an hour (the other flow), and the gateway's outcome
    # for it sitting in the dial dead-letter queue
    phonon_uuid = create(serving, "9812345676", flow=OTHER_FLOW_ID)
    deadline = time.monotonic() + 20
    while not call_of(serving, phonon_uuid, flow=OTHER_FLOW_ID)["attempts"]:
        assert time.monotonic() < deadline, "the leg was never placed"
        time.sleep(0.2)
    view = call_of(serving, phonon_uuid, flow=OTHER_FLOW_ID)
    assert view["status"] == "DIALING" and view["attempts"][0]["legs"][0]["outcome"] is None
    sqs = botocore.session.get_session().create_client(
        "sqs",
        endpoint_url=serving.banner["aws-endpoint"],
        region_name="ap-south-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    dlq = sqs.get_queue_url(QueueName="outdial-dial-dlq")["QueueUrl"]
    now = datetime.now(UTC).isoformat()
    event = {
        "event-id": "late-1",
        "leg-id": f"{phonon_uuid}-a1-n0",
        "outcome": "ANSWERED",
        "duration-seconds": 12,
        "started-at": now,
        "ended-at": now,
    }
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"gateway-id": "sim", "event": event}))
    # When the operator redrives the dial queue
    result = outdial("dial-queue", "redrive", served=serving)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"moved": 1, "outcomes-moved": 0}
    # Then the outcome reaches the dialer and the call ends by the rules
    view = wait_for(serving, phonon_uuid, "COMPLETED", timeout=20, flow=OTHER_FLOW_ID)
    assert view["duration-seconds"] == 12
