"""Where webhooks and gateway requests may go (SPEC §10): scheme, addresses, resolution."""

from __future__ import annotations

from typing import Any

import pytest

from outdial.adapters import egress
from outdial.adapters.egress import EgressPolicy, EgressRefused, Unresolvable
from outdial.logic.configure import ConfigInvalid, check_config
from tests.conftest import config_document

STRICT = EgressPolicy()
LOCAL = EgressPolicy(allow_loopback=True)
PRIVATE = EgressPolicy(allow_private=True)


def resolver_of(answers: dict[str, list[str]]) -> egress.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise Unresolvable(f"{host} does not resolve")
        return answers[host]

    return resolve


PUBLIC_DNS = resolver_of(
    {
        "hooks.example.com": ["93.184.216.34"],
        "localhost": ["127.0.0.1", "::1"],
        "rebound.example.com": ["93.184.216.34", "10.0.0.5"],
        "metadata.example.com": ["169.254.169.254"],
        "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"],
    }
)


def check(url: str, rules: EgressPolicy = STRICT) -> egress.Target:
    return egress.check_url(url, rules, PUBLIC_DNS)


class TestRefused:
    @pytest.mark.parametrize(
        "url",
        [
            "http://169.254.169.254/latest/meta-data/",  # instance metadata
            "https://169.254.169.254/latest/meta-data/",
            "http://localhost:9001/2018-06-01/runtime/init/error",  # the Lambda runtime API
            "https://localhost:9001/2018-06-01/runtime/init/error",
            "http://10.0.0.5:6379/",
            "https://10.0.0.5:6379/",
            "https://192.168.1.1/",
            "https://172.16.0.1/",
            "https://100.64.0.1/",  # carrier-grade NAT
            "http://[::1]/x",
            "https://[::1]/x",
            "https://[fd00::1]/",  # unique-local
            "https://[fe80::1]/",  # link-local
            "https://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
            "https://[::ffff:169.254.169.254]/",  # IPv4-mapped metadata
            "https://[::ffff:10.0.0.5]/",
            "https://[2002:a00:5::]/",  # 6to4 of 10.0.0.5
            "https://224.0.0.1/",  # multicast
            "https://[ff02::1]/",
            "https://0.0.0.0/",
            "https://240.0.0.1/",  # reserved
            "https://[::]/",
            "https://metadata.example.com/",  # a public name for a forbidden address
            "https://rebound.example.com/",  # any forbidden answer refuses the host
        ],
    )
    def test_forbidden_destinations(self, url: str) -> None:
        with pytest.raises(EgressRefused):
            check(url)

    @pytest.mark.parametrize(
        "url",
        ["http://hooks.example.com/hook", "http://93.184.216.34/", "ftp://hooks.example.com/"],
    )
    def test_anything_but_https_to_a_public_host(self, url: str) -> None:
        with pytest.raises(EgressRefused, match="https://"):
            check(url)

    @pytest.mark.parametrize(
        "url", ["https://user:pass@hooks.example.com/", "https:///path", "https://host:99999/"]
    )
    def test_malformed_urls(self, url: str) -> None:
        with pytest.raises(EgressRefused):
            check(url)

    def test_link_local_stays_refused_with_every_switch(self) -> None:
        both = EgressPolicy(allow_loopback=True, allow_private=True)
        with pytest.raises(EgressRefused, match="link-local"):
            check("http://169.254.169.254/", both)


class TestAllowed:
    def test_https_to_a_public_host_keeps_its_name(self) -> None:
        target = check("https://hooks.example.com/hook?token=abc")
        assert (target.host, target.port, target.path) == (
            "hooks.example.com",
            443,
            "/hook?token=abc",
        )
        assert target.host_header == "hooks.example.com"

    def test_the_address_connected_to_is_the_one_checked(self) -> None:
        target = egress.parse_target("https://v6.example.com:8443/h")
        address = egress.checked_address(target, STRICT, PUBLIC_DNS)
        assert address == "2606:2800:220:1:248:1893:25c8:1946"
        assert target.host_header == "v6.example.com:8443"

    @pytest.mark.parametrize(
        "url", ["http://127.0.0.1:9000/hook", "http://localhost:9000/hook", "http://[::1]:9/x"]
    )
    def test_loopback_http_only_under_serve(self, url: str) -> None:
        check(url, LOCAL)
        with pytest.raises(EgressRefused, match="loopback"):
            check(url)

    def test_private_only_with_the_gateway_flag(self) -> None:
        check("http://10.0.0.5:8080/legs", PRIVATE)
        with pytest.raises(EgressRefused, match="private"):
            check("http://10.0.0.5:8080/legs", LOCAL)

    def test_the_process_switch_is_off_unless_serve_turns_it_on(self) -> None:
        assert egress.policy() == STRICT
        egress.set_local_mode(True)
        try:
            assert egress.policy(allow_private=True) == EgressPolicy(True, True)
        finally:
            egress.set_local_mode(False)


class TestConfigCheck:
    @pytest.mark.parametrize(
        "url",
        [
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost:9001/2018-06-01/runtime/init/error",
            "http://10.0.0.5:6379/",
            "http://[::1]/x",
            "http://127.0.0.1:9000/hook",
        ],
    )
    def test_the_reported_webhook_urls_are_refused(self, url: str) -> None:
        document = config_document()
        document["accounts"][0]["webhook-url"] = url
        with pytest.raises(ConfigInvalid) as refused:
            check_config(document, resolver=PUBLIC_DNS)
        assert [p.split(":")[0] for p in refused.value.problems] == ["$.accounts[0].webhook-url"]

    def test_serve_accepts_loopback_http_and_only_that(self) -> None:
        document = config_document()
        check_config(document, local=True, resolver=PUBLIC_DNS)
        document["accounts"][0]["webhook-url"] = "http://10.0.0.5:6379/"
        with pytest.raises(ConfigInvalid):
            check_config(document, local=True, resolver=PUBLIC_DNS)

    def test_an_unresolvable_host_is_a_warning(self) -> None:
        document = config_document()
        document["accounts"][0]["webhook-url"] = "https://not-yet.example.com/hook"
        checked = check_config(document, resolver=PUBLIC_DNS)
        assert [w.split(":")[0] for w in checked.warnings] == ["$.accounts[0].webhook-url"]

    def _with_gateway(self, url: str, **extra: Any) -> dict[str, Any]:
        document = config_document()
        document["accounts"][0]["webhook-url"] = "https://hooks.example.com/hook"
        document["gateways"].append(
            {
                "gateway-id": "self-hosted",
                "kind": "http",
                "url": url,
                "secret-id": "outdial/gateways/self-hosted",
                **extra,
            }
        )
        return document

    def test_a_private_gateway_needs_its_flag(self) -> None:
        document = self._with_gateway("http://10.1.2.3:8080/legs")
        with pytest.raises(ConfigInvalid) as refused:
            check_config(document, resolver=PUBLIC_DNS)
        assert refused.value.problems[0].startswith("$.gateways[1].url")
        flagged = self._with_gateway(
            "http://10.1.2.3:8080/legs", **{"allow-private-endpoint": True}
        )
        check_config(flagged, resolver=PUBLIC_DNS)

    def test_the_flag_never_opens_instance_metadata(self) -> None:
        document = self._with_gateway(
            "http://169.254.169.254/latest/", **{"allow-private-endpoint": True}
        )
        with pytest.raises(ConfigInvalid):
            check_config(document, resolver=PUBLIC_DNS)
