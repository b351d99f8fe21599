"""DynamoDB's typed JSON: what we store comes back as it went in, and matches boto3's encoding."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from outdial.adapters.tables import deserialize, from_item, serialize, to_item, to_values

VALUES: list[Any] = [
    "text",
    "",
    0,
    -17,
    Decimal("1.25"),
    True,
    False,
    None,
    ["a", 1, None, {"k": [True]}],
    {"legs": {"x-a1-n0": {"outcome": None, "attempt": 1}}},
    [],
    {},
]


@pytest.mark.parametrize("value", VALUES)
def test_encoding_matches_boto3(value: Any) -> None:
    assert serialize(value) == TypeSerializer().serialize(value)


@pytest.mark.parametrize("value", VALUES)
def test_round_trip(value: Any) -> None:
    assert deserialize(serialize(value)) == value


def test_floats_are_stored_exactly_as_written() -> None:
    assert serialize(0.1) == {"N": "0.1"}


def test_items_leave_out_none_but_values_keep_it() -> None:
    assert to_item({"a": 1, "b": None}) == {"a": {"N": "1"}}
    assert to_values({":b": None}) == {":b": {"NULL": True}}
    assert from_item(to_item({"a": "x", "n": 2})) == {"a": "x", "n": Decimal(2)}


def test_unsupported_types_are_refused() -> None:
    with pytest.raises(TypeError):
        serialize(object())
