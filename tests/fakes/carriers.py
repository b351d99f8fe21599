"""Local fakes of the Twilio, Plivo and Exotel voice APIs, built from their public docs.

Each fake is an ``HttpPeer`` on 127.0.0.1 that answers the carrier's placing and lookup
endpoints, checks Basic auth, honours a calls-per-second limit (HTTP 429; Twilio's body carries
its error 20429), records every placement with the moment it arrived, and, when a call "ends",
posts the carrier's callback to the URL it was given, signed the carrier's way by the carrier's
own SDK (Exotel signs nothing). Callback URLs name outdial's public ``callback-base-url``;
``deliver_to`` maps them onto the server actually listening (a test's ``outdial serve``), as a
load balancer would, while the signature still covers the public URL; without it, no callback is
posted (the fake's calls still end, for lookups).

Outcome by the dialled number's last digit, like the simulator: ``7`` busy, ``8`` no-answer,
``4`` failed, ``9`` refused at placing (HTTP 400), anything else answered for ``talk_seconds``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from plivo.utils.signature_v3 import construct_post_url, get_signature_v3
from twilio.request_validator import RequestValidator

from tests.fakes.http_peer import HttpPeer, Recorded, Reply

OUTCOME_BY_DIGIT = {"7": "busy", "8": "no-answer", "4": "failed"}
REFUSED_DIGIT = "9"


@dataclass
class Placement:
    """One call the fake accepted (or refused, or rate-limited)."""

    at: float  # time.time() when the request arrived
    params: dict[str, Any]
    sid: str | None
    answer: int


@dataclass
class FakeCall:
    sid: str
    to: str
    status: str = "queued"
    duration: int | None = None
    callback_url: str = ""
    ended_at: float | None = None


@dataclass
class FakeCarrier:
    """Common machinery; ``FakeTwilio``, ``FakePlivo`` and ``FakeExotel`` speak each API."""

    user: str
    password: str
    calls_per_second: int = 100
    ring_seconds: float = 0.3
    talk_seconds: int = 2
    # Maps a callback URL onto the server to post it to; None: callbacks are not posted.
    deliver_to: Callable[[str], str] | None = None
    placements: list[Placement] = field(default_factory=list)
    calls: dict[str, FakeCall] = field(default_factory=dict)
    callbacks: list[tuple[str, int]] = field(default_factory=list)  # (url, outdial's status)
    peer: HttpPeer = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _per_second: dict[int, int] = field(default_factory=dict)
    _timers: list[threading.Timer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.peer = HttpPeer(responder=self._respond)

    def __enter__(self) -> FakeCarrier:
        self.peer.start()
        return self

    def __exit__(self, *_: object) -> None:
        for timer in self._timers:
            timer.cancel()
        self.peer.stop()

    @property
    def url(self) -> str:
        return self.peer.url

    # --- what each carrier defines ------------------------------------------------------

    def route(self, request: Recorded) -> Reply | None:
        raise NotImplementedError

    def callback_request(self, call: FakeCall) -> tuple[bytes, dict[str, str]]:
        raise NotImplementedError

    # --- shared -------------------------------------------------------------------------

    def _respond(self, request: Recorded) -> Reply:
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if request.header("Authorization") != f"Basic {expected}":
            return Reply.json(401, {"message": "Authenticate"})
        return self.route(request) or Reply.json(404, {"message": "not found"})

    def admit(self) -> bool:
        """Count a placing request in its second; False above calls-per-second."""
        with self._lock:
            second = int(time.time())
            self._per_second[second] = self._per_second.get(second, 0) + 1
            return self._per_second[second] <= self.calls_per_second

    def start_call(self, to: str, callback_url: str) -> FakeCall | None:
        """A new call to ``to``; None when its number is refused."""
        if to.endswith(REFUSED_DIGIT):
            return None
        call = FakeCall(sid=uuid.uuid4().hex, to=to, callback_url=callback_url)
        with self._lock:
            self.calls[call.sid] = call
        outcome = OUTCOME_BY_DIGIT.get(to[-1:], "completed")
        talk = self.talk_seconds if outcome == "completed" else 0
        timer = threading.Timer(self.ring_seconds + talk, self._end, (call, outcome, talk))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()
        return call

    def _end(self, call: FakeCall, outcome: str, talk: int) -> None:
        call.status, call.duration, call.ended_at = outcome, talk, time.time()
        if call.callback_url and self.deliver_to is not None:
            self.post_callback(call)

    def post_callback(self, call: FakeCall) -> int:
        """Post ``call``'s callback to outdial; outdial's HTTP status."""
        body, headers = self.callback_request(call)
        return self.deliver(call.callback_url, body, headers)

    def deliver(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        assert self.deliver_to is not None, "callbacks go nowhere but where deliver_to says"
        request = urllib.request.Request(
            self.deliver_to(url), data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status = int(response.status)
        except urllib.error.HTTPError as error:
            status = error.code
        self.callbacks.append((url, status))
        return status

    def record(self, params: dict[str, Any], sid: str | None, answer: int) -> None:
        with self._lock:
            self.placements.append(Placement(time.time(), params, sid, answer))

    @property
    def placed(self) -> list[Placement]:
        """Placements the fake accepted."""
        return [p for p in self.placements if p.sid]


def _form(request: Recorded) -> dict[str, str]:
    return dict(parse_qsl(request.body.decode(), keep_blank_values=True))


class FakeTwilio(FakeCarrier):
    """``/2010-04-01/Accounts/{sid}/Calls.json`` and ``/Calls/{CallSid}.json``."""

    def route(self, request: Recorded) -> Reply | None:
        base = f"/2010-04-01/Accounts/{self.user}/Calls"
        if request.method == "POST" and request.path == f"{base}.json":
            if not self.admit():
                self.record(_form(request), None, 429)
                return Reply.json(
                    429, {"code": 20429, "message": "Too Many Requests", "status": 429}
                )
            params = _form(request)
            call = self.start_call(params.get("To", ""), params.get("StatusCallback", ""))
            if call is None:
                self.record(params, None, 400)
                return Reply.json(400, {"code": 21217, "message": "Phone number is not valid"})
            self.record(params, call.sid, 201)
            return Reply.json(201, {"sid": call.sid, "status": "queued", "to": call.to})
        if request.method == "GET" and request.path.startswith(f"{base}/"):
            sid = request.path[len(base) + 1 :].removesuffix(".json")
            call = self.calls.get(sid)
            if call is None:
                return Reply.json(404, {"code": 20404, "message": "not found"})
            return Reply.json(
                200,
                {
                    "sid": call.sid,
                    "status": call.status,
                    "duration": None if call.duration is None else str(call.duration),
                    "end_time": _rfc2822(call.ended_at),
                },
            )
        return None

    def callback_params(self, call: FakeCall, status: str | None = None) -> dict[str, str]:
        return {
            "CallSid": call.sid,
            "AccountSid": self.user,
            "To": call.to,
            "CallStatus": status or call.status,
            "CallDuration": str(call.duration or 0),
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
            "Timestamp": _rfc2822(call.ended_at or time.time()) or "",
            "CallbackSource": "call-progress-events",
            "SequenceNumber": "0",
        }

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.password).compute_signature(url, params))

    def callback_request(self, call: FakeCall) -> tuple[bytes, dict[str, str]]:
        params = self.callback_params(call)
        return urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": self.sign(call.callback_url, params),
        }


class FakePlivo(FakeCarrier):
    """``/v1/Account/{auth_id}/Call/`` and ``/Call/{call_uuid}/``."""

    def route(self, request: Recorded) -> Reply | None:
        base = f"/v1/Account/{self.user}/Call/"
        if request.method == "POST" and request.path == base:
            params = request.json()
            if not self.admit():
                self.record(params, None, 429)
                return Reply.json(429, {"error": "too many requests"})
            call = self.start_call(str(params.get("to", "")), str(params.get("hangup_url", "")))
            if call is None:
                self.record(params, None, 400)
                return Reply.json(400, {"error": "invalid destination number"})
            self.record(params, call.sid, 201)
            # A call to one destination: its request uuid is its call uuid.
            return Reply.json(
                201, {"api_id": uuid.uuid4().hex, "message": "call fired", "request_uuid": call.sid}
            )
        if request.method == "GET" and request.path.startswith(base):
            call = self.calls.get(request.path[len(base) :].strip("/"))
            if call is None or call.ended_at is None:
                return Reply.json(404, {"error": "call not found"})
            return Reply.json(
                200,
                {
                    "call_uuid": call.sid,
                    "call_state": {"completed": "ANSWER"}.get(
                        call.status, call.status.upper().replace("-", "_")
                    ),
                    "bill_duration": call.duration,
                    "call_duration": call.duration,
                    "end_time": _plivo_time(call.ended_at),
                    "to_number": call.to,
                },
            )
        return None

    def callback_params(self, call: FakeCall, status: str | None = None) -> dict[str, str]:
        return {
            "CallUUID": call.sid,
            "RequestUUID": call.sid,
            "CallStatus": status or call.status,
            "Duration": str(call.duration or 0),
            "BillDuration": str(call.duration or 0),
            "HangupCause": "NORMAL_CLEARING",
            "To": call.to.lstrip("+"),
            "Direction": "outbound",
            "Event": "Hangup",
            "EndTime": _plivo_time(call.ended_at or time.time()),
        }

    def sign(self, url: str, params: dict[str, str], nonce: str) -> str:
        base = construct_post_url(url, dict(params)).decode("utf-8")
        signature = get_signature_v3(self.password.encode(), base, nonce.encode())
        return signature.decode() if isinstance(signature, bytes) else str(signature)

    def callback_request(self, call: FakeCall) -> tuple[bytes, dict[str, str]]:
        params = self.callback_params(call)
        nonce = uuid.uuid4().hex
        return urlencode(params).encode(), {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Plivo-Signature-V3": self.sign(call.callback_url, params, nonce),
            "X-Plivo-Signature-V3-Nonce": nonce,
        }


@dataclass
class FakeExotel(FakeCarrier):
    """``/v1/Accounts/{sid}/Calls/connect.json`` and ``/Calls/{CallSid}.json``.

    The account sid is ``account``; Basic auth is the api key and token."""

    account: str = "exo-account"
    encoding: str = "json"  # of callbacks: json, form or multipart

    def route(self, request: Recorded) -> Reply | None:
        base = f"/v1/Accounts/{self.account}/Calls"
        if request.method == "POST" and request.path == f"{base}/connect.json":
            params = _form(request)
            if not self.admit():
                self.record(params, None, 429)
                return Reply.json(429, {"RestException": {"Status": 429, "Message": "Too many"}})
            call = self.start_call(params.get("From", ""), params.get("StatusCallback", ""))
            if call is None:
                self.record(params, None, 400)
                return Reply.json(400, {"RestException": {"Status": 400, "Message": "Bad From"}})
            self.record(params, call.sid, 200)
            return Reply.json(200, {"Call": {"Sid": call.sid, "Status": "in-progress"}})
        if request.method == "GET" and request.path.startswith(f"{base}/"):
            sid = request.path[len(base) + 1 :].removesuffix(".json")
            call = self.calls.get(sid)
            if call is None:
                return Reply.json(404, {"RestException": {"Status": 404}})
            return Reply.json(
                200,
                {
                    "Call": {
                        "Sid": call.sid,
                        "Status": call.status,
                        "Duration": call.duration,
                        "To": call.to,
                    }
                },
            )
        return None

    def callback_params(self, call: FakeCall, status: str | None = None) -> dict[str, str]:
        return {
            "CallSid": call.sid,
            "Status": status or call.status,
            "DateUpdated": _plivo_time(call.ended_at or time.time()),
            "RecordingUrl": "",
        }

    def callback_request(self, call: FakeCall) -> tuple[bytes, dict[str, str]]:
        return encode_exotel(self.callback_params(call), self.encoding)


def encode_exotel(params: dict[str, str], encoding: str) -> tuple[bytes, dict[str, str]]:
    """A callback body in one of the encodings Exotel uses."""
    if encoding == "json":
        return json.dumps(params).encode(), {"Content-Type": "application/json"}
    if encoding == "multipart":
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in params.items()
        ]
        body = ("".join(parts) + f"--{boundary}--\r\n").encode()
        return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return urlencode(params).encode(), {"Content-Type": "application/x-www-form-urlencoded"}


def _rfc2822(moment: float | None) -> str | None:
    if moment is None:
        return None
    return format_datetime(datetime.fromtimestamp(moment, UTC))


def _plivo_time(moment: float | None) -> str:
    if moment is None:
        return ""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")
