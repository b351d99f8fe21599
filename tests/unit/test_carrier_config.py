"""Carrier gateways in the configuration file (SPEC §8): what `outdial config check` refuses."""

from __future__ import annotations

from typing import Any

import pytest

from outdial.logic.configure import ConfigInvalid, check_config
from outdial.models.config import ExotelGateway, PlivoGateway, SimulatorGateway, TwilioGateway
from tests.conftest import config_document

ACCOUNT_KEY = {"twilio": "account-sid", "plivo": "auth-id", "exotel": "account-sid"}


def carrier(kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "gateway-id": f"{kind}-1",
        "kind": kind,
        "secret-id": f"outdial/gateways/{kind}-1",
        ACCOUNT_KEY[kind]: "ACCOUNT123",
        "flow-url": "https://flows.example/start",
        "callback-base-url": "https://api.example",
        **extra,
    }


def checked(gateway: dict[str, Any]) -> Any:
    document = config_document()
    document["gateways"].append(gateway)
    return check_config(document, local=True).config.gateways[-1]


def refused(gateway: dict[str, Any]) -> list[str]:
    document = config_document()
    document["gateways"].append(gateway)
    with pytest.raises(ConfigInvalid) as error:
        check_config(document, local=True)
    return error.value.problems


def test_each_carrier_has_its_defaults() -> None:
    twilio, plivo, exotel = (checked(carrier(k)) for k in ("twilio", "plivo", "exotel"))
    assert isinstance(twilio, TwilioGateway) and isinstance(plivo, PlivoGateway)
    assert isinstance(exotel, ExotelGateway)
    assert [g.calls_per_second for g in (twilio, plivo, exotel)] == [1, 2, 3]
    assert [g.ring_seconds for g in (twilio, plivo, exotel)] == [60, 60, 60]
    assert [g.api_root for g in (twilio, plivo, exotel)] == [
        "https://api.twilio.com",
        "https://api.plivo.com",
        "https://api.in.exotel.com",
    ]
    assert twilio.callback_url("leg=x") == "https://api.example/gateway/events/twilio-1?leg=x"


def test_simulator_and_http_are_unpaced_unless_configured() -> None:
    document = config_document()
    assert check_config(document, local=True).config.gateways[0].calls_per_second is None
    document["gateways"][0]["calls-per-second"] = 5
    gateway = check_config(document, local=True).config.gateways[0]
    assert isinstance(gateway, SimulatorGateway) and gateway.calls_per_second == 5


@pytest.mark.parametrize("kind", ["twilio", "plivo", "exotel"])
@pytest.mark.parametrize("missing", ["account", "flow-url", "callback-base-url", "secret-id"])
def test_a_carrier_without_its_essentials_is_refused(kind: str, missing: str) -> None:
    gateway = carrier(kind)
    field = ACCOUNT_KEY[kind] if missing == "account" else missing
    del gateway[field]
    assert refused(gateway) == [f"$.gateways[1].{field}: Field required"]


def test_exotel_rings_at_most_a_minute() -> None:
    assert checked(carrier("exotel", **{"ring-seconds": 60})).ring_seconds == 60
    (problem,) = refused(carrier("exotel", **{"ring-seconds": 61}))
    assert problem.startswith("$.gateways[1].ring-seconds")
    assert checked(carrier("twilio", **{"ring-seconds": 120})).ring_seconds == 120


@pytest.mark.parametrize("cps", [0, -1, 20_000, "fast"])
def test_calls_per_second_is_a_positive_rate(cps: Any) -> None:
    (problem,) = refused(carrier("plivo", **{"calls-per-second": cps}))
    assert problem.startswith("$.gateways[1].calls-per-second")


def test_a_carrier_secret_outside_the_gateway_prefix_is_refused() -> None:
    (problem,) = refused(carrier("twilio", **{"secret-id": "prod/twilio"}))
    assert problem.startswith("$.gateways[1].secret-id") and "outdial/gateways/" in problem
