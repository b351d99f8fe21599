"""The deployment's knobs, read once from CDK context (cdk.json, or `-c key=value`) and checked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from constructs import Node

from infra import constants as c


@dataclass(frozen=True)
class DeploySettings:
    throttle_rate_limit: float  # steady requests per second for the whole stage
    throttle_burst_limit: int  # requests the stage absorbs at once above the rate
    dialer_max_concurrency: int  # dialer invocations at once (SQS event source maximum concurrency)
    call_retention_days: int  # calls, legs and requests expire this long after they end
    alarm_email: str | None  # subscribed to the alarm topic when set
    gateway_secrets: tuple[str, ...]  # gateway ids whose credentials secret the stack creates
    waf_rate_limit: int | None = None  # per source IP per 5 minutes; None: no web ACL

    @classmethod
    def from_context(cls, node: Node) -> DeploySettings:
        settings = cls(
            throttle_rate_limit=float(_required(node, c.CTX_THROTTLE_RATE)),
            throttle_burst_limit=int(_required(node, c.CTX_THROTTLE_BURST)),
            dialer_max_concurrency=int(_required(node, c.CTX_DIALER_MAX_CONCURRENCY)),
            call_retention_days=int(_required(node, c.CTX_CALL_RETENTION_DAYS)),
            alarm_email=(str(node.try_get_context(c.CTX_ALARM_EMAIL) or "").strip() or None),
            gateway_secrets=tuple(_list(node.try_get_context(c.CTX_GATEWAY_SECRETS))),
            waf_rate_limit=int(node.try_get_context(c.CTX_WAF_RATE_LIMIT) or 0) or None,
        )
        settings._check()
        return settings

    def _check(self) -> None:
        problems = []
        if self.throttle_rate_limit <= 0 or self.throttle_burst_limit <= 0:
            problems.append("throttling rate and burst must be positive")
        if not c.MIN_DIALER_CONCURRENCY <= self.dialer_max_concurrency <= c.MAX_DIALER_CONCURRENCY:
            problems.append(
                f"{c.CTX_DIALER_MAX_CONCURRENCY} must be {c.MIN_DIALER_CONCURRENCY}.."
                f"{c.MAX_DIALER_CONCURRENCY} (SQS event source MaximumConcurrency)"
            )
        if self.call_retention_days < 1:
            problems.append(f"{c.CTX_CALL_RETENTION_DAYS} must be at least 1")
        for gateway_id in self.gateway_secrets:
            if not gateway_id.replace("-", "").replace("_", "").isalnum():
                problems.append(f"gateway id {gateway_id!r} in {c.CTX_GATEWAY_SECRETS}")
        if self.waf_rate_limit is not None and not (
            c.WAF_MIN_RATE_LIMIT <= self.waf_rate_limit <= c.WAF_MAX_RATE_LIMIT
        ):
            problems.append(
                f"{c.CTX_WAF_RATE_LIMIT} must be 0 (off) or {c.WAF_MIN_RATE_LIMIT}.."
                f"{c.WAF_MAX_RATE_LIMIT} requests per IP per 5 minutes"
            )
        if problems:
            raise ValueError("invalid CDK context: " + "; ".join(problems))


def _required(node: Node, key: str) -> Any:
    value = node.try_get_context(key)
    if value is None or value == "":
        raise ValueError(f"CDK context {key!r} is missing (cdk.json holds the defaults)")
    return value


def _list(value: Any) -> list[str]:
    """A list from cdk.json, or from `-c key='["a","b"]'` / `-c key=a,b` on the command line."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.split(",")
    return [str(item).strip() for item in value if str(item).strip()]
