"""Accounts, flows and gateways in the config table."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError
from pydantic import TypeAdapter

from outdial.adapters.balances import Balances, account_pk
from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import ConfigTableAdapter, batch_write, key, to_item
from outdial.adapters.ttl_cache import TtlCache
from outdial.models.config import (
    AnyGateway,
    ConfigFile,
    FlowSettings,
    FlowView,
    GatewayConfig,
    hash_secret,
)

_GATEWAY: TypeAdapter[AnyGateway] = TypeAdapter(GatewayConfig)


__all__ = [
    "FLOW_VIEW_TTL_SECONDS",
    "Applied",
    "CachedConfigStore",
    "ConfigStore",
    "account_pk",
    "flow_pk",
    "gateway_pk",
]


@dataclass(frozen=True)
class Applied:
    """What applying a configuration wrote: ``written`` items, and the running balance each
    account that already existed kept (the file's ``balance`` only opens new accounts)."""

    written: int
    kept_balances: dict[str, Decimal] = field(default_factory=dict)


# How long a function keeps a flow view it read: dialers and webhook deliveries look one up for
# every leg, outcome and webhook, while configuration changes rarely (a change reaches them
# within this time).
FLOW_VIEW_TTL_SECONDS = 30


def flow_pk(flow_id: str) -> str:
    return f"FLOW#{flow_id}"


def gateway_pk(gateway_id: str) -> str:
    return f"GATEWAY#{gateway_id}"


class ConfigStore(ConfigTableAdapter):
    """Reads flow views for requests; writes a whole configuration file."""

    def get_flow_view(self, flow_id: str) -> FlowView | None:
        """The flow with its account and gateway, or None when no such flow is configured."""
        try:
            item = self.client.get_item(TableName=self.table, Key=key(flow_pk(flow_id))).get("Item")
        except ClientError as exc:
            raise AdapterError(f"reading flow {flow_id}: {exc}") from exc
        return FlowView.model_validate_json(item["doc"]["S"]) if item else None

    def get_gateway(self, gateway_id: str) -> AnyGateway | None:
        try:
            item = self.client.get_item(TableName=self.table, Key=key(gateway_pk(gateway_id))).get(
                "Item"
            )
        except ClientError as exc:
            raise AdapterError(f"reading gateway {gateway_id}: {exc}") from exc
        return _GATEWAY.validate_json(item["doc"]["S"]) if item else None

    def get_balance(self, account_id: str) -> Decimal | None:
        return Balances(self.client, self.table).show(account_id)

    def apply(self, config: ConfigFile) -> Applied:
        """Write every account, flow view and gateway of ``config``.

        An account's ``balance`` opens a new account; an existing account keeps its running
        balance (``outdial balance add`` tops it up), so reservations held against it stay exact.
        """
        accounts = {account.account_id: account for account in config.accounts}
        gateways = {gateway.gateway_id: gateway for gateway in config.gateways}
        balances = Balances(self.client, self.table)
        kept: dict[str, Decimal] = {}
        for account in config.accounts:
            doc = account.model_dump_json(by_alias=True)
            had = balances.write_account(account.account_id, doc, account.balance)
            if had is not None:
                kept[account.account_id] = had
        items: list[dict[str, Any]] = []
        for gateway in config.gateways:
            doc = gateway.model_dump_json(by_alias=True)
            items.append(to_item({"pk": gateway_pk(gateway.gateway_id), "doc": doc}))
        for flow in config.flows:
            view = FlowView(
                flow=FlowSettings.model_validate(flow.model_dump(exclude={"security_id"})),
                security_id_hash=hash_secret(flow.security_id),
                account=accounts[flow.account_id],
                gateway=gateways.get(flow.gateway_id),
            )
            items.append(
                to_item({"pk": flow_pk(flow.flow_id), "doc": view.model_dump_json(by_alias=True)})
            )
        batch_write(self.client, self.table, [{"PutRequest": {"Item": item}} for item in items])
        return Applied(len(items) + len(config.accounts), kept)


class CachedConfigStore(ConfigStore):
    """``ConfigStore`` whose flow views are read at most every ``ttl_seconds`` per flow (and
    once however many threads ask at the same time)."""

    def __init__(
        self,
        client: Any | None = None,
        table: str | None = None,
        *,
        ttl_seconds: float = FLOW_VIEW_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(client, table)
        self._views: TtlCache[FlowView | None] = TtlCache(ttl_seconds, clock)

    def get_flow_view(self, flow_id: str) -> FlowView | None:
        return self._views.get(
            flow_id, lambda: super(CachedConfigStore, self).get_flow_view(flow_id)
        )
