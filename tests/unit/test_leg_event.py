"""Gateway outcome events: the JSON a gateway posts to ``POST /gateway/events/{gateway-id}``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from outdial.adapters.gateways.base import REPORTABLE_OUTCOMES, LegEvent, LegOutcome

IST = timezone(timedelta(hours=5, minutes=30))


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event-id": "evt-1",
        "leg-id": "call-1#1#0",
        "outcome": "ANSWERED",
        "duration-seconds": 42,
        "started-at": "2026-12-01T10:30:00+05:30",
        "ended-at": "2026-12-01T05:01:00Z",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not ...}


class TestParse:
    def test_a_gateway_event(self) -> None:
        # Given a gateway's event body / When parsed for the gateway of the path
        event = LegEvent.from_json("gw", json.dumps(body()).encode())
        # Then every field is read, timestamps aware with their offsets
        assert event == LegEvent(
            gateway_id="gw",
            leg_id="call-1#1#0",
            outcome=LegOutcome.ANSWERED,
            duration_seconds=42,
            started_at=datetime(2026, 12, 1, 10, 30, tzinfo=IST),
            ended_at=datetime(2026, 12, 1, 5, 1, tzinfo=UTC),
            event_id="evt-1",
        )

    def test_unknown_fields_are_ignored(self) -> None:
        event = LegEvent.from_json("gw", json.dumps(body(carrier="x")))
        assert event.event_id == "evt-1"

    @pytest.mark.parametrize("outcome", sorted(REPORTABLE_OUTCOMES))
    def test_every_outcome(self, outcome: LegOutcome) -> None:
        event = LegEvent.from_json("gw", json.dumps(body(outcome=outcome.value)))
        assert event.outcome is outcome

    def test_unknown_is_ours_to_say_not_a_gateways(self) -> None:
        with pytest.raises(ValueError, match="outcome"):
            LegEvent.from_json("gw", json.dumps(body(outcome="UNKNOWN")))

    @pytest.mark.parametrize(
        "raw",
        [
            b"{not json",
            b"\xff\xfe",
            b"[]",
            b'"text"',
            json.dumps(body(**{"event-id": ...})).encode(),
            json.dumps(body(**{"leg-id": ...})).encode(),
            json.dumps(body(**{"ended-at": ...})).encode(),
            json.dumps(body(outcome="RINGING")).encode(),
            json.dumps(body(outcome="answered")).encode(),
            json.dumps(body(outcome=["ANSWERED"])).encode(),
            json.dumps(body(**{"duration-seconds": -1})).encode(),
            json.dumps(body(**{"duration-seconds": 1.5})).encode(),
            json.dumps(body(**{"duration-seconds": "5"})).encode(),
            json.dumps(body(**{"duration-seconds": True})).encode(),
            json.dumps(body(**{"event-id": ""})).encode(),
            json.dumps(body(**{"event-id": 7})).encode(),
            json.dumps(body(**{"leg-id": "x" * 257})).encode(),
            json.dumps(body(**{"started-at": "2026-12-01T10:30:00"})).encode(),  # no offset
            json.dumps(body(**{"started-at": "yesterday"})).encode(),
            json.dumps(body(**{"started-at": 1764567000})).encode(),
            json.dumps(body(**{"ended-at": "2026-12-01T04:00:00Z"})).encode(),  # before start
        ],
    )
    def test_bad_bodies_raise_value_error(self, raw: bytes) -> None:
        with pytest.raises(ValueError):
            LegEvent.from_json("gw", raw)


class TestRender:
    def test_round_trip(self) -> None:
        event = LegEvent.from_json("gw", json.dumps(body()))
        assert LegEvent.from_json("gw", event.to_json()) == event

    def test_shape(self) -> None:
        event = LegEvent.from_json("gw", json.dumps(body()))
        assert json.loads(event.to_json()) == {
            "event-id": "evt-1",
            "leg-id": "call-1#1#0",
            "outcome": "ANSWERED",
            "duration-seconds": 42,
            "started-at": "2026-12-01T10:30:00+05:30",
            "ended-at": "2026-12-01T05:01:00+00:00",
        }

    def test_naive_timestamps_are_refused(self) -> None:
        with pytest.raises(ValueError):
            LegEvent(
                gateway_id="gw",
                leg_id="l",
                outcome=LegOutcome.BUSY,
                duration_seconds=0,
                started_at=datetime(2026, 1, 1),
                ended_at=datetime(2026, 1, 1),
                event_id="e",
            )
