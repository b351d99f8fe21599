"""Gateway credentials and flow security-ids in Secrets Manager (moto), cached with a TTL."""

from __future__ import annotations

import json
import socket
from typing import Any

import boto3
import pytest
from botocore.config import Config

from outdial.adapters.aws import client
from outdial.adapters.errors import AdapterError
from outdial.adapters.gateways.secrets import (
    FlowSecrets,
    GatewayCredentials,
    GatewaySecrets,
    SecretNotFound,
)
from tests.clock import Clock

SECRET_ID = "outdial/gateways/gw"
FLOW_ID = "AB12cd34"
SECURITY_ID = "S" * 32 + "e" * 32


@pytest.fixture
def sm(aws: Any) -> Any:
    """Secrets Manager (moto), empty."""
    return client("secretsmanager")


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


def put_gateway_secret(sm: Any, token: str = "tok-1", event_secret: str = "evs-1") -> None:
    body = json.dumps({"token": token, "event-secret": event_secret})
    try:
        sm.create_secret(Name=SECRET_ID, SecretString=body)
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=SECRET_ID, SecretString=body)


def versions(sm: Any, name: str) -> int:
    return len(sm.list_secret_version_ids(SecretId=name)["Versions"])


class TestGatewaySecrets:
    def test_reads_token_and_event_secret(self, sm: Any) -> None:
        put_gateway_secret(sm)
        assert GatewaySecrets().get(SECRET_ID) == GatewayCredentials("tok-1", "evs-1")

    def test_cached_for_the_ttl(self, sm: Any, clock: Clock) -> None:
        # Given credentials read once
        put_gateway_secret(sm, token="tok-1")
        secrets = GatewaySecrets(ttl_seconds=300, clock=clock)
        secrets.get(SECRET_ID)
        # When the secret is rotated
        put_gateway_secret(sm, token="tok-2")
        # Then the old value serves until the TTL passes, the new one after
        clock.now += 299
        assert secrets.get(SECRET_ID).token == "tok-1"
        clock.now += 2
        assert secrets.get(SECRET_ID).token == "tok-2"

    def test_invalidate_rereads_at_once(self, sm: Any, clock: Clock) -> None:
        put_gateway_secret(sm, token="tok-1")
        secrets = GatewaySecrets(clock=clock)
        secrets.get(SECRET_ID)
        put_gateway_secret(sm, token="tok-2")
        secrets.invalidate(SECRET_ID)
        assert secrets.get(SECRET_ID).token == "tok-2"

    def test_missing_secret(self, sm: Any) -> None:
        with pytest.raises(SecretNotFound):
            GatewaySecrets().get("nope")

    @pytest.mark.parametrize(
        "value",
        [
            "not json",
            "[]",
            json.dumps({"token": "t"}),
            json.dumps({"token": 5, "event-secret": "e"}),
        ],
    )
    def test_malformed_secret(self, sm: Any, value: str) -> None:
        sm.create_secret(Name=SECRET_ID, SecretString=value)
        with pytest.raises(AdapterError):
            GatewaySecrets().get(SECRET_ID)

    def test_binary_secret(self, sm: Any) -> None:
        sm.create_secret(Name=SECRET_ID, SecretBinary=b"\x00\x01")
        with pytest.raises(AdapterError, match="SecretString"):
            GatewaySecrets().get(SECRET_ID)

    def test_a_failure_is_not_cached(self, sm: Any) -> None:
        secrets = GatewaySecrets()
        with pytest.raises(SecretNotFound):
            secrets.get(SECRET_ID)
        put_gateway_secret(sm)
        assert secrets.get(SECRET_ID).token == "tok-1"

    def test_unreachable_secrets_manager(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given a Secrets Manager endpoint nobody listens on
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        client = boto3.client(
            "secretsmanager",
            region_name="ap-south-1",
            endpoint_url=f"http://127.0.0.1:{port}",
            config=Config(retries={"max_attempts": 1}, connect_timeout=1),
        )
        # When reading / Then our own error, not botocore's
        with pytest.raises(AdapterError):
            GatewaySecrets(client=client).get(SECRET_ID)


class TestFlowSecrets:
    def test_put_then_get(self, sm: Any) -> None:
        # Given a flow's security-id put / When read by another process (a fresh cache)
        FlowSecrets().put(FLOW_ID, SECURITY_ID)
        # Then it is there, under outdial/flows/<flow-id>
        assert FlowSecrets().get(FLOW_ID) == SECURITY_ID
        stored = sm.get_secret_value(SecretId=f"outdial/flows/{FLOW_ID}")["SecretString"]
        assert json.loads(stored) == {"security-id": SECURITY_ID}

    def test_put_again_unchanged_writes_no_version(self, sm: Any) -> None:
        FlowSecrets().put(FLOW_ID, SECURITY_ID)
        FlowSecrets().put(FLOW_ID, SECURITY_ID)
        assert versions(sm, f"outdial/flows/{FLOW_ID}") == 1

    def test_put_a_new_value_updates(self, sm: Any) -> None:
        FlowSecrets().put(FLOW_ID, SECURITY_ID)
        FlowSecrets().put(FLOW_ID, "N" * 64)
        assert FlowSecrets().get(FLOW_ID) == "N" * 64

    def test_put_refreshes_the_writers_cache(self, sm: Any) -> None:
        secrets = FlowSecrets()
        secrets.put(FLOW_ID, SECURITY_ID)
        assert secrets.get(FLOW_ID) == SECURITY_ID
        secrets.put(FLOW_ID, "N" * 64)
        assert secrets.get(FLOW_ID) == "N" * 64

    def test_get_is_cached(self, sm: Any, clock: Clock) -> None:
        FlowSecrets().put(FLOW_ID, SECURITY_ID)
        reader = FlowSecrets(clock=clock)
        assert reader.get(FLOW_ID) == SECURITY_ID
        sm.delete_secret(SecretId=f"outdial/flows/{FLOW_ID}", ForceDeleteWithoutRecovery=True)
        assert reader.get(FLOW_ID) == SECURITY_ID  # from the cache
        clock.now += 301
        with pytest.raises(SecretNotFound):
            reader.get(FLOW_ID)

    def test_unknown_flow(self, sm: Any) -> None:
        with pytest.raises(SecretNotFound):
            FlowSecrets().get("ZZ99yy88")

    def test_custom_prefix(self, sm: Any) -> None:
        secrets = FlowSecrets(prefix="stage/outdial/flows/")
        secrets.put(FLOW_ID, SECURITY_ID)
        assert secrets.name(FLOW_ID) == f"stage/outdial/flows/{FLOW_ID}"
        assert sm.describe_secret(SecretId=f"stage/outdial/flows/{FLOW_ID}")["Name"]

    def test_put_failure_is_an_adapter_error(self, sm: Any) -> None:
        # Given the flow's secret scheduled for deletion (Secrets Manager refuses to write it)
        FlowSecrets().put(FLOW_ID, SECURITY_ID)
        sm.delete_secret(SecretId=f"outdial/flows/{FLOW_ID}", RecoveryWindowInDays=7)
        # When put again / Then our own error, not botocore's
        with pytest.raises(AdapterError):
            FlowSecrets().put(FLOW_ID, "N" * 64)
