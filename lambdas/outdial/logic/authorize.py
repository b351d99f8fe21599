"""Checks 4-7 of SPEC §2, shared by every authenticated route: flow, secret, IP, validity."""

from __future__ import annotations

import re
from datetime import datetime

from outdial.adapters.config_store import ConfigStore
from outdial.models.codes import Code, ContractError
from outdial.models.config import FlowView
from outdial.models.types import FLOW_ID_PATTERN

_FLOW_ID_RE = re.compile(FLOW_ID_PATTERN)


def authorize(
    flow_id: str, security_id: str, source_ip: str, now: datetime, config: ConfigStore
) -> FlowView:
    """The flow the caller may act on, or ContractError with 301, 202, 401 or 211."""
    view = config.get_flow_view(flow_id) if _FLOW_ID_RE.match(flow_id) else None
    if view is None:
        raise ContractError(Code.INVALID_FLOW_ID, f"no flow {flow_id!r}")
    if not view.security_id_matches(security_id):
        raise ContractError(Code.INVALID_SECURITY_ID, "security-id does not match the flow")
    if not view.account.admits_ip(source_ip):
        raise ContractError(
            Code.IP_NOT_WHITELISTED, f"{source_ip} is not on the account's whitelist"
        )
    if view.expired(now):
        raise ContractError(Code.VALIDITY_EXPIRED, "the account or flow is past its valid-until")
    return view
