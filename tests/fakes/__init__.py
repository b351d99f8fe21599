"""Test doubles: local HTTP peers and X-Ray recording."""

from tests.fakes.aws import xray_recording
from tests.fakes.drip import DrippingReceiver
from tests.fakes.http_peer import HttpPeer, Recorded, Reply
from tests.fakes.in_flight import InFlight

__all__ = ["DrippingReceiver", "HttpPeer", "InFlight", "Recorded", "Reply", "xray_recording"]
