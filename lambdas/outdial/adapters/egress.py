"""Outbound HTTP to URLs that customers and operators name: checked, pinned and bounded.

A ``webhook-url`` or a gateway ``url`` is someone else's input, and the functions run inside
AWS: a URL naming the instance metadata service (169.254.169.254), the Lambda runtime API
(localhost:9001) or a private network would turn a webhook into a request of ours to them.

- ``https://`` only; ``http://`` never crosses the internet (loopback under ``outdial serve``,
  or private addresses for a gateway configured with ``allow-private-endpoint``).
- The host must not be, nor resolve to, a loopback, link-local, private, unique-local,
  multicast or reserved address (IPv4-mapped and 6to4 IPv6 are read as the IPv4 they carry).
  Loopback is allowed only under ``outdial serve`` (``allow_loopback``, a switch of this process
  that no environment variable can turn on), private addresses only by a gateway's explicit flag.
- The name is resolved once, every address checked, and the connection made to that checked
  address, with the name kept for TLS (SNI, certificate) and the ``Host`` header: a DNS answer
  that changes between the check and the connect (rebinding) reaches nothing new.
- ``post`` bounds a request by wall clock (connect, TLS, send, read), however slowly the peer
  drips its answer. Redirects are never followed.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

MAX_RESPONSE_BYTES = 64 * 1024  # a peer's reply is not read beyond this


class EgressRefused(Exception):
    """The URL, or an address its host resolves to, may not be reached."""


class Unresolvable(EgressRefused):
    """The host does not resolve (now): nothing can be said about where it points."""


class DeadlineExceeded(Exception):
    """The request ran past its wall-clock limit and was cut off."""


@dataclass(frozen=True)
class EgressPolicy:
    """Which non-public destinations one kind of request may reach."""

    allow_loopback: bool = False  # `outdial serve` only (see ``local_mode``)
    allow_private: bool = False  # a self-hosted gateway's explicit ``allow-private-endpoint``


_local = threading.Event()


def set_local_mode(enabled: bool = True) -> None:
    """``outdial serve`` turns this on: its demo and tests post to receivers on 127.0.0.1."""
    if enabled:
        _local.set()
    else:
        _local.clear()


def local_mode() -> bool:
    return _local.is_set()


def policy(*, allow_private: bool = False) -> EgressPolicy:
    """The policy of this process for a destination (``allow_private``: a gateway's flag)."""
    return EgressPolicy(allow_loopback=local_mode(), allow_private=allow_private)


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and what to call the host on the wire."""

    scheme: str
    host: str  # the name (or literal address) as written, lowercase, without brackets
    port: int
    path: str  # path and query, as sent in the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_target(url: str) -> Target:
    """The URL's parts, or ``EgressRefused`` for a scheme, host or form we never post to."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EgressRefused(f"not a usable URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise EgressRefused("must be an https:// URL")
    if not parts.hostname:
        raise EgressRefused("has no host")
    if parts.username is not None or parts.password is not None:
        raise EgressRefused("must not carry credentials (user:password@)")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80), path)


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped ``::ffff:a.b.c.d``, 6to4), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        return address.ipv4_mapped or address.sixtofour or address
    return address


def classify(address: IPAddress) -> str:
    """``public``, ``loopback``, ``private``, or why the address is never reachable."""
    address = _embedded_ipv4(address)
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (instance metadata lives there)"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified or address.is_reserved:
        return "reserved"
    if address.is_global:
        return "public"
    return "private"  # RFC 1918, unique-local fc00::/7, shared 100.64/10, documentation, ...


def check_address(address: IPAddress, scheme: str, rules: EgressPolicy) -> None:
    """``EgressRefused`` unless ``rules`` let a request of ``scheme`` reach ``address``."""
    kind = classify(address)
    if kind == "public":
        if scheme != "https":
            raise EgressRefused("must be an https:// URL (http:// would carry data in clear)")
        return
    if kind == "loopback" and rules.allow_loopback:
        return
    if kind == "private" and rules.allow_private:
        return
    raise EgressRefused(f"{address} is a {kind} address")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"{host} does not resolve: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def checked_address(
    target: Target, rules: EgressPolicy, resolver: Resolver = system_resolver
) -> str:
    """Resolve ``target``'s host once and check every address; the one to connect to.

    A host with any forbidden address is refused whole: which one a client would pick is not
    ours to guess."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(target.host.split("%")[0])
    except ValueError:
        literal = None
    names = [str(literal)] if literal else resolver(target.host, target.port)
    if not names:
        raise Unresolvable(f"{target.host} resolves to no address")
    for name in names:
        try:
            address = ipaddress.ip_address(name.split("%")[0])
        except ValueError:
            raise EgressRefused(f"{target.host} resolves to {name!r}, not an address") from None
        check_address(address, target.scheme, rules)
    return names[0]


def check_url(url: str, rules: EgressPolicy, resolver: Resolver = system_resolver) -> Target:
    """``parse_target`` and ``checked_address``: what ``config check`` runs."""
    target = parse_target(url)
    checked_address(target, rules, resolver)
    return target


@cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


def post(
    target: Target,
    address: str,
    body: bytes,
    headers: dict[str, str],
    *,
    deadline_seconds: float,
    connect_timeout: float,
    tls: ssl.SSLContext | None = None,
) -> Reply:
    """POST ``body`` to ``target`` at the checked ``address``, all within ``deadline_seconds``.

    Raises ``DeadlineExceeded`` when cut off, ``OSError`` (timeouts, refusals, TLS failures)
    or ``http.client.HTTPException`` (a garbled answer). One connection per request: it is
    closed afterwards, so nothing of one receiver's connection lingers for another.
    """
    started = time.monotonic()

    def remaining() -> float:
        left = deadline_seconds - (time.monotonic() - started)
        if left <= 0:
            raise DeadlineExceeded(f"no answer within {deadline_seconds:g} s")
        return left

    raw = socket.create_connection(
        (address, target.port), timeout=min(connect_timeout, remaining())
    )
    cut = threading.Event()

    def cut_off() -> None:
        # A blocked recv/send in the caller's thread returns at once once the socket is shut.
        cut.set()
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(remaining(), cut_off)
    watchdog.daemon = True
    watchdog.start()
    sock: Any = raw
    try:
        raw.settimeout(remaining())
        if target.scheme == "https":
            sock = (tls or _tls_context()).wrap_socket(raw, server_hostname=target.host)
        connection = http.client.HTTPConnection(target.host, target.port)
        connection.sock = sock
        connection.request(
            "POST", target.path, body=body, headers={**headers, "Host": target.host_header}
        )
        response = connection.getresponse()
        if cut.is_set():
            raise DeadlineExceeded(f"no answer within {deadline_seconds:g} s")
        try:
            data = response.read(MAX_RESPONSE_BYTES)
        except (OSError, http.client.HTTPException):
            data = b""  # the status is the answer; a body cut short changes nothing
        return Reply(response.status, data)
    except (OSError, http.client.HTTPException):
        if cut.is_set():
            raise DeadlineExceeded(f"no answer within {deadline_seconds:g} s") from None
        raise
    finally:
        watchdog.cancel()
        sock.close()
        raw.close()
