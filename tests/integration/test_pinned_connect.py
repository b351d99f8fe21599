"""Each webhook connect goes to the address that was checked, with the name kept for TLS (SNI,
certificate) and Host; the name is resolved and checked again at every delivery (SPEC §10)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from outdial.adapters.gateways import GatewayUnavailable, HttpGatewayAdapter, Leg
from outdial.adapters.gateways.secrets import GatewayCredentials, GatewaySecrets
from outdial.adapters.webhooks import Delivery, WebhookClient
from outdial.models.config import HttpGateway

NAME = "hooks.example.test"

pytestmark = pytest.mark.usefixtures("loopback_egress")


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsReceiver:
    """An https receiver on 127.0.0.1 that notes the SNI and Host of each request."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.server_names: list[str | None] = []
        self.hosts: list[str | None] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.hosts.append(self.headers.get("Host"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda _s, name, _c: self.server_names.append(name)  # type: ignore[assignment]
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[TlsReceiver, ssl.SSLContext]]:
    cert, key = _certificate(tmp_path, NAME)
    receiver = TlsReceiver(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    yield receiver, trusting
    receiver.stop()


class Dns:
    """A resolver whose answers the test scripts, one per lookup."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers.pop(0)


def test_the_checked_address_is_dialled_with_the_name_kept(
    tls: tuple[TlsReceiver, ssl.SSLContext],
) -> None:
    receiver, trusting = tls
    dns = Dns(["127.0.0.1"])
    client = WebhookClient(deadline_seconds=5, resolver=dns, tls=trusting)
    # When a webhook goes to https://<name>:<port>/ whose name resolves to the receiver
    outcome = client.deliver(f"https://{NAME}:{receiver.port}/hook", b"{}", "t=1,v1=0", "e1")
    # Then it arrives over TLS verified for the name: SNI and Host carry the name, not the IP
    assert outcome is Delivery.DELIVERED
    assert receiver.server_names == [NAME]
    assert receiver.hosts == [f"{NAME}:{receiver.port}"]
    assert dns.lookups == [NAME]  # resolved once


def test_a_certificate_for_another_name_is_not_trusted(
    tls: tuple[TlsReceiver, ssl.SSLContext],
) -> None:
    receiver, trusting = tls
    client = WebhookClient(deadline_seconds=5, resolver=Dns(["127.0.0.1"]), tls=trusting)
    outcome = client.deliver(f"https://other.example.test:{receiver.port}/h", b"{}", "s", "e1")
    assert outcome is Delivery.RETRY
    assert receiver.hosts == []


def test_a_name_rebound_to_a_private_address_is_refused_at_the_next_delivery(
    tls: tuple[TlsReceiver, ssl.SSLContext],
) -> None:
    receiver, trusting = tls
    # Given a name that resolved to an allowed address, then to a private one (rebinding)
    dns = Dns(["127.0.0.1"], ["10.0.0.5"], [str(ipaddress.ip_address("::ffff:169.254.169.254"))])
    client = WebhookClient(deadline_seconds=5, resolver=dns, tls=trusting)
    url = f"https://{NAME}:{receiver.port}/hook"
    assert client.deliver(url, b"{}", "s", "e1") is Delivery.DELIVERED
    # When the next deliveries resolve it again, Then they are refused before any connection
    assert client.deliver(url, b"{}", "s", "e2") is Delivery.REJECTED
    assert client.deliver(url, b"{}", "s", "e3") is Delivery.REJECTED
    assert len(receiver.hosts) == 1 and len(dns.lookups) == 3


class _Token(GatewaySecrets):
    def get(self, secret_id: str) -> GatewayCredentials:
        return GatewayCredentials(token="tok", event_secret="e" * 32)


def test_an_http_gateway_is_dialled_at_the_checked_address_with_its_name(
    tls: tuple[TlsReceiver, ssl.SSLContext], tmp_path: Path
) -> None:
    receiver, _ = tls
    dns = Dns(["127.0.0.1"], ["10.0.0.5"])
    config = HttpGateway(
        gateway_id="gw",
        kind="http",
        url=f"https://{NAME}:{receiver.port}/legs",
        secret_id="outdial/gateways/gw",
    )
    pool = urllib3.PoolManager(ca_certs=str(tmp_path / "cert.pem"))
    adapter = HttpGatewayAdapter(config, secrets=_Token(), pool=pool, resolver=dns)
    leg = Leg("c#1#0", "c", 1, 0, "+918030000001", "+919812345670", {}, 30, "https://x/cb")
    # When a leg is placed, Then over TLS verified for the name, SNI and Host carrying it
    adapter.place(leg)
    assert receiver.server_names == [NAME]
    assert receiver.hosts == [f"{NAME}:{receiver.port}"]
    # And a later placement resolving to a private address (no allow-private-endpoint) is refused
    with pytest.raises(GatewayUnavailable, match=r"10\.0\.0\.5 is a private address"):
        adapter.place(leg)
    assert len(receiver.hosts) == 1
