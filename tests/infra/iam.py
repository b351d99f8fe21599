"""Reading IAM statements out of a template as plain values, to compare rights exactly."""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def token(value: Any) -> str:
    """A resource as text: ``${Logical.Arn}`` for GetAtt, ``${Name}`` for Ref, joins inline."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if "Ref" in value:
        return "${" + value["Ref"] + "}"
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(token(part) for part in parts)
    raise AssertionError(f"unexpected resource {value!r}")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(resources: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to ``role_id``."""
    found = []
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        roles = [r.get("Ref") for r in resource["Properties"].get("Roles", [])]
        if role_id in roles:
            found += resource["Properties"]["PolicyDocument"]["Statement"]
    return found


def rights(resources: dict[str, Any], role_id: str) -> dict[str, set[str]]:
    """``{action: {resource, ...}}`` granted to ``role_id`` (all Allow; conditions aside)."""
    granted: dict[str, set[str]] = defaultdict(set)
    for statement in statements(resources, role_id):
        assert statement["Effect"] == "Allow"
        for action in _listed(statement["Action"]):
            granted[action] |= {token(r) for r in _listed(statement["Resource"])}
    return dict(granted)


def arn(logical_id: str) -> str:
    return "${" + logical_id + ".Arn}"
