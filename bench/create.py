"""Benchmark: POST /outbound/create with 500 calls through the api handler on moto (in-process).

Prints, per scenario: median / p90 wall time per request, AWS API requests per request by
service and operation (counted with botocore's event hooks), peak Python memory per request;
and the cold import time of the api handler module (median of fresh interpreters).

    .venv/bin/python bench/create.py [--requests 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import api_event, call, config_document, create_body  # noqa: E402

CALLS = 500


class RequestCounter:
    """Counts every AWS API request botocore makes, by service and operation."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.*.*", self._count)

    def _count(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".")
        self.counts[f"{service}.{operation}"] += 1


def cold_import_seconds(runs: int = 7) -> list[float]:
    code = (
        "import time; t = time.perf_counter(); import outdial.handlers.api; "
        "print(time.perf_counter() - t)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_TRACE")}
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]


def drain_dial_queue() -> None:
    """Empty the dial queue between requests, as the dialers would (moto's SQS slows down as a
    queue grows; real SQS does not)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    from outdial.local.embedded_aws import REGION

    for queue in sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues.values():
        queue._messages.clear()


def run_scenario(
    name: str, start_time: Any, requests: int, counter: RequestCounter
) -> dict[str, Any]:
    from outdial.handlers import api
    from outdial.local.apigateway import LambdaContext

    times: list[float] = []
    peaks: list[int] = []
    per_request: list[Counter[str]] = []
    for n in range(requests):
        calls = [
            call(**{"client-identifier": f"{name}-{n}-{i}", "start-time": start_time()})
            for i in range(CALLS)
        ]
        event = api_event("POST", "/outbound/create", create_body(calls))
        counter.counts.clear()
        if n == requests - 1:
            # Memory on the last request only: tracemalloc slows everything it watches.
            tracemalloc.start()
        started = time.perf_counter()
        result = api.handler(event, LambdaContext())
        elapsed = time.perf_counter() - started
        if tracemalloc.is_tracing():
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        else:
            times.append(elapsed)
        body = json.loads(result["body"])
        assert body["api-response-code"] == 200, body
        per_request.append(Counter(counter.counts))
        drain_dial_queue()
    steady = per_request[-1]
    return {
        "scenario": name,
        "timed_requests": len(times),
        "median_s": round(statistics.median(times), 3),
        "p90_s": round(sorted(times)[int(0.9 * (len(times) - 1))], 3),
        "first_s": round(times[0], 3),
        "aws_requests_per_request": dict(sorted(steady.items())),
        "by_service": {
            service: sum(v for k, v in steady.items() if k.startswith(service + "."))
            for service in sorted({k.split(".")[0] for k in steady})
        },
        "peak_python_memory_mib": round(max(peaks) / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=11, help="timed: all but the last")
    args = parser.parse_args()

    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from moto import mock_aws

    from outdial.adapters import aws
    from outdial.local.embedded_aws import make_dynamodb_writes_atomic, provision, use
    from outdial.logic.configure import apply_config, check_config

    imports = cold_import_seconds()
    make_dynamodb_writes_atomic()
    results = []
    with mock_aws():
        aws.reset_clients()
        use(provision())
        document = config_document()
        document["accounts"][0]["balance"] = 10**9
        apply_config(check_config(document))
        counter = RequestCounter()
        for service in ("dynamodb", "sqs", "scheduler"):
            counter.attach(aws.client(service))
        future = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0).isoformat()
        results.append(
            run_scenario("immediate", lambda: datetime.now(UTC).isoformat(), args.requests, counter)
        )
        results.append(run_scenario("one-future-time", lambda: future, args.requests, counter))
    import resource

    print(
        json.dumps(
            {
                "calls_per_request": CALLS,
                "scenarios": results,
                "cold_import_api_handler_s": {
                    "median": round(statistics.median(imports), 3),
                    "min": round(min(imports), 3),
                    "max": round(max(imports), 3),
                },
                "process_max_rss_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
