"""The simulated gateway: SPEC §4's magic last digits, reported as a gateway event would be."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest

from outdial.adapters.gateways import (
    HttpGatewayAdapter,
    SimulatorGatewayAdapter,
    build_gateway,
)
from outdial.adapters.gateways.base import (
    GatewayRefused,
    GatewayUnavailable,
    Leg,
    LegEvent,
    LegOutcome,
)
from outdial.adapters.gateways.secrets import GatewaySecrets
from outdial.models.config import HttpGateway, SimulatorGateway

NOW = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


def leg(to: str = "+919812345670", leg_id: str = "call-1#1#0") -> Leg:
    return Leg(
        leg_id=leg_id,
        call_id="call-1",
        attempt=1,
        number_index=0,
        from_did="+918030000001",
        to_number=to,
        variables={"$flow.key.name": "Asha"},
        ring_seconds=30,
        callback_url=None,
    )


class Sink:
    """Collects what the simulator emits."""

    def __init__(self) -> None:
        self.emitted: list[tuple[LegEvent, float]] = []

    def __call__(self, event: LegEvent, delay: float) -> None:
        self.emitted.append((event, delay))


def simulator(ring_seconds: float = 2, sink: Sink | None = None) -> SimulatorGatewayAdapter:
    config = SimulatorGateway(gateway_id="sim", kind="simulator", ring_seconds=ring_seconds)
    return SimulatorGatewayAdapter(config, sink if sink is not None else Sink(), clock=lambda: NOW)


class TestOutcomes:
    @pytest.mark.parametrize("digit", list("01234"))
    def test_other_digits_answer_and_talk_five_seconds(self, digit: str) -> None:
        # Given a simulator ringing 2 s
        sink = Sink()
        gateway = simulator(ring_seconds=2, sink=sink)
        # When a leg to a number ending in digit is placed
        gateway.place(leg(to=f"+91981234567{digit}"))
        # Then it is answered, talks 5 s, and the event is due when the call ends
        [(event, delay)] = sink.emitted
        assert event.outcome is LegOutcome.ANSWERED
        assert event.duration_seconds == 5
        assert delay == 7
        assert (event.started_at, event.ended_at) == (NOW, NOW + timedelta(seconds=7))

    @pytest.mark.parametrize(
        ("digit", "outcome"), [("7", LegOutcome.BUSY), ("8", LegOutcome.NO_ANSWER)]
    )
    def test_seven_busy_eight_no_answer(self, digit: str, outcome: LegOutcome) -> None:
        sink = Sink()
        simulator(ring_seconds=2, sink=sink).place(leg(to=f"+91981234567{digit}"))
        [(event, delay)] = sink.emitted
        assert event.outcome is outcome
        assert event.duration_seconds == 0
        assert delay == 2
        assert event.ended_at == NOW + timedelta(seconds=2)

    def test_nine_is_refused_and_nothing_is_emitted(self) -> None:
        # Given a number ending in 9 / When placed
        sink = Sink()
        with pytest.raises(GatewayRefused):
            simulator(sink=sink).place(leg(to="+919812345679"))
        # Then the gateway refuses it and no event will ever come
        assert sink.emitted == []

    def test_six_is_accepted_and_never_reported(self) -> None:
        # Given a number ending in 6 / When placed
        sink = Sink()
        simulator(sink=sink).place(leg(to="+919812345676"))
        # Then the gateway took it (no error) but no event will ever come
        assert sink.emitted == []

    def test_five_times_out_yet_is_answered(self) -> None:
        # Given a number ending in 5 / When placed
        sink = Sink()
        with pytest.raises(GatewayUnavailable):
            simulator(ring_seconds=2, sink=sink).place(leg(to="+919812345675"))
        # Then the placing request failed as a timeout would, yet the leg is answered
        [(event, delay)] = sink.emitted
        assert (event.outcome, event.duration_seconds, delay) == (LegOutcome.ANSWERED, 5, 7)

    def test_zero_ring_delay(self) -> None:
        sink = Sink()
        simulator(ring_seconds=0, sink=sink).place(leg(to="+919812345678"))
        assert sink.emitted[0][1] == 0


class TestStatus:
    def test_six_is_unknown_when_asked(self) -> None:
        assert simulator().status(leg(to="+919812345676")) is None

    @pytest.mark.parametrize(
        ("digit", "outcome"),
        [("0", LegOutcome.ANSWERED), ("5", LegOutcome.ANSWERED), ("7", LegOutcome.BUSY)],
    )
    def test_others_report_what_their_event_said(self, digit: str, outcome: LegOutcome) -> None:
        # Given a leg placed an hour ago that the simulator reported
        sink = Sink()
        placed = Leg(**{**leg(to=f"+91981234567{digit}").__dict__, "placed_at": NOW})
        gateway = simulator(sink=sink)
        with contextlib.suppress(GatewayUnavailable):
            gateway.place(placed)
        # When asked for its state, Then it answers the same event (a duplicate of the first)
        answer = gateway.status(placed)
        assert answer is not None and answer.outcome is outcome
        assert answer == sink.emitted[0][0]


class TestEventIdentity:
    def test_event_names_the_gateway_and_leg(self) -> None:
        sink = Sink()
        simulator(sink=sink).place(leg(leg_id="abc#2#1"))
        event = sink.emitted[0][0]
        assert (event.gateway_id, event.leg_id) == ("sim", "abc#2#1")

    def test_placing_a_leg_twice_repeats_its_event_id(self) -> None:
        # Given the same leg placed twice (a redelivered message that slipped through)
        sink = Sink()
        gateway = simulator(sink=sink)
        gateway.place(leg(leg_id="abc#1#0"))
        gateway.place(leg(leg_id="abc#1#0"))
        gateway.place(leg(leg_id="abc#1#1"))
        # Then both reports carry the same event id: the event path drops the duplicate
        ids = [event.event_id for event, _ in sink.emitted]
        assert ids[0] == ids[1] != ids[2]

    def test_event_survives_the_wire(self) -> None:
        # The simulator's event is exactly what a gateway would post
        sink = Sink()
        simulator(sink=sink).place(leg())
        event = sink.emitted[0][0]
        assert LegEvent.from_json("sim", event.to_json()) == event


class TestFactory:
    def test_simulator_config_builds_the_simulator(self) -> None:
        sink = Sink()
        config = SimulatorGateway(gateway_id="sim", kind="simulator", ring_seconds=0)
        gateway = build_gateway(config, sink)
        assert isinstance(gateway, SimulatorGatewayAdapter)
        assert gateway.gateway_id == "sim"
        gateway.place(leg())
        assert len(sink.emitted) == 1

    def test_http_config_builds_the_http_adapter(self) -> None:
        config = HttpGateway(
            gateway_id="gw",
            kind="http",
            url="https://gw.example/legs",
            secret_id="outdial/gateways/gw",
        )
        gateway = build_gateway(config, Sink(), secrets=GatewaySecrets(client=object()))
        assert isinstance(gateway, HttpGatewayAdapter)
        assert gateway.gateway_id == "gw"
