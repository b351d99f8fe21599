"""Property: no hostile body gets more than a 4xx from ``POST /outbound/create`` (SPEC §12).

Hypothesis builds request bodies that are wrong somewhere by construction: deep, wide, odd
unicode (lone surrogates, controls, astral), odd numbers (huge, NaN, Infinity, 1e400), odd
dates (year 1 and 9999 at every offset, past, centuries ahead), odd types in every field,
invalid UTF-8. Each must get a 4xx carrying a contract code, with nothing reserved and
nothing written, whatever check it fails.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outdial.adapters import aws
from outdial.adapters.config_store import ConfigStore
from outdial.models.codes import Code
from outdial.settings import get_settings
from tests.conftest import FLOW_ID, OTHER_FLOW_ID, SECURITY_ID, api_event, call, invoke

EXAMPLES = 400
CODES = {code.code: code for code in Code}
THIS_YEAR = datetime.now(UTC).year

pytestmark = pytest.mark.usefixtures("configured")

# --- values that are wrong wherever they go ----------------------------------------------------
surrogate_text = st.text(
    st.characters(categories=["Cs"]) | st.characters(), min_size=1, max_size=20
).filter(lambda s: any(0xD800 <= ord(c) <= 0xDFFF for c in s))
odd_text = st.text(st.characters(categories=["Cc", "Cf", "Co", "So", "Zs"]), max_size=30)
huge_ints = st.integers(min_value=10**20, max_value=10**400) | st.integers(max_value=-(10**20))
numbers = huge_ints | st.floats() | st.integers(-5, 5)


def _nest(depth: int) -> Any:
    value: Any = 0
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


deep = st.integers(33, 400).map(_nest)  # json.dumps itself recurses: deeper ones go in raw
wide = st.dictionaries(st.text(max_size=8), st.integers(), min_size=50, max_size=300)
not_text = st.none() | st.booleans() | numbers | st.lists(st.integers(), max_size=3) | wide | deep
anything = not_text | surrogate_text | odd_text


# --- a call that is invalid by construction, in one field ----------------------------------------
offsets = st.integers(-14 * 60, 14 * 60).map(
    lambda m: f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
)
out_of_range_dates = st.builds(
    lambda year, month, day, hour, offset: (
        f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:00{offset}"
    ),
    st.integers(1, THIS_YEAR - 1) | st.integers(THIS_YEAR + 2, 9999) | st.sampled_from([1, 9999]),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    offsets | st.just("Z") | st.just(""),
)


def _unparseable(text: str) -> bool:
    try:
        datetime.fromisoformat(text.strip())
    except ValueError:
        return True
    return False


bad_start = (
    not_text | surrogate_text | out_of_range_dates | st.text(max_size=40).filter(_unparseable)
)
bad_numbers = (
    not_text.filter(lambda v: v is not None and v != [])
    | st.lists(not_text.filter(lambda v: not isinstance(v, str)), min_size=1, max_size=4)
    | st.lists(surrogate_text | odd_text, min_size=1, max_size=3)
    | st.lists(st.just("9812345670"), min_size=11, max_size=30)
)
key_names = st.just("$flow.key.name")
bad_keys = (
    not_text.filter(lambda v: v is not None and not isinstance(v, list))
    | st.lists(anything, min_size=1, max_size=3)
    | st.lists(
        st.fixed_dictionaries({"name": key_names, "value": st.text(min_size=1025, max_size=2000)}),
        min_size=1,
        max_size=1,
    )
    | st.lists(
        st.fixed_dictionaries({"name": key_names, "value": surrogate_text | not_text}),
        min_size=1,
        max_size=1,
    )
    | st.builds(
        lambda n: (
            [{"name": "$flow.key.name", "value": "x"}]
            + [{"name": f"$flow.key.k{i}", "value": "v" * 1000} for i in range(n)]
        ),
        st.integers(9, 20),
    )
    | st.builds(lambda v: [{"name": "$flow.key.name", "value": v}] * 2, st.text(max_size=5))
    | st.builds(lambda n: [{"name": n, "value": "x"}], anything | st.text(max_size=20))
)


@st.composite
def hostile_call(draw: st.DrawFn) -> Any:
    field = draw(
        st.sampled_from(["whole", "client-identifier", "start-time", "contact-numbers", "keys"])
    )
    if field == "whole":
        return draw(not_text.filter(lambda v: not isinstance(v, dict)) | surrogate_text)
    one = call()
    one[field] = draw(
        {
            "client-identifier": (
                not_text.filter(lambda v: v is not None)
                | surrogate_text
                | st.text(min_size=129, max_size=300)
            ),
            "start-time": bad_start,
            "contact-numbers": bad_numbers,
            "keys": bad_keys,
        }[field]
    )
    if draw(st.booleans()):  # noise the checks must not trip over
        one[draw(st.text(max_size=10).filter(lambda name: name not in one))] = draw(anything)
    return one


# --- a body invalid by construction -------------------------------------------------------------
def _body(**fields: Any) -> dict[str, Any]:
    return {
        "api-version": "1.0",
        "security-id": SECURITY_ID,
        "flow-id": FLOW_ID,
        "calls": [call()],
        **fields,
    }


top_level = st.one_of(
    anything.filter(lambda v: v not in ("1.0", "TEST")).map(lambda v: _body(**{"api-version": v})),
    anything.filter(lambda v: v != SECURITY_ID).map(lambda v: _body(**{"security-id": v})),
    anything.filter(lambda v: v not in (FLOW_ID, OTHER_FLOW_ID)).map(
        lambda v: _body(**{"flow-id": v})
    ),
    anything.filter(lambda v: v != [] and not isinstance(v, list)).map(lambda v: _body(calls=v)),
    st.lists(hostile_call(), min_size=1, max_size=6).map(lambda calls: _body(calls=calls)),
    st.lists(st.just(call()), min_size=501, max_size=520).map(lambda calls: _body(calls=calls)),
)
raw_bodies = st.one_of(
    top_level.map(lambda body: json.dumps(body).encode()),
    st.integers(33, 200_000).map(lambda n: b'{"calls": ' + b"[" * n + b"]" * n + b"}"),
    st.integers(1, 100_000).map(lambda n: b"[" * n),
    st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e99999"]).map(
        lambda n: json.dumps(_body()).encode()[:-1] + b', "x": ' + n + b"}"
    ),
    st.integers(4301, 20_000).map(lambda n: b'{"api-version": ' + b"7" * n + b"}"),
    st.binary(max_size=200),
    st.sampled_from([b"\xff\xfe{}", b'{"calls": "\xed\xa0\x80"}', b'{"a": "\\ud800"}']),
)


def _balance() -> str:
    return str(ConfigStore().get_balance("acme"))


def _written() -> int:
    """Items in the calls table, and messages on the dial queue."""
    items = aws.client("dynamodb").scan(TableName=get_settings().calls_table)["Count"]
    queued = aws.client("sqs").get_queue_attributes(
        QueueUrl=get_settings().dial_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    return int(items) + int(queued)


def test_no_hostile_body_gets_more_than_a_4xx(record_property: Any) -> None:
    seen: dict[int, int] = {}

    @given(raw=raw_bodies)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases on every run: CI stays reproducible
        suppress_health_check=list(HealthCheck),
    )
    def check(raw: bytes) -> None:
        # When the body is posted
        status, body = invoke(api_event("POST", "/outbound/create", raw=raw))
        # Then a 4xx with a contract code and its message
        assert 400 <= status < 500, (status, body, raw[:300])
        code = CODES[body["api-response-code"]]
        assert (code.http, body["api-response-message"]) == (status, code.message)
        seen[code.code] = seen.get(code.code, 0) + 1
        # And nothing reserved, nothing written
        assert _balance() == "1000"
        assert _written() == 0

    check()
    cases = sum(seen.values())
    record_property("cases", cases)
    print(f"\ncreate fuzz: {cases} hostile bodies, 0 5xx; codes {dict(sorted(seen.items()))}")
    assert cases >= EXAMPLES
    assert len(seen) >= 6  # the cases reached many different checks, not one
