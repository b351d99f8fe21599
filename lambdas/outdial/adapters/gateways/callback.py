"""A carrier's callback as it reached ``POST /gateway/events/{gateway-id}``: its parameters read
whatever the encoding (form, JSON, multipart), and the errors a callback may raise."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl

LEG_PARAMETER = "leg"  # the callback URL's query names the leg it reports on


class CallbackRefused(Exception):
    """A callback that is not the carrier's (bad signature, token or nonce): nothing is done."""


class CallbackMalformed(ValueError):
    """A callback whose body or query cannot be read."""


class OutcomeNotConfirmed(Exception):
    """An unsigned callback (Exotel) whose outcome the carrier's own lookup does not confirm
    yet: answered with a 5xx so the carrier posts it again; the state query is the backstop."""


@dataclass
class Callback:
    """A carrier's post to the events route: the decoded query, the headers (names lowercase),
    the raw body and its content type."""

    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    content_type: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def query_value(self, name: str) -> str | None:
        values = self.query.get(name) or []
        return values[-1] if values else None

    @property
    def leg_id(self) -> str:
        """The leg the callback URL names; CallbackRefused without one (not a URL we gave)."""
        leg_id = self.query_value(LEG_PARAMETER)
        if not leg_id:
            raise CallbackRefused("callback URL names no leg")
        return leg_id

    @cached_property
    def _params(self) -> list[tuple[str, str]]:
        return parse_params(self.body, self.content_type)

    def params(self) -> list[tuple[str, str]]:
        """The body's parameters in order (a name may repeat): form-encoded, JSON or multipart."""
        return self._params

    def param(self, name: str) -> str | None:
        """The last value of body parameter ``name``."""
        values = [value for key, value in self.params() if key == name]
        return values[-1] if values else None

    def multi_params(self) -> dict[str, list[str]]:
        """The body's parameters by name, each name's values in order."""
        grouped: dict[str, list[str]] = {}
        for key, value in self.params():
            grouped.setdefault(key, []).append(value)
        return grouped


def parse_params(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """A callback body's parameters; CallbackMalformed when it cannot be read."""
    media = content_type.split(";", 1)[0].strip().lower()
    try:
        if media == "application/json":
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise CallbackMalformed("JSON callback body must be an object")
            return [(str(k), _text(v)) for k, v in data.items()]
        if media == "multipart/form-data":
            return _multipart(body, content_type)
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as error:
        if isinstance(error, CallbackMalformed):
            raise
        raise CallbackMalformed(f"callback body unreadable: {error}") from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _multipart(body: bytes, content_type: str) -> list[tuple[str, str]]:
    if "boundary=" not in content_type:
        raise CallbackMalformed("multipart body without a boundary")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise CallbackMalformed("multipart body unreadable")
    params = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        params.append((name, payload.decode("utf-8") if isinstance(payload, bytes) else ""))
    return params
