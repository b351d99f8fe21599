"""Accounts, flows and gateways in the config table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError
from pydantic import TypeAdapter

from outdial.adapters import aws
from outdial.adapters.errors import AdapterError
from outdial.adapters.tables import batch_write, key, to_item
from outdial.models.config import (
    AnyGateway,
    ConfigFile,
    FlowSettings,
    FlowView,
    Gateway,
    hash_secret,
)
from outdial.settings import get_settings

_GATEWAY: TypeAdapter[AnyGateway] = TypeAdapter(Gateway)


def account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def flow_pk(flow_id: str) -> str:
    return f"FLOW#{flow_id}"


def gateway_pk(gateway_id: str) -> str:
    return f"GATEWAY#{gateway_id}"


class ConfigStore:
    """Reads flow views for requests; writes a whole configuration file."""

    def __init__(self, client: Any | None = None, table: str | None = None) -> None:
        self._client = client
        self._table = table

    @property
    def client(self) -> Any:
        return self._client or aws.client("dynamodb")

    @property
    def table(self) -> str:
        return self._table or get_settings().config_table

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
        item = self.client.get_item(
            TableName=self.table, Key=key(account_pk(account_id)), ConsistentRead=True
        ).get("Item")
        return Decimal(item["balance"]["N"]) if item else None

    def apply(self, config: ConfigFile) -> int:
        """Write every account, flow view and gateway of ``config``; returns the items written.

        An account's ``balance`` is set to the file's value: applying a file is how balances are
        topped up.
        """
        accounts = {account.account_id: account for account in config.accounts}
        gateways = {gateway.gateway_id: gateway for gateway in config.gateways}
        items: list[dict[str, Any]] = []
        for account in config.accounts:
            items.append(
                to_item(
                    {
                        "pk": account_pk(account.account_id),
                        "doc": account.model_dump_json(by_alias=True),
                        "balance": account.balance,
                    }
                )
            )
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
        return len(items)
