"""Load run against a real `outdial serve` on 127.0.0.1 (simulator gateway, embedded AWS).

1. Concurrent clients post 500-call batches (due in two hours) for --seconds: accepted calls per
   minute, request latency p50/p99.
2. One 500-call batch due now: waits until every call is terminal, then checks none is lost and
   no leg was placed twice (from the simulator's log), and prints the schedule lag p50/p99
   (first leg's start minus the call's start-time).

    .venv/bin/python bench/load.py [--seconds 60] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import FLOW_ID, SECURITY_ID, config_document  # noqa: E402
from tests.e2e.conftest import start_serve, stop_serve  # noqa: E402

BATCH = 500


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def batch(tag: str, start: datetime, numbers: list[str]) -> dict[str, Any]:
    return {
        "api-version": "1.0",
        "security-id": SECURITY_ID,
        "flow-id": FLOW_ID,
        "calls": [
            {
                "client-identifier": f"{tag}-{i}",
                "start-time": start.isoformat(),
                "contact-numbers": [numbers[i % len(numbers)]],
                "keys": [{"name": "$flow.key.name", "value": "Load"}],
            }
            for i in range(BATCH)
        ],
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    document = config_document()
    document["accounts"][0]["balance"] = 10**9
    document["accounts"][0]["webhook-url"] = None
    document["flows"][0]["max-attempts"] = 1
    config = Path(tempfile.mkdtemp()) / "load.json"
    config.write_text(json.dumps(document))
    served = start_serve("--config", str(config), env_extra={"POWERTOOLS_LOG_LEVEL": "INFO"})
    url = f"{served.url}/outbound/create"
    try:
        # --- 1. sustained acceptance ---------------------------------------------------------
        later = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
        latencies: list[float] = []
        accepted = Counter[str]()
        stop_at = time.monotonic() + args.seconds
        lock = threading.Lock()

        def client(n: int) -> None:
            sent = 0
            while time.monotonic() < stop_at:
                body = batch(f"load-{n}-{sent}", later, ["9812345670"])
                began = time.perf_counter()
                status, answer = post(url, body)
                elapsed = time.perf_counter() - began
                with lock:
                    latencies.append(elapsed)
                    accepted[str(answer.get("api-response-code"))] += (
                        len(answer.get("call-details", [])) if status == 200 else 1
                    )
                sent += 1

        began = time.monotonic()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - began

        # --- 2. a batch due now, to its end --------------------------------------------------
        numbers = [f"981234567{d}" for d in "0123456780"]  # mostly answered, some busy/unanswered
        now = datetime.now(UTC)
        status, answer = post(url, batch("due-now", now, numbers))
        assert status == 200, answer
        ids = [d["phonon-uuid"] for d in answer["call-details"]]
        deadline = time.monotonic() + 600
        calls: list[dict[str, Any]] = []
        ended: list[dict[str, Any]] = []
        while True:
            status, pulled = post(
                f"{served.url}/outbound/pull",
                {"security-id": SECURITY_ID, "flow-id": FLOW_ID, "phonon-uuids": ids},
            )
            if status != 200:
                print(f"pull answered {status}: {pulled}", file=sys.stderr)
                time.sleep(1)
                continue
            calls = pulled["data"]
            ended = [c for c in calls if c["status"] in ("COMPLETED", "NOT_CONNECTED", "FAILED")]
            print(f"{len(ended)}/{len(ids)} calls ended", file=sys.stderr)
            if len(ended) == len(ids) or time.monotonic() > deadline:
                break
            time.sleep(1)
        drained_at = time.monotonic()
    finally:
        print(f"load phase done; stopping serve at {time.strftime('%X')}", file=sys.stderr)
        try:
            output = stop_serve(served)
        except Exception:
            served.process.kill()
            output = "".join(served.output)

    # Log lines from concurrent threads can interleave locally: find the records, not lines.
    placed = Counter(
        re.findall(r'"message":"simulator placed leg"[^{}]*?"leg_id":"([^"]+)"', output)
    )
    lags = [
        (
            datetime.fromisoformat(c["attempts"][0]["legs"][0]["started-at"])
            - datetime.fromisoformat(c["start-time"])
        ).total_seconds()
        for c in calls
        if c["attempts"]
    ]
    print(
        json.dumps(
            {
                "load": {
                    "clients": args.clients,
                    "seconds": round(wall, 1),
                    "requests": len(latencies),
                    "accepted_calls": accepted["200"],
                    "accepted_calls_per_minute": round(accepted["200"] * 60 / wall),
                    "responses_by_code": dict(accepted),
                    "request_p50_s": pct(latencies, 0.5),
                    "request_p99_s": pct(latencies, 0.99),
                },
                "due_now_batch": {
                    "calls": len(ids),
                    "terminal": len(ended),
                    "lost": len(ids) - len(ended),
                    "statuses": dict(Counter(c["status"] for c in calls)),
                    "legs_placed": sum(placed.values()),
                    "legs_placed_twice": sum(1 for n in placed.values() if n > 1),
                    "all_terminal_after_s": round(
                        drained_at - (now.timestamp() - time.time() + time.monotonic()), 1
                    ),
                    "schedule_lag_p50_s": round(statistics.median(lags), 3) if lags else None,
                    "schedule_lag_p99_s": pct(lags, 0.99) if lags else None,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
