"""Benchmark: POST /outbound/create with 500 calls through the api handler on moto (in-process).

Prints, per scenario (all due now, one future time, spread over 500 s): median / p90 wall time
per request, AWS API requests per request by service and operation (counted with botocore's
event hooks), the critical path (the AWS round trips that could not overlap: measured on one more
request with a simulated network round trip added to every AWS request, as the longest chain of
requests each starting after the previous one ended), peak Python memory per request;
and cold import times in fresh interpreters given Lambda's environment: the api handler module
with bytecode (as the Lambda asset ships it), the same from sources only (what the bytecode
saves), and the bare libraries it is built on (the floor no handler code can go below).

The ten-number scenarios give every call ten numbers of its own (5,000 distinct numbers a
request): what the do-not-call scrub reads (one BatchGetItem per 100 numbers), and with an
account's frequency cap what the cap check adds (as many again), against the one-number
scenarios, whose calls share one number.

    .venv/bin/python bench/create.py [--requests 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
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
# A simulated AWS round trip for the critical-path request: long beside the CPU work of building
# a request and moto's of answering it (a 500-call request's batches are built one after another
# under the GIL, ~1 s on a busy 2-core machine), so requests sent together overlap however busy
# the machine is.
ROUND_TRIP_SECONDS = 1.5


class RequestCounter:
    """Counts every AWS API request botocore makes, by service and operation; with a round trip
    set, each request also waits that long (as on a network) and its interval is recorded."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.round_trip = 0.0
        self.intervals: list[tuple[float, float]] = []
        self._started = threading.local()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.*.*", self._count)
        client.meta.events.register("after-call.*.*", self._ended)

    def _count(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".")
        with self._lock:
            self.counts[f"{service}.{operation}"] += 1
        self._started.at = time.perf_counter()
        if self.round_trip:
            time.sleep(self.round_trip)

    def _ended(self, **_: Any) -> None:
        if self.round_trip:
            with self._lock:
                self.intervals.append((self._started.at, time.perf_counter()))

    def critical_path(self) -> int:
        """The longest chain of requests each started after the previous one ended."""
        chain, last_end = 0, float("-inf")
        for start, end in sorted(self.intervals, key=lambda i: i[1]):
            if start >= last_end:
                chain, last_end = chain + 1, end
        return chain


# What a cold Lambda start imports before the first request: the handler module, with the
# environment Lambda gives it (the X-Ray SDK builds no sampling client when it sees
# LAMBDA_TASK_ROOT, as on Lambda).
HANDLER_IMPORT = "import outdial.handlers.api"
# The same start's floor: the libraries the api handler is built on, imported bare.
STACK_IMPORT = (
    "import botocore.session, phonenumbers, pydantic; from pydantic import BaseModel; "
    "from aws_lambda_powertools import Logger, Metrics, Tracer; "
    "from aws_lambda_powertools.event_handler import APIGatewayRestResolver; "
    "Tracer(service='floor', patch_modules=('botocore',))"
)
# The Lambda Python runtime brings these, with their bytecode; the asset ships the rest, with
# theirs (infra/bytecode.py).
RUNTIME_PACKAGES = frozenset({"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six"})


