"""The documents in docs/ say what the code does: every config key with its default, every route
and every code, so neither can drift from the models."""

from __future__ import annotations

import json
import re
import time
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from outdial.handlers.api import app
from outdial.models import config
from outdial.models.codes import Code
from outdial.signatures import sign

DOCS = Path(__file__).resolve().parents[2] / "docs"
CONFIGURATION = (DOCS / "configuration.md").read_text()
API = (DOCS / "api.md").read_text()


def gateway_kinds() -> list[type[BaseModel]]:
    (union, *_) = typing.get_args(config.Gateway)
    return list(typing.get_args(union))


MODELS: list[type[BaseModel]] = [
    config.ConfigFile,
    config.Account,
    config.Flow,
    config.Did,
    config.CallingWindow,
    *gateway_kinds(),
]


def documented_keys(model: type[BaseModel]) -> dict[str, str]:
    """The rows of the table that follows ``<!-- keys: Model -->``: key -> default column."""
    marker = f"<!-- keys: {model.__name__} -->"
    assert marker in CONFIGURATION, f"docs/configuration.md has no table for {model.__name__}"
    table = CONFIGURATION.split(marker, 1)[1].strip().split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[2].strip("`")
    return rows


def default_text(field: Any) -> str:
    if field.is_required():
        return "required"
    default = field.default
    if isinstance(default, Decimal):
        return str(default)
    return json.dumps(default, default=str)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_config_key_is_documented_with_its_default(model: type[BaseModel]) -> None:
    # Given the keys the code accepts
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    # Then the document lists exactly those, each with the default the code applies
    documented = documented_keys(model)
    assert set(documented) == set(fields), f"{model.__name__}: document every key, and only those"
    for key, field in fields.items():
        assert documented[key] == default_text(field), f"{model.__name__}.{key}"


def test_every_route_is_documented() -> None:
    # Given every route the api handler serves ("/outbound/calls/<phonon_uuid>")
    routes = app._static_routes + app._dynamic_routes  # the resolver's registry
    assert len(routes) >= 9
    for route in routes:
        path = re.sub(r"<(\w+)>", lambda m: "{" + m[1].replace("_", "-") + "}", route.path)
        # Then docs/api.md has a section on it ("`GET /outbound/calls/{phonon-uuid}`")
        assert f"`{route.method} {path}`" in API, f"docs/api.md lacks `{route.method} {path}`"


def test_every_code_is_documented_with_its_http_status() -> None:
    for code in Code:
        row = re.search(rf"^\| {code.code} \| {code.name} \| ([^|]+) \| (\d+) \|", API, re.M)
        assert row, f"docs/api.md lacks code {code.code} {code.name}"
        assert row[1].strip() == code.message and int(row[2]) == code.http, code


def test_the_webhook_verifier_in_the_docs_accepts_our_signature_and_nothing_else() -> None:
    # Given the receiver's code as docs/api.md shows it
    (snippet,) = re.findall(r"```python\n(.*?)```", API, re.S)
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    verify = namespace["verify"]
    body, secret, now = b'{"event-id":"e1","status":"COMPLETED"}', "s" * 64, int(time.time())
    # Then it verifies what the webhook sender signs, and refuses a changed body or an old one
    assert verify(body, sign(secret, body, now), secret)
    assert not verify(body + b" ", sign(secret, body, now), secret)
    assert not verify(body, sign(secret, body, now - 600), secret)
    assert not verify(body, sign("t" * 64, body, now), secret)


def test_every_setting_of_the_functions_is_documented() -> None:
    # Given every environment variable the functions read
    from outdial.settings import Settings

    aliases = {field.alias for field in Settings.model_fields.values()}
    # Then docs/configuration.md names each one
    missing = sorted(alias for alias in aliases if alias and f"`{alias}`" not in CONFIGURATION)
    assert not missing, f"document {missing} in docs/configuration.md"
