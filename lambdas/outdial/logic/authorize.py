"""Checks 4-7 of SPEC §2, shared by every authenticated route: flow, secret, IP, validity."""

from __future__ import annotations

import re
from datetime import datetime

from outdial.adapters.config_store import ConfigStore
from outdial.adapters.errors import AdapterError
from outdial.adapters.rate_limits import FlowRateLimiter
from outdial.models.codes import Code, ContractError
from outdial.models.config import FlowView
from outdial.models.types import FLOW_ID_PATTERN
from outdial.observability import logger

_FLOW_ID_RE = re.compile(FLOW_ID_PATTERN)


def authorize(
    flow_id: str,
    security_id: str,
    source_ip: str,
    now: datetime,
    config: ConfigStore,
    limiter: FlowRateLimiter | None = None,
) -> FlowView:
    """The flow the caller may act on, or ContractError with 301, 202, 401, 211, or 608 when
    the flow is over its ``requests-per-second`` (counted only once the caller is known: a
    stranger cannot spend a flow's budget)."""
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
    check_flow_rate(view, now, limiter or FlowRateLimiter())
    return view


def check_flow_rate(view: FlowView, now: datetime, limiter: FlowRateLimiter) -> None:
    """ContractError(608) when the flow has a ``requests-per-second`` and this second's budget
    is spent. A fault counting admits the request: the stage's throttle still bounds traffic,
    and a limit that cannot be counted is no reason to refuse a customer."""
    limit = view.flow.requests_per_second
    if limit is None:
        return
    try:
        admitted = limiter.admit(view.flow.flow_id, limit, int(now.timestamp()))
    except AdapterError as exc:
        logger.warning("flow rate not counted; request admitted", error=str(exc))
        return
    if not admitted:
        raise ContractError(
            Code.TOO_MANY_REQUESTS,
            f"the flow allows {limit} requests per second; try again in a second",
        )
