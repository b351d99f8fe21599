"""SPEC §12: traces and logs never carry phone numbers, keys or secrets (numbers are masked).

A full call lifecycle runs through the Lambda handlers on moto with X-Ray recording: accepted,
queried, dialled (two legs: busy, then answered), settled, its webhook delivered; then every
log line and every trace document is searched for the call's numbers, its key value and the
flow's security-id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from outdial.adapters.gateways.secrets import FlowSecrets, shared_flow_secrets
from outdial.adapters.webhook_client import WebhookClient
from outdial.adapters.webhook_queue import WebhookQueue
from outdial.handlers import webhooks
from outdial.logic.notify import NotifyServices
from outdial.models.phone import mask
from tests.conftest import FLOW_ID, SECURITY_ID, api_event, call, create_body, invoke
from tests.fakes import HttpPeer, Reply, xray_recording
from tests.integration.dialing import Harness
from tests.integration.webhook_queue import event_of, handle, receive
from tests.log_capture import log_lines

BUSY, ANSWERS = "+919812345677", "+919812345671"  # the simulator: last digit 7 is BUSY
KEY_VALUE = "Priya-Ramanathan-4417"
HEADERS = {"x-flow-id": FLOW_ID, "x-security-id": SECURITY_ID}

pytestmark = pytest.mark.usefixtures("loopback_egress")


def forms(number: str) -> list[str]:
    """Every way the number may be written: E.164, with the country code, national."""
    return [number, number[1:], number[3:]]


@pytest.fixture
def receiver(
    configured: Any, apply: Any, config_doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[HttpPeer]:
    with HttpPeer(default=Reply(204)) as peer:
        config_doc["accounts"][0]["webhook-url"] = peer.url_for("/hook")
        config_doc["accounts"][0]["phone-whitelist"] = [BUSY, ANSWERS]
        shared_flow_secrets.cache_clear()
        apply(config_doc)
        FlowSecrets().put(FLOW_ID, SECURITY_ID)
        made = webhooks.WebhookServices(
            notify=NotifyServices(client=WebhookClient(deadline_seconds=2)), queue=WebhookQueue()
        )
        monkeypatch.setattr(webhooks, "services", lambda: made)
        yield peer
    shared_flow_secrets.cache_clear()


def test_a_whole_lifecycle_leaves_no_number_key_or_secret_in_logs_or_traces(
    receiver: HttpPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = Harness().install(monkeypatch)
    with xray_recording(monkeypatch) as recorder, log_lines() as lines:
        segment = recorder.begin_segment("lifecycle")
        # Given a call accepted (api), looked at (GET, pull), refused in TEST for a stranger
        body = create_body(
            [call(**{"contact-numbers": [BUSY[3:], ANSWERS]}, keys=[_key()])],
        )
        status, accepted = invoke(api_event("POST", "/outbound/create", body))
        assert status == 200, accepted
        phonon_uuid = accepted["call-details"][0]["phonon-uuid"]
        stranger = create_body([call(keys=[_key()])], **{"api-version": "TEST"})
        stranger["calls"][0]["contact-numbers"] = ["+919812345699"]
        invoke(api_event("POST", "/outbound/create", stranger))
        # When it is dialled to its end and its webhook delivered
        harness.settle()
        status, shown = invoke(api_event("GET", f"/outbound/calls/{phonon_uuid}", headers=HEADERS))
        assert (
            shown["call"]["status"] == "COMPLETED" and shown["call"]["connected-number"] == ANSWERS
        )
        invoke(
            api_event(
                "POST",
                "/outbound/pull",
                {"security-id": SECURITY_ID, "flow-id": FLOW_ID, "phonon-uuids": [phonon_uuid]},
            )
        )
        assert handle(event_of(receive())) == []
        assert len(receiver.requests) == 1
        recorder.end_segment()
        trace = json.dumps(segment.to_dict(), default=str)

    logs = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    # (the lifecycle did log and trace: the search below is over real output)
    assert '"leg placed"' in logs and '"webhook attempt"' in logs
    assert '"## handler"' in trace and '"## webhook.deliver"' in trace
    # Then neither holds a number in any form, the key's value or the security-id
    for secret in [*forms(BUSY), *forms(ANSWERS), "+919812345699", KEY_VALUE, SECURITY_ID]:
        assert secret not in logs, secret
        assert secret not in trace, secret
    # And numbers that are logged are masked, country code and last four digits kept
    assert mask(ANSWERS) == "+91******5671" and mask(ANSWERS) in logs


def _key() -> dict[str, str]:
    return {"name": "$flow.key.name", "value": KEY_VALUE}
