"""Benchmark: one dialer process on moto with the simulator gateway at zero ring delay.

Accepts 500 calls due now, then drives the dial queue through the dialer's Lambda handler the
way the event source mapping would, and prints: legs dialled per second (placing legs, and to
the end with every outcome applied), gateway requests per leg (must be exactly 1.0), AWS
requests per leg by operation (placing, and applying the outcomes).

    .venv/bin/python bench/dial.py [--calls 500]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from bench.create import RequestCounter  # noqa: E402
from tests.conftest import api_event, call, config_document, create_body, invoke  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()

    import pytest
    from moto import mock_aws

    from outdial.adapters import aws
    from outdial.local.embedded_aws import provision, use
    from outdial.local.moto_patches import make_dynamodb_writes_atomic
    from outdial.logic.configure import apply_config, check_config
    from outdial.process import reset_process_state
    from tests.integration.dialing import Harness

    make_dynamodb_writes_atomic()
    with mock_aws():
        reset_process_state()
        use(provision())
        document = config_document()
        document["accounts"][0]["balance"] = 10**9
        document["flows"][0]["dids"] = [
            {"number": f"+9180300000{n:02d}", "enabled": True} for n in range(1, 5)
        ]
        apply_config(check_config(document, local=True))
        calls = [
            call(**{"client-identifier": f"b{i}", "contact-numbers": [f"98123{i:05d}"[:9] + "0"]})
            for i in range(args.calls)
        ]
        status, body = invoke(api_event("POST", "/outbound/create", create_body(calls)))
        assert status == 200, body

        monkeypatch = pytest.MonkeyPatch()
        harness = Harness().install(monkeypatch)
        counter = RequestCounter()
        for service in ("dynamodb", "sqs", "scheduler"):
            counter.attach(aws.client(service))

        started = time.perf_counter()
        harness.drain_queue()
        dialled = time.perf_counter() - started
        legs = len(harness.placed)
        dial_requests = Counter(counter.counts)
        harness.settle()
        total = time.perf_counter() - started
        settle_requests = Counter(counter.counts) - dial_requests
        monkeypatch.undo()

    per_leg = {op: round(n / legs, 2) for op, n in sorted(dial_requests.items())}
    print(
        json.dumps(
            {
                "calls": args.calls,
                "legs_placed": legs,
                "gateway_requests_per_leg": round(
                    len(harness.placed) / len({leg.leg_id for leg in harness.placed}), 3
                ),
                "legs_per_second_placing": round(legs / dialled, 1),
                "legs_per_second_to_outcome": round(legs / total, 1),
                "aws_requests_per_leg_while_placing": per_leg,
                "aws_requests_per_leg_applying_outcomes": {
                    op: round(n / legs, 2) for op, n in sorted(settle_requests.items())
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
