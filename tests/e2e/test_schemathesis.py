"""Generated inputs against the live server's own OpenAPI document: never a 5xx, always a code."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from tests.e2e.conftest import Served

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_no_generated_input_gets_a_5xx(served: Served, mode: schemathesis.GenerationMode) -> None:
    # Given the API's own OpenAPI document, served live
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    schema.config.update(base_url=served.url)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/outbound/create", "/health"}
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            phases=[Phase.generate],  # report the input as found: shrinking over HTTP is slow
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            # When any input the schema allows is sent, Then no 5xx, and the contract's code
            response = case.call(timeout=30)
            assert response.status_code < 500, (case.body, response.text)
            body = response.json()
            assert isinstance(body, dict), response.text
            assert "api-response-code" in body and "api-response-message" in body

        try:
            check()
        except Unsatisfiable:
            # Nothing to negate: an operation without parameters or body (GET /health).
            assert mode is schemathesis.GenerationMode.NEGATIVE
