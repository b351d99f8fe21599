"""``POST /outbound/create`` through the api handler with extra headers (helpers, not tests)."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import api_event


def post(body: dict[str, Any], key: str | None, **headers: str) -> tuple[int, dict[str, Any], Any]:
    """POST a create with ``key`` as Idempotency-Key; (HTTP status, body, response headers)."""
    from outdial.handlers import api
    from outdial.local.apigateway import LambdaContext

    extra = dict(headers)
    if key is not None:
        extra["Idempotency-Key"] = key
    result = api.handler(
        api_event("POST", "/outbound/create", body, headers=extra), LambdaContext()
    )
    headers = {k: ", ".join(v) for k, v in (result.get("multiValueHeaders") or {}).items()}
    return result["statusCode"], json.loads(result["body"]), headers | (result.get("headers") or {})
