"""Fakes that tests share: peers over real sockets on 127.0.0.1, an in-process AWS."""

from tests.fakes.aws import xray_recording
from tests.fakes.http_peer import HttpPeer, Recorded, Reply

__all__ = ["HttpPeer", "Recorded", "Reply", "xray_recording"]
