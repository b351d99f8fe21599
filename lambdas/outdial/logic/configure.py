"""Validating a configuration file (SPEC §5): every problem with its JSON path, or nothing."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError
from pydantic import ValidationError

from outdial.adapters import egress
from outdial.adapters.config_store import ConfigStore
from outdial.adapters.errors import AdapterError
from outdial.adapters.gateways.secrets import FlowSecrets, GatewaySecrets
from outdial.models.config import GATEWAY_KINDS, ConfigFile, HttpGateway, event_secret_problem


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


def check_config(
    data: Any, *, local: bool = False, resolver: egress.Resolver = egress.system_resolver
) -> CheckedConfig:
    """Validate a parsed configuration file; raise ConfigInvalid listing every problem.

    ``local``: the file is for ``outdial serve``, whose webhooks may go to http:// on loopback.
    """
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
    destinations = _destination_problems(config, local, resolver)
    problems += destinations.problems
    warnings += destinations.warnings
    if problems:
        raise ConfigInvalid(problems)
    return CheckedConfig(config, warnings)


@dataclass
class _Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _destination_problems(config: ConfigFile, local: bool, resolver: egress.Resolver) -> _Findings:
    """Every webhook-url and http gateway url where SPEC §10 says requests may go: checked as
    the functions check them before each connect (a host that does not resolve now is only a
    warning: it is checked again at each connect)."""
    found = _Findings()
    urls: list[tuple[str, str, egress.EgressPolicy]] = [
        (f"$.accounts[{i}].webhook-url", str(a.webhook_url), egress.EgressPolicy(local, False))
        for i, a in enumerate(config.accounts)
        if a.webhook_url is not None
    ]
    urls += [
        (
            f"$.gateways[{i}].url",
            str(g.url),
            egress.EgressPolicy(allow_loopback=local, allow_private=g.allow_private_endpoint),
        )
        for i, g in enumerate(config.gateways)
        if isinstance(g, HttpGateway)
    ]
    for path, url, rules in urls:
        try:
            egress.check_url(url, rules, resolver)
        except egress.Unresolvable as exc:
            found.warnings.append(f"{path}: {exc}")
        except egress.EgressRefused as exc:
            found.problems.append(f"{path}: {exc}")
    return found


def check_gateway_secrets(config: ConfigFile, secrets: GatewaySecrets) -> list[str]:
    """Each http gateway's event-secret, read where boto3 points: one shorter than 32
    characters refuses the file (SPEC §12); one that cannot be read yet is a warning."""
    found = _Findings()
    for index, gateway in enumerate(config.gateways):
        if not isinstance(gateway, HttpGateway):
            continue
        path = f"$.gateways[{index}].secret-id"
        try:
            event_secret = secrets.get(gateway.secret_id).event_secret
        except (AdapterError, BotoCoreError) as exc:
            found.warnings.append(f"{path}: event-secret not checked: {exc}")
            continue
        problem = event_secret_problem(event_secret)
        if problem:
            found.problems.append(f"{path}: {problem}")
    if found.problems:
        raise ConfigInvalid(found.problems)
    return found.warnings


def _strip_tags(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic names the union member it tried (the gateway kind) in the location; a file's
    # author only knows the path.
    return tuple(part for part in loc if part not in GATEWAY_KINDS)


def read_config_file(path: Path, *, local: bool = False) -> CheckedConfig:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigInvalid([f"$: cannot read {path}: {exc}"]) from None
    return check_config(data, local=local)


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
