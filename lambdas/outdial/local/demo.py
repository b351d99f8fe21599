"""The built-in demo configuration `outdial serve` loads when no --config is given."""

from __future__ import annotations

from typing import Any

DEMO_FLOW_ID = "DEMOfl01"
# A fixed secret so the README's curl works as written. Demo only: never use it on AWS.
DEMO_SECURITY_ID = "demo" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[:60]


def demo_config(webhook_url: str | None = None) -> dict[str, Any]:
    return {
        "accounts": [
            {
                "account-id": "demo",
                "timezone": "Asia/Kolkata",
                "region": "IN",
                "balance": 1_000_000,
                "cost-per-call": 1,
                "valid-until": None,
                "ip-whitelist": ["127.0.0.0/8", "::1/128"],
                "phone-whitelist": ["+919812345670", "+919812345671"],
                "webhook-url": webhook_url,
            }
        ],
        "flows": [
            {
                "flow-id": DEMO_FLOW_ID,
                "account-id": "demo",
                "security-id": DEMO_SECURITY_ID,
                "versions": ["1.0", "TEST"],
                "gateway-id": "sim",
                "dids": [
                    {"number": "+918030000001", "enabled": True},
                    {"number": "+918030000002", "enabled": True},
                ],
                "required-keys": [],
                "max-attempts": 2,
                "retry-after-seconds": 60,
                "valid-until": None,
            }
        ],
        "gateways": [
            {"gateway-id": "sim", "kind": "simulator", "ring-seconds": 1, "enabled": True}
        ],
    }


def demo_curl(base_url: str) -> str:
    """A ready-to-paste request for the demo flow, due now."""
    return (
        f"curl -s {base_url}/outbound/create -H 'Content-Type: application/json' -d '"
        '{"api-version": "1.0", '
        f'"security-id": "{DEMO_SECURITY_ID}", "flow-id": "{DEMO_FLOW_ID}", '
        '"calls": [{"client-identifier": "order-1", '
        '"start-time": "\'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"\'", '
        '"contact-numbers": ["9812345670", "+919812345671"], '
        '"keys": [{"name": "$flow.key.name", "value": "Asha"}]}]}'
        "'"
    )