def lambda_environment(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("POWERTOOLS_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    return env | {
        "LAMBDA_TASK_ROOT": tempfile.gettempdir(),
        "AWS_LAMBDA_FUNCTION_NAME": "outdial-api",
        "AWS_REGION": "ap-south-1",
        "PYTHONPATH": str(ROOT / "lambdas"),
        **extra,
    }


def import_seconds(statement: str, env: dict[str, str], runs: int) -> list[float]:
    """Seconds ``statement`` takes in each of ``runs`` fresh interpreters."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]


def source_only_copy(target: Path) -> None:
    """Copy what the asset ships for the api handler into ``target``, without its bytecode."""
    code = (
        "import sys, outdial.handlers.api; "
        "print('\\n'.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    names = subprocess.run(
        [sys.executable, "-c", code],
        env=lambda_environment(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    site = Path(sysconfig.get_paths()["purelib"])
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in names:
        for source in (ROOT / "lambdas" / name, site / name, site / f"{name}.py"):
            if name in RUNTIME_PACKAGES or not source.exists():
                continue
            if source.is_dir():
                shutil.copytree(source, target / name, ignore=ignore)
            else:
                shutil.copy2(source, target / source.name)
            break


def cold_imports(runs: int = 9) -> dict[str, dict[str, float]]:
    """Median (min-max) seconds of three cold imports: the handler with bytecode, the handler
    from sources only, and the bare stack it is built on."""
    with tempfile.TemporaryDirectory() as shipped:
        source_only_copy(Path(shipped))
        no_bytecode = lambda_environment(PYTHONPATH=shipped, PYTHONDONTWRITEBYTECODE="1")
        import_seconds(HANDLER_IMPORT, lambda_environment(), 1)  # writes the package's bytecode
        measured = {
            "api_handler": import_seconds(HANDLER_IMPORT, lambda_environment(), runs),
            "api_handler_sources_only": import_seconds(
                HANDLER_IMPORT, no_bytecode, max(3, runs // 3)
            ),
            "stack_floor": import_seconds(STACK_IMPORT, lambda_environment(), runs),
        }
    return {
        name: {
            "median": round(statistics.median(times), 3),
            "min": round(min(times), 3),
            "max": round(max(times), 3),
        }
        for name, times in measured.items()
    }


def drain_dial_queue() -> None:
    """Empty the dial queue between requests, as the dialers would (moto's SQS slows down as a
    queue grows; real SQS does not)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    from outdial.local.embedded_aws import REGION

    for queue in sqs_backends[DEFAULT_ACCOUNT_ID][REGION].queues.values():
        queue._messages.clear()


def ten_numbers(request: int, index: int) -> list[str]:
    """Ten Indian mobile numbers no other call of the run has."""
    first = (request * CALLS + index) * 10
    return [f"98{(first + j) * 37:08d}" for j in range(10)]


def run_scenario(
    name: str,
    start_time: Any,
    requests: int,
    counter: RequestCounter,
    numbers: Any = None,
) -> dict[str, Any]:
    from outdial.handlers import api
    from outdial.local.apigateway import LambdaContext
    from outdial.logic.policy import Policy

    times: list[float] = []
    screens: list[float] = []
    peaks: list[int] = []
    screen = Policy.screen

    def timed_screen(self: Policy, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return screen(self, *args)
        finally:
            screens.append(time.perf_counter() - started)

    Policy.screen = timed_screen  # type: ignore[method-assign]
    per_request: list[Counter[str]] = []
    for n in range(requests + 1):
        calls = [
            call(
                **{"client-identifier": f"{name}-{n}-{i}", "start-time": start_time(i)},
                **({"contact-numbers": numbers(n, i)} if numbers else {}),
            )
            for i in range(CALLS)
        ]
        event = api_event("POST", "/outbound/create", create_body(calls))
        counter.counts.clear()
        counter.intervals.clear()
        critical = n == requests  # the last: with a simulated round trip per AWS request
        counter.round_trip = ROUND_TRIP_SECONDS if critical else 0.0
        if n == requests - 1:
            # Memory on one request only: tracemalloc slows everything it watches.
            tracemalloc.start()
        started = time.perf_counter()
        result = api.handler(event, LambdaContext())
        elapsed = time.perf_counter() - started
        if tracemalloc.is_tracing():
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        elif critical:
            with_round_trips = elapsed
        else:
            times.append(elapsed)
        body = json.loads(result["body"])
        assert body["api-response-code"] == 200, body
        per_request.append(Counter(counter.counts))
        drain_dial_queue()
    counter.round_trip = 0.0
    Policy.screen = screen  # type: ignore[method-assign]
    steady = per_request[-1]
    return {
        "scenario": name,
        "timed_requests": len(times),
        "median_s": round(statistics.median(times), 3),
        "p90_s": round(sorted(times)[int(0.9 * (len(times) - 1))], 3),
        "first_s": round(times[0], 3),
        # The dialling policy's share: the do-not-call scrub and cap check (their reads and
        # the window arithmetic), median per request.
        "policy_screen_median_s": round(statistics.median(screens[:-2]), 3),
        "aws_requests_per_request": dict(sorted(steady.items())),
        "by_service": {
            service: sum(v for k, v in steady.items() if k.startswith(service + "."))
            for service in sorted({k.split(".")[0] for k in steady})
        },
        "peak_python_memory_mib": round(max(peaks) / 2**20, 1),
        "critical_path_round_trips": counter.critical_path(),
        f"wall_s_with_{ROUND_TRIP_SECONDS}s_round_trips": round(with_round_trips, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=11, help="timed: all but the last")
    parser.add_argument("--no-imports", action="store_true", help="skip the cold imports")
    args = parser.parse_args()

    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from moto import mock_aws

    from outdial.adapters import aws
    from outdial.local.embedded_aws import provision, use
    from outdial.local.moto_patches import make_dynamodb_writes_atomic
    from outdial.logic.configure import apply_config, check_config
    from outdial.process import reset_process_state

    imports = {} if args.no_imports else cold_imports()
    make_dynamodb_writes_atomic()
    results = []
    with mock_aws():
        reset_process_state()
        use(provision())
        document = config_document()
        document["accounts"][0]["balance"] = 10**9
        apply_config(check_config(document, local=True))
        counter = RequestCounter()
        for service in ("dynamodb", "sqs", "scheduler"):
            counter.attach(aws.client(service))
        future = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0).isoformat()
        results.append(
            run_scenario(
                "all-due-now", lambda _: datetime.now(UTC).isoformat(), args.requests, counter
            )
        )
        results.append(run_scenario("one-future-time", lambda _: future, args.requests, counter))
        results.append(
            run_scenario(
                "spread-over-500s",
                lambda i: (datetime.now(UTC) + timedelta(seconds=i)).isoformat(),
                args.requests,
                counter,
            )
        )
        now = lambda _: datetime.now(UTC).isoformat()  # noqa: E731
        results.append(run_scenario("ten-numbers-dnc", now, args.requests, counter, ten_numbers))
        document["accounts"][0]["max-calls-per-number-per-day"] = 3
        apply_config(check_config(document, local=True))
        results.append(
            run_scenario("ten-numbers-dnc-and-cap", now, args.requests, counter, ten_numbers)
        )
    import resource

    print(
        json.dumps(
            {
                "calls_per_request": CALLS,
                "scenarios": results,
                "cold_import_s": imports,
                "process_max_rss_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
