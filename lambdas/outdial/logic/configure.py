"""Validating a configuration file (SPEC §5): every problem with its JSON path, or nothing."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from outdial.adapters.config_store import ConfigStore
from outdial.adapters.gateways.secrets import FlowSecrets
from outdial.models.config import ConfigFile


class ConfigInvalid(Exception):
    """The file was refused whole; ``problems`` lists each with its JSON path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CheckedConfig:
    config: ConfigFile
    warnings: list[str]


def json_path(loc: tuple[int | str, ...]) -> str:
    path = "$"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def check_config(data: Any) -> CheckedConfig:
    """Validate a parsed configuration file; raise ConfigInvalid listing every problem."""
    try:
        config = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigInvalid(
            [f"{json_path(_strip_tags(e['loc']))}: {e['msg']}" for e in exc.errors()]
        ) from None
    problems: list[str] = []
    for section, ids in (
        ("accounts", [a.account_id for a in config.accounts]),
        ("flows", [f.flow_id for f in config.flows]),
        ("gateways", [g.gateway_id for g in config.gateways]),
    ):
        for name, count in Counter(ids).items():
            if count > 1:
                problems.append(f"$.{section}: id {name!r} appears {count} times")
    accounts = {a.account_id for a in config.accounts}
    gateways = {g.gateway_id: g for g in config.gateways}
    warnings: list[str] = []
    for index, flow in enumerate(config.flows):
        if flow.account_id not in accounts:
            problems.append(f"$.flows[{index}].account-id: no account {flow.account_id!r}")
        gateway = gateways.get(flow.gateway_id)
        if gateway is None or not gateway.enabled:
            state = "absent" if gateway is None else "disabled"
            warnings.append(
                f"$.flows[{index}].gateway-id: gateway {flow.gateway_id!r} is {state}; "
                "the flow's requests will get 204 INVALID_GATEWAY_ID"
            )
    if problems:
        raise ConfigInvalid(problems)
    return CheckedConfig(config, warnings)


def _strip_tags(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic names the union member it tried ("simulator", "http") in the location; a file's
    # author only knows the path.
    return tuple(part for part in loc if part not in ("simulator", "http"))


def read_config_file(path: Path) -> CheckedConfig:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigInvalid([f"$: cannot read {path}: {exc}"]) from None
    return check_config(data)


@dataclass(frozen=True)
class AppliedConfig:
    """``written`` items, and a warning for each thing of the file that was not applied."""

    written: int
    warnings: list[str]


def apply_config(
    checked: CheckedConfig, store: ConfigStore | None = None, secrets: FlowSecrets | None = None
) -> AppliedConfig:
    """Write a checked configuration: the config table, and each flow's security-id to Secrets
    Manager (the key its webhooks are signed with).

    An account's ``balance`` is written only when the account is created (SPEC §11); for an
    existing account a balance in the file is ignored, with a warning."""
    applied = (store or ConfigStore()).apply(checked.config)
    flow_secrets = secrets or FlowSecrets()
    for flow in checked.config.flows:
        flow_secrets.put(flow.flow_id, flow.security_id)
    warnings = [
        f"$.accounts[{index}].balance: account {account.account_id!r} exists; its balance "
        f"stays {applied.kept_balances[account.account_id]} (the file's {account.balance} is "
        "ignored; use `outdial balance add`)"
        for index, account in enumerate(checked.config.accounts)
        if account.account_id in applied.kept_balances and "balance" in account.model_fields_set
    ]
    return AppliedConfig(applied.written, warnings)
