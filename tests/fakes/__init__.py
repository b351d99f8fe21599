"""Fakes that tests share: peers over real sockets on 127.0.0.1, an in-process AWS."""

from tests.fakes.aws import mocked_aws, xray_recording
from tests.fakes.drip import DrippingReceiver
from tests.fakes.http_peer import HttpPeer, Recorded, Reply

__all__ = ["DrippingReceiver", "HttpPeer", "Recorded", "Reply", "mocked_aws", "xray_recording"]
