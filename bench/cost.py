"""Benchmark: what AWS bills to run outdial, per million calls, measured on moto in-process.

Runs N calls (requests of 500, due now; a realistic mix: most answer on the first number, some
on an alternate, some busy / unanswered / refused) through the api, dialer and webhook handlers
the way their event sources would (one dial message per dialer invocation, leg outcomes up to
ten and webhook messages five at a time), with the simulator gateway and a webhook receiver on 127.0.0.1, and counts what AWS
bills:

- API Gateway requests; Lambda invocations and GB-seconds: each invocation's billed duration
  (rounded up to the millisecond) x the memory the stack configures (arm64), the duration being
  what it would take on Lambda: the handler's own CPU time (process CPU time during the
  invocation, less the CPU time spent inside AWS requests, where moto does AWS's work
  in-process), scaled by the share of a vCPU the memory buys (1,769 MB = 1 vCPU), plus the
  modelled network round trips on the invocation's critical path: every AWS request, gateway
  placement and webhook delivery is made to wait its round trip (ROUND_TRIPS below) for real, in
  the thread that sent it, so requests sent together (from a pool's threads) overlap as they
  would on a network; the critical path is the heaviest chain of requests each started after
  the previous one ended. Wall time on this shared machine would bill moto's work and other
  processes' contention as handler time;
- DynamoDB write and read request units from the actual size of every item written or read
  (DynamoDB's size rules, as moto computes them; an update bills the larger of the item before
  and after; transactions count double; writes to the keys-only indexes count);
- SQS requests (every send, receive and delete, per 64 KB chunk; the event source mapping's one
  receive and one delete per batch it delivers); Scheduler invocations; Secrets Manager calls;
- CloudWatch Logs bytes ingested (every line the functions print, EMF metrics included, plus an
  API Gateway access-log line per request); X-Ray traces at the default sampling rate.

It prints one row per service: units per 1M calls, the list price used (PRICES below: one region,
on-demand, dated) and $ per 1M calls, and the total.

    .venv/bin/python bench/cost.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import os
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # infra's CDK
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO"  # what the stack deploys (application log level)
os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)  # EMF lines are ingested logs too

from infra import constants as c  # noqa: E402
from tests.conftest import api_event, call, config_document, create_body, sqs_event  # noqa: E402

# List prices, us-east-1, on-demand, standard classes, beyond free tiers (as published by AWS,
# read 2026-11-30). Dollars per unit named.
PRICES_AS_OF = "2026-11-30, us-east-1, on-demand"
PRICES = {
    "API Gateway (REST) requests": 3.50 / 1e6,
    "Lambda requests": 0.20 / 1e6,
    "Lambda GB-seconds (arm64)": 0.0000133334,
    "DynamoDB write request units": 0.625 / 1e6,
    "DynamoDB read request units": 0.125 / 1e6,
    "SQS requests (64 KB chunks)": 0.40 / 1e6,
    "Scheduler invocations": 1.00 / 1e6,
    "CloudWatch Logs ingested (GB)": 0.50,
    "Secrets Manager API calls": 0.05 / 1e4,
    "X-Ray traces recorded": 5.00 / 1e6,
}
# Not per call, so not in the table: custom metrics ($0.30 per metric a month), alarms, the
# dashboard, storage (DynamoDB $0.25/GB-month, logs $0.03/GB-month), Secrets ($0.40 each a month).

# Modelled round trips, in-region, as a handler waits for them (read 2026-11-30). DynamoDB:
# "single-digit millisecond" reads and writes (AWS's DynamoDB product page), 5 ms; SQS
# SendMessageBatch / DeleteMessageBatch: ~10 ms (AWS's SQS docs quote tens of ms for standard
# queues; 10 ms is what in-region clients commonly see); EventBridge Scheduler CreateSchedule:
# 30-60 ms (measured on AWS when schedules were per second); Secrets Manager GetSecretValue,
# 20 ms. Outside AWS: a carrier's create-call API ~250 ms, a customer's webhook endpoint ~100 ms
# (assumptions; moto and the loopback peers answer in well under a millisecond).
ROUND_TRIPS = {
    "dynamodb": 0.005,
    "sqs": 0.010,
    "scheduler": 0.040,
    "secrets-manager": 0.020,
    "gateway placement": 0.250,
    "webhook delivery": 0.100,
}
FULL_VCPU_MB = 1769  # Lambda allocates CPU in proportion to memory: one vCPU at 1,769 MB

X_RAY_SAMPLING = 0.05  # the default rule beyond its first request each second
ACCESS_LOG_LINE_BYTES = 600  # one JSON access-log line per API request (infra/api.py's format)
MEMORY_MB = {"api": c.API_MEMORY_MB, "dialer": c.DIALER_MEMORY_MB, "webhooks": c.WEBHOOKS_MEMORY_MB}
CALLS_PER_REQUEST = 500
WEBHOOK_BATCH = c.WEBHOOK_BATCH_SIZE
SQS_CHUNK = 64 * 1024
IDLE_SECONDS = 8  # longer than the simulator's talk time (the delay of an outcome event)

# The mix of calls: (share, contact numbers by their last digit: 0 answers, 7 busy, 8 no answer,
# 9 the gateway refuses).
MIX = (
    (0.55, "0"),
    (0.15, "80"),
    (0.10, "7"),
    (0.10, "87"),
    (0.05, "8"),
    (0.05, "9"),
)


class Meter:
    """Counts billable units from botocore's events on every client the handlers use."""

    def __init__(self) -> None:
        self.units: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.aws_cpu = 0.0
        self.writes_by_item: Counter[str] = Counter()  # WRU by operation and item kind
        self.reads_by_item: defaultdict[str, float] = defaultdict(float)  # RRU by read, kind
        self.requests: list[tuple[float, float, str]] = []
        self._local = threading.local()
        self._lock = threading.Lock()

    def attach(self, client: Any, service: str) -> None:
        client.meta.events.register(f"provide-client-params.{service}.*", self._before)
        client.meta.events.register(f"after-call.{service}.*", self._after)
        # Innermost (after the billing hooks above): the request as moto answers it.
        client.meta.events.register(f"before-call.{service}.*", self._started)
        client.meta.events.register_last(f"after-call.{service}.*", self._ended)
        client.meta.events.register_last(f"after-call-error.{service}.*", self._ended)

    # --- time inside AWS requests ---------------------------------------------------------
    def _started(self, event_name: str, **_: Any) -> None:
        self._local.started = (time.perf_counter(), time.thread_time(), event_name.split(".")[1])

    def _ended(self, **_: Any) -> None:
        started = getattr(self._local, "started", None)
        if started is None:
            return
        self._local.started = None
        wall, cpu, service = started
        aws_cpu = time.thread_time() - cpu
        time.sleep(ROUND_TRIPS[service])  # the network moto does not have
        self.record(wall, service, aws_cpu)

    def record(self, started: float, kind: str, aws_cpu: float = 0.0) -> None:
        """A request of ``kind`` (a key of ROUND_TRIPS) that started at ``started`` and ends
        now, in the calling thread."""
        with self._lock:
            self.aws_cpu += aws_cpu
            self.requests.append((started, time.perf_counter(), kind))

    def take_requests(self) -> tuple[float, list[tuple[float, float, str]]]:
        """CPU seconds spent inside AWS requests, and the requests' (start, end, service), since
        the last take."""
        with self._lock:
            taken = self.aws_cpu, self.requests
            self.aws_cpu, self.requests = 0.0, []
        return taken

    def add(self, name: str, amount: float) -> None:
        with self._lock:
            self.units[name] += amount

    # --- DynamoDB ---------------------------------------------------------------------------
    @staticmethod
    def _item(table: str, key: dict[str, Any]) -> Any:
        """A copy of the item as it is now (moto updates its items in place: the item itself
        read before an update would be the item after it)."""
        from moto.dynamodb.models import dynamodb_backends

        from outdial.local.embedded_aws import ACCOUNT, REGION

        try:
            return copy.deepcopy(dynamodb_backends[ACCOUNT][REGION].get_item(table, key))
        except Exception:
            return None

    def _writes(self, operation: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """(table, key) of every item a write touches."""
        if operation in ("PutItem",):
            return [(params["TableName"], {"pk": params["Item"]["pk"]})]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(params["TableName"], params["Key"])]
        if operation == "BatchWriteItem":
            return [
                (table, r["PutRequest"]["Item"] if "PutRequest" in r else r["DeleteRequest"]["Key"])
                for table, requests in params["RequestItems"].items()
                for r in requests
            ]
        if operation == "TransactWriteItems":
            found = []
            for entry in params["TransactItems"]:
                ((_, body),) = entry.items()
                key = body.get("Key") or {"pk": body["Item"]["pk"]}
                found.append((body["TableName"], {"pk": key["pk"]}))
            return found
        return []

    def _before(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        _, service, operation = event_name.split(".")
        with self._lock:
            self.calls[f"{service}.{operation}"] += 1
        if service == "dynamodb":
            touched = self._writes(operation, params)
            self._local.before = [
                (table, {"pk": key["pk"]}, self._item(table, {"pk": key["pk"]}))
                for table, key in touched
            ]
            self._local.params = params
        elif service == "sqs":
            self._sqs(operation, params)
        elif service in ("secretsmanager", "secrets-manager"):
            self.add("Secrets Manager API calls", 1)

    def _after(self, event_name: str, parsed: dict[str, Any], **_: Any) -> None:
        _, service, operation = event_name.split(".")
        if service != "dynamodb":
            return
        double = 2 if operation.startswith("Transact") else 1
        for table, key, before in getattr(self._local, "before", []):
            after = self._item(table, key)
            size = max(before.size() if before else 0, after.size() if after else 0)
            units = double * max(1, math.ceil(size / 1024)) + _index_writes(before, after)
            self.add("DynamoDB write request units", units)
            kind = str(key["pk"].get("S", "?") if isinstance(key["pk"], dict) else key["pk"])
            with self._lock:
                self.writes_by_item[f"{operation} {kind.split('#')[0]}"] += units
        self._local.before = []
        params = self._local.params
        if operation == "GetItem":
            consistent = params.get("ConsistentRead", False)
            self._read(operation, params["Key"], parsed.get("Item"), consistent)
        elif operation == "BatchGetItem":
            for table, items in parsed.get("Responses", {}).items():
                consistent = params["RequestItems"][table].get("ConsistentRead", False)
                for item in items:
                    self._read(operation, item, item, consistent)
        elif operation == "Query":
            size = sum(_size(i) for i in parsed.get("Items", []))
            read_units = max(1, math.ceil(size / 4096)) / 2
            self.add("DynamoDB read request units", read_units)
            with self._lock:
                self.reads_by_item[f"Query {params.get('IndexName', params['TableName'])}"] += (
                    read_units
                )

    def _read(
        self, operation: str, key: dict[str, Any], item: dict[str, Any] | None, consistent: bool
    ) -> None:
        units: float = max(1, math.ceil(_size(item) / 4096)) if item else 1
        units = units if consistent else units / 2
        self.add("DynamoDB read request units", units)
        kind = str(key.get("pk", {}).get("S", "?")).split("#")[0]
        with self._lock:
            self.reads_by_item[f"{operation} {kind}{' (consistent)' if consistent else ''}"] += (
                units
            )

    # --- SQS ------------------------------------------------------------------------------
    def _sqs(self, operation: str, params: dict[str, Any]) -> None:
        if operation == "SendMessageBatch":
            size = sum(len(e["MessageBody"].encode()) for e in params["Entries"])
            self.add("SQS requests (64 KB chunks)", max(1, math.ceil(size / SQS_CHUNK)))
        elif operation == "SendMessage":
            size = len(params["MessageBody"].encode())
            self.add("SQS requests (64 KB chunks)", max(1, math.ceil(size / SQS_CHUNK)))
        else:  # ReceiveMessage, DeleteMessage, ChangeMessageVisibility, ...
            self.add("SQS requests (64 KB chunks)", 1)


def _index_keys(item: Any, keys: tuple[str, str]) -> Any:
    """The item's key in a keys-only index, or None when the index does not hold it."""
    if not item or any(k not in item.attrs for k in keys):
        return None
    return tuple(item.attrs[k].value for k in keys)


def _index_writes(before: Any, after: Any) -> int:
    """Write units a change costs in the calls table's keys-only indexes (pending dispatch,
    dialling deadlines): one to add or remove an entry, two to move it, none to leave it."""
    from outdial.adapters import tables

    writes = 0
    for keys in (
        (tables.PENDING_PARTITION_KEY, tables.PENDING_SORT_KEY),
        (tables.DEADLINE_PARTITION_KEY, tables.DEADLINE_SORT_KEY),
    ):
        old, new = _index_keys(before, keys), _index_keys(after, keys)
        if old != new:
            writes += 2 if old is not None and new is not None else 1
    return writes


def _size(typed: dict[str, Any] | None) -> int:
    """An item's size by DynamoDB's rules (moto's implementation), from its typed JSON."""
    if not typed:
        return 0
    from moto.dynamodb.models.dynamo_type import Item

    return int(Item(hash_key=None, range_key=None, attrs=typed).size())  # type: ignore[arg-type]


class Lambdas:
    """Invokes handlers as their event sources would, timing each invocation and keeping
    everything it prints (CloudWatch Logs ingests it)."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.invocations: Counter[str] = Counter()
        self.log_bytes = 0
        self.log_copy: Any = None  # a file that gets every line the functions print
        self.billed_ms: Counter[str] = Counter()
        self.own_cpu: Counter[str] = Counter()
        self.waits: Counter[str] = Counter()
        # Requests outside AWS the handlers made (gateway placements, webhook deliveries).
        self.outside_waits: Counter[str] = Counter()

    def invoke(self, name: str, handler: Any, event: dict[str, Any]) -> Any:
        from outdial.local.apigateway import LambdaContext
        from outdial.observability import logger

        out = io.StringIO()
        stream = logger.registered_handler  # bound to the real stdout when it was made
        previous = stream.setStream(out)  # type: ignore[attr-defined]
        logger.thread_safe_clear_keys()  # each function runs in its own process on Lambda
        self.meter.take_requests()
        cpu_started = time.process_time()
        try:
            with contextlib.redirect_stdout(out):  # EMF metrics are printed
                result = handler(event, LambdaContext(function_name=f"outdial-{name}"))
        finally:
            stream.setStream(previous)  # type: ignore[attr-defined]
        cpu = time.process_time() - cpu_started
        aws_cpu, requests = self.meter.take_requests()
        own_cpu = max(0.0, cpu - aws_cpu)
        waits = critical_wait(requests)
        seconds = own_cpu * max(1.0, FULL_VCPU_MB / MEMORY_MB[name]) + waits
        billed_ms = math.ceil(seconds * 1000)
        self.invocations[name] += 1
        self.billed_ms[name] += billed_ms
        self.own_cpu[name] += own_cpu
        self.waits[name] += waits
        self.log_bytes += len(out.getvalue().encode())
        if self.log_copy is not None:
            self.log_copy.write(out.getvalue())
        self.meter.add("Lambda requests", 1)
        self.meter.add("Lambda GB-seconds (arm64)", billed_ms / 1000 * MEMORY_MB[name] / 1024)
        self.meter.add("X-Ray traces recorded", X_RAY_SAMPLING)
        return result


def critical_wait(requests: list[tuple[float, float, str]]) -> float:
    """The modelled network wait of an invocation's requests (AWS, gateways, webhooks): the
    heaviest chain of requests each sent after the previous one was answered (requests sent
    together overlap), each weighing its round trip."""
    ordered = sorted(requests, key=lambda r: r[1])
    best: list[float] = []  # the heaviest chain ending with each request
    for start, _, service in ordered:
        before = [w for (_, end, _), w in zip(ordered, best, strict=False) if end <= start]
        best.append(ROUND_TRIPS[service] + max(before, default=0.0))
    return max(best, default=0.0)


def count_outside_requests(counts: Counter[str], meter: Meter) -> None:
    """Count the gateway placements and webhook deliveries the handlers make, each made to wait
    its round trip on a real network (in the thread that makes it) and recorded as a request of
    the invocation."""
    from outdial.adapters.gateways.simulator import SimulatorGatewayAdapter
    from outdial.adapters.webhook_client import WebhookClient

    lock = threading.Lock()

    def counted(kind: str, method: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with lock:
                counts[kind] += 1
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                time.sleep(ROUND_TRIPS[kind])
                meter.record(started, kind)

        return wrapper

    SimulatorGatewayAdapter.place = counted(  # type: ignore[method-assign]
        "gateway placement", SimulatorGatewayAdapter.place
    )
    WebhookClient.deliver = counted("webhook delivery", WebhookClient.deliver)  # type: ignore[method-assign]


def _numbers(index: int, digits: str) -> list[str]:
    return [f"98{index % 10**7:07d}{n}" for n in digits]


def calls_of_mix(total: int, mix: tuple[tuple[float, str], ...] = MIX) -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    for share, digits in mix:
        for _ in range(round(share * total)):
            i = len(made)
            made.append(
                call(**{"client-identifier": f"c{i}", "contact-numbers": _numbers(i, digits)})
            )
    return made[:total]


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    from tests.fakes.http_peer import HttpPeer, Reply

    with HttpPeer(default=Reply(200)) as peer:
        yield peer.url_for("/hook")


def drain(sqs: Any, url: str, batch: int) -> Iterator[list[str]]:
    """Receive like an event source mapping: a batch, handed on, then deleted."""
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=batch, VisibilityTimeout=300
        ).get("Messages", [])
        if not messages:
            return
        yield [m["Body"] for m in messages]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )


def run(
    calls: int, mix: tuple[tuple[float, str], ...] = MIX, log_copy: Any = None
) -> dict[str, Any]:
    from moto import mock_aws

    from outdial.adapters import aws, egress
    from outdial.handlers import api, dialer, webhooks
    from outdial.local.embedded_aws import provision, use
    from outdial.local.moto_patches import make_dynamodb_writes_atomic
    from outdial.logic.configure import apply_config, check_config
    from outdial.settings import get_settings

    egress.set_local_mode(True)  # the webhook receiver is on 127.0.0.1, as under `outdial serve`
    make_dynamodb_writes_atomic()
    meter = Meter()
    lambdas = Lambdas(meter)
    lambdas.log_copy = log_copy
    count_outside_requests(lambdas.outside_waits, meter)
    with mock_aws(), receiver() as hook_url:
        aws.reset_clients()
        use(provision())
        document = config_document()
        document["accounts"][0]["balance"] = 10**9
        document["accounts"][0]["webhook-url"] = hook_url
        document["flows"][0]["max-attempts"] = 1
        document["flows"][0]["required-keys"] = []
        document["flows"][0]["dids"] = [
            {"number": f"+9180300000{n:02d}", "enabled": True} for n in range(1, 5)
        ]
        document["gateways"][0]["ring-seconds"] = 0
        apply_config(check_config(document, local=True))
        for service in ("dynamodb", "sqs", "scheduler", "secretsmanager"):
            meter.attach(aws.client(service), service)
        settings = get_settings()
        sqs = aws.client("sqs")

        made = calls_of_mix(calls, mix)
        for start in range(0, len(made), CALLS_PER_REQUEST):
            body = create_body(made[start : start + CALLS_PER_REQUEST])
            result = lambdas.invoke("api", api.handler, api_event("POST", "/outbound/create", body))
            assert json.loads(result["body"])["api-response-code"] == 200, result["body"][:300]
            meter.add("API Gateway (REST) requests", 1)
            lambdas.log_bytes += ACCESS_LOG_LINE_BYTES
        # The dial queue (one message a dialer invocation), the outcome queue (up to ten a
        # dialer invocation) and the webhook queue until every call has ended and been reported
        # (outcome events come back delayed by the simulator's talk time, so an empty queue is
        # waited on a while)
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < IDLE_SECONDS:
            moved = 0
            for bodies in drain(sqs, settings.dial_queue_url, c.DIAL_BATCH_SIZE):
                lambdas.invoke("dialer", dialer.handler, sqs_event(bodies))
                moved += 1
            for bodies in drain(sqs, settings.outcome_queue_url, c.OUTCOME_BATCH_SIZE):
                lambdas.invoke("dialer", dialer.handler, sqs_event(bodies))
                moved += 1
            for bodies in drain(sqs, settings.webhook_queue_url, WEBHOOK_BATCH):
                lambdas.invoke("webhooks", webhooks.handler, sqs_event(bodies))
                moved += 1
            if moved:
                idle_since = time.monotonic()
            else:
                time.sleep(0.5)
        # (The idle polls above are counted as SQS requests, as an event source's would be.)
        ended = Counter(
            item["status"]["S"]
            for item in _scan(aws.client("dynamodb"), settings.calls_table)
            if item["pk"]["S"].startswith("CALL#")
        )
    meter.add("CloudWatch Logs ingested (GB)", lambdas.log_bytes / 2**30)
    return {"meter": meter, "lambdas": lambdas, "ended": ended}


def _scan(client: Any, table: str) -> Iterator[dict[str, Any]]:
    request: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**request)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def table(calls: int, meter: Meter) -> tuple[list[dict[str, Any]], float]:
    rows, total = [], 0.0
    scale = 1e6 / calls
    for name, price in PRICES.items():
        units = meter.units.get(name, 0.0) * scale
        dollars = units * price
        total += dollars
        rows.append(
            {
                "service": name,
                "units_per_1M_calls": round(units, 3 if units < 10 else 0),
                "list_price_usd": price,
                "usd_per_1M_calls": round(dollars, 2),
            }
        )
    return rows, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument(
        "--answered-only",
        action="store_true",
        help="every call answers on its first number (what one answered call costs)",
    )
    parser.add_argument("--logs", type=Path, help="write every line the functions print here")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        log_copy = stack.enter_context(args.logs.open("w")) if args.logs else None
        measured = run(args.calls, ((1.0, "0"),) if args.answered_only else MIX, log_copy)
    meter, lambdas, ended = measured["meter"], measured["lambdas"], measured["ended"]
    rows, total = table(args.calls, meter)
    answered = ended.get("COMPLETED", 0)
    print(f"outdial: AWS cost per 1M calls ({args.calls} calls measured; prices {PRICES_AS_OF})")
    print(f"{'service':<32} {'units / 1M calls':>18} {'list price $':>14} {'$ / 1M calls':>13}")
    for row in rows:
        print(
            f"{row['service']:<32} {row['units_per_1M_calls']:>18,} "
            f"{row['list_price_usd']:>14.10g} {row['usd_per_1M_calls']:>13,.2f}"
        )
    print(f"{'total':<32} {'':>18} {'':>14} {total:>13,.2f}")
    print(
        json.dumps(
            {
                "calls": args.calls,
                "ended": dict(ended),
                "wru_per_call": round(meter.units["DynamoDB write request units"] / args.calls, 2),
                "wru_per_answered_call_of_the_mix": round(
                    meter.units["DynamoDB write request units"] / max(answered, 1), 2
                ),
                "wru_per_call_by_write": {
                    k: round(v / args.calls, 2) for k, v in meter.writes_by_item.most_common()
                },
                "rru_per_call": round(meter.units["DynamoDB read request units"] / args.calls, 2),
                "rru_per_call_by_read": {
                    k: round(v / args.calls, 2)
                    for k, v in sorted(meter.reads_by_item.items(), key=lambda kv: -kv[1])
                },
                "invocations": dict(lambdas.invocations),
                "billed_ms_per_invocation": {
                    name: round(lambdas.billed_ms[name] / n, 1)
                    for name, n in lambdas.invocations.items()
                },
                "own_cpu_ms_per_invocation": {
                    name: round(1000 * lambdas.own_cpu[name] / n, 1)
                    for name, n in lambdas.invocations.items()
                },
                "modelled_wait_ms_per_invocation": {
                    name: round(1000 * lambdas.waits[name] / n, 1)
                    for name, n in lambdas.invocations.items()
                },
                "gateway_placements_and_webhook_deliveries": dict(lambdas.outside_waits),
                "log_bytes_per_call": round(lambdas.log_bytes / args.calls),
                "aws_requests_per_call": {
                    k: round(v / args.calls, 2) for k, v in sorted(meter.calls.items())
                },
                "usd_per_1M_calls": round(total, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
