"""Generated inputs against the live server's own OpenAPI document, on every route: never a
5xx, always a JSON object carrying a contract code and its message (SPEC §12).

Each generated case is sent three times: as generated (mostly stopped by authentication), with
the demo flow's credentials grafted in (body fields for create and pull, the x-flow-id and
x-security-id headers for the REST routes), so generated values reach the checks behind
authentication too, and with hostile headers (oversize, non-ASCII, odd media types).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from infra import constants as c
from outdial.local.demo import DEMO_FLOW_ID, DEMO_SECURITY_ID
from outdial.models.codes import Code
from tests.e2e.conftest import Served

if TYPE_CHECKING:  # imported by the test itself: every xdist worker collects this module
    import schemathesis

pytestmark = pytest.mark.e2e

EXAMPLES = 25  # per operation and mode, each sent three times: ~1,700 requests a run
CODES = {code.code: code for code in Code}
CREDENTIAL_BODIES = {"/outbound/create", "/outbound/pull"}
HEADERS = {"x-flow-id": DEMO_FLOW_ID, "x-security-id": DEMO_SECURITY_ID}
# Headers a client may send whatever the document says: oversize, odd bytes, odd media types.
HOSTILE_HEADERS = {
    "x-flow-id": DEMO_FLOW_ID + "ÿ" * 300,
    "x-security-id": "é" * 5000,
    "Gateway-Signature": "t=1," * 1000,
    "Content-Type": "multipart/form-data",
    "Content-Encoding": "gzip",
    "Idempotency-Key": "k" + "\x01\x7f" * 150,
}


def _route(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _check(response: Any, sent: Any) -> int:
    assert response.status_code < 500, (sent, response.status_code, response.text)
    body = response.json()
    assert isinstance(body, dict), response.text
    code = CODES[body["api-response-code"]]
    assert body["api-response-message"] == code.message, body
    assert code.http == response.status_code, (code, response.status_code)
    return code.code


def _with_credentials(case: schemathesis.Case) -> dict[str, Any]:
    if case.path in CREDENTIAL_BODIES:
        body = case.body if isinstance(case.body, dict) else {}
        return {"json": {**body, "flow-id": DEMO_FLOW_ID, "security-id": DEMO_SECURITY_ID}}
    return {"headers": {**(case.headers or {}), **HEADERS}}


@pytest.mark.parametrize("mode_name", ["positive", "negative"])
def test_no_generated_input_gets_a_5xx(
    served: Served, mode_name: str, record_property: Any
) -> None:
    import schemathesis

    mode = schemathesis.GenerationMode(mode_name)
    # Given the API's own OpenAPI document, served live, covering every route the stack routes
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    schema.config.update(base_url=served.url)
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = {(op.method.upper(), _route(op.path)) for op in operations}
    # (GET /openapi.json serves the document itself: fetched above, not generated against)
    assert documented == {(m, _route(p)) for m, p in c.ROUTES} - {("GET", "/openapi.json")}
    cases = 0
    codes: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases on every run: CI stays reproducible
            phases=[Phase.explicit, Phase.generate],  # report as found: no shrinking over HTTP
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            nonlocal cases
            # When any input the schema allows (or, negated, forbids) is sent, as is and with
            # credentials; Then no 5xx, and the contract's code with its message and status
            for extra in ({}, _with_credentials(case), {"headers": HOSTILE_HEADERS}):
                code = _check(case.call(timeout=30, **extra), (case.path, case.body, extra))
                codes[code] = codes.get(code, 0) + 1
                cases += 1

        try:
            check()
        except Unsatisfiable:
            # Nothing to negate: an operation without parameters or body (GET /health).
            assert mode is schemathesis.GenerationMode.NEGATIVE
    record_property("cases", cases)
    print(
        f"\nschemathesis {mode.value}: {cases} requests, 0 5xx; codes {dict(sorted(codes.items()))}"
    )
    assert cases >= EXAMPLES * 3
