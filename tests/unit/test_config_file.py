"""The configuration file: refused whole with every problem's JSON path, or accepted."""

from __future__ import annotations

from typing import Any

import pytest

from outdial.logic.configure import ConfigInvalid, check_config
from tests.conftest import config_document


def problems(document: Any) -> list[str]:
    with pytest.raises(ConfigInvalid) as refused:
        check_config(document, local=True)
    return refused.value.problems


def test_the_spec_example_shape_is_accepted() -> None:
    checked = check_config(config_document(), local=True)
    assert [f.flow_id for f in checked.config.flows] == ["AB12cd34", "ZZ99yy88"]
    assert checked.warnings == []


def test_every_problem_is_listed_with_its_path() -> None:
    # Given a file with four independent mistakes
    document = config_document()
    document["accounts"][0]["timezone"] = "Mars/Olympus"
    document["accounts"][0]["ip-whitelist"] = ["300.1.1.1/32"]
    document["flows"][0]["flow-id"] = "too-long-id"
    document["gateways"][0]["ring-seconds"] = -1
    # Then all four are reported, each at its JSON path
    found = problems(document)
    assert len(found) == 4, found
    for path in (
        "$.accounts[0].timezone",
        "$.accounts[0].ip-whitelist[0]",
        "$.flows[0].flow-id",
        "$.gateways[0].ring-seconds",
    ):
        assert any(problem.startswith(path) for problem in found), (path, found)


def test_unknown_fields_are_refused() -> None:
    document = config_document()
    document["flows"][0]["max-atempts"] = 3
    assert any(p.startswith("$.flows[0].max-atempts") for p in problems(document))


def test_a_flow_needs_an_existing_account() -> None:
    document = config_document()
    document["flows"][1]["account-id"] = "nobody"
    assert problems(document) == ["$.flows[1].account-id: no account 'nobody'"]


def test_duplicate_ids_are_refused() -> None:
    document = config_document()
    document["flows"][1]["flow-id"] = document["flows"][0]["flow-id"]
    assert problems(document) == ["$.flows: id 'AB12cd34' appears 2 times"]


@pytest.mark.parametrize("state", ["absent", "disabled"])
def test_a_missing_or_disabled_gateway_is_only_a_warning(state: str) -> None:
    document = config_document()
    if state == "absent":
        document["gateways"] = []
    else:
        document["gateways"][0]["enabled"] = False
    checked = check_config(document, local=True)
    assert len(checked.warnings) == 2
    assert state in checked.warnings[0] and "204" in checked.warnings[0]


def test_numbers_in_the_file_must_be_e164() -> None:
    document = config_document()
    document["accounts"][0]["phone-whitelist"] = ["9812345670"]
    assert problems(document)[0].startswith("$.accounts[0].phone-whitelist[0]")


def http_gateway(secret_id: str) -> dict[str, Any]:
    return {
        "gateway-id": "carrier-1",
        "kind": "http",
        "url": "https://gw.example/legs",
        "secret-id": secret_id,
    }


@pytest.mark.parametrize(
    "secret_id",
    [
        "outdial/gateways/carrier-1",
        "arn:aws:secretsmanager:ap-south-1:123456789012:secret:outdial/gateways/carrier-1-AbCdEf",
    ],
)
def test_an_http_gateway_secret_under_the_readable_prefix_is_accepted(secret_id: str) -> None:
    document = config_document()
    document["gateways"].append(http_gateway(secret_id))
    assert check_config(document, local=True).config.gateways[-1].gateway_id == "carrier-1"


@pytest.mark.parametrize(
    "secret_id",
    [
        "carrier-1",
        "outdial/flows/AB12cd34",
        "outdial/gateways/",
        "arn:aws:secretsmanager:ap-south-1:123456789012:secret:prod/carrier-1-AbCdEf",
    ],
)
def test_an_http_gateway_secret_the_functions_may_not_read_is_refused(secret_id: str) -> None:
    # Given an http gateway whose secret is outside outdial/gateways/
    document = config_document()
    document["gateways"].append(http_gateway(secret_id))
    # Then the file is refused at that path, saying where the secret must be
    (found,) = problems(document)
    assert found.startswith("$.gateways[1].secret-id")
    assert "outdial/gateways/" in found


def test_not_an_object() -> None:
    assert problems([1, 2])
