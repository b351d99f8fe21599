"""Logger, tracer and metrics: made once, shared by every handler."""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from outdial.contract import METRICS_DIMENSIONS, METRICS_NAMESPACE, SERVICE, Metric

# Keys every line of a function's log group would repeat: the group is the function's (its name,
# ARN and memory), there is one service, and the message says where it comes from.
REPEATED_LOG_KEYS = frozenset(
    {"function_name", "function_arn", "function_memory_size", "service", "location"}
)


# Keys only a warning or an error carries: on an INFO line the invocation's request id names the
# SQS message (a dialer invocation takes one message), while a failure keeps the message's own
# id to find it by in the queue or its dead-letter queue.
FAILURE_LOG_KEYS = frozenset({"message_id"})
_QUIET_LEVELS = frozenset({"DEBUG", "INFO"})


class LeanFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines without the keys every line of a log group repeats (CloudWatch
    Logs bills each byte ingested: they were about 40 % of a line); ``cold_start`` only on a cold
    start; the SQS message id only on warnings and errors. Each line keeps its level, message,
    timestamp, request id, trace id and own keys."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        dropped = REPEATED_LOG_KEYS
        if log.get("level") in _QUIET_LEVELS:
            dropped = dropped | FAILURE_LOG_KEYS
        lean = {k: v for k, v in log.items() if k not in dropped}
        if lean.get("cold_start") is False:
            del lean["cold_start"]
        return super().serialize(lean)


logger = Logger(service=SERVICE, logger_formatter=LeanFormatter())
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


_MetricKey = tuple[str, str, tuple[tuple[str, str], ...]]
# Open while a handler works one message (``metrics_batch``): the values counted meanwhile, by
# metric, unit and dimensions. Per context: `outdial serve` runs invocations in threads, and a
# message's own pool threads (adapters/parallel.py) run in copies of its context.
_BATCH: ContextVar[dict[_MetricKey, list[float]] | None] = ContextVar(
    "outdial_metrics_batch", default=None
)
# The threads of one message (a dial group's legs) count into the same batch.
_BATCH_LOCK = threading.Lock()
# Values of a metric in one EMF line (EMF takes up to 100 per metric), and metrics in a line.
_VALUES_PER_LINE = 50
_METRICS_PER_LINE = 20


def count(name: Metric, value: float = 1, unit: MetricUnit = MetricUnit.Count, **dims: str) -> None:
    """Emit one business metric, with its own dimensions besides ``service``: now, or when the
    ``metrics_batch`` open in this context closes.

    Written as EMF lines here rather than through the shared ``metrics``: dimensions differ per
    metric, and it stays correct when `outdial serve` runs invocations in threads.
    """
    key = (str(name), str(unit.value), tuple(sorted(dims.items())))
    batch = _BATCH.get()
    if batch is None:
        _emit({key: [float(value)]})
    else:
        with _BATCH_LOCK:
            batch.setdefault(key, []).append(float(value))


@contextmanager
def metrics_batch() -> Iterator[None]:
    """Within it, ``count`` gathers the values of each metric (and dimensions), written when it
    closes, however it closes: a dial message's ten calls make one ``ScheduleLagSeconds`` entry
    of ten values, not ten lines, and the metrics of one message share EMF lines (a leg's
    outcome and its call's end, one line). CloudWatch reads each value as its own sample (sums,
    counts and percentiles unchanged); each line is ~200 bytes of ingested log."""
    batch: dict[_MetricKey, list[float]] = {}
    token = _BATCH.set(batch)
    try:
        yield
    finally:
        _BATCH.reset(token)
        _emit(batch)


def _emit(batch: dict[_MetricKey, list[float]]) -> None:
    """Write ``batch`` as few EMF documents as its metrics fit in: a document holds a metric
    directive (namespace, dimension set, metric) per metric, with every metric's values and
    dimension values at its root, so two metrics share one only when their names and dimension
    values do not clash (``LegsDialled`` of two outcomes take two)."""
    if not batch or is_metrics_disabled():
        return
    documents: list[dict[str, Any]] = []
    for (name, unit, dims), values in batch.items():
        for start in range(0, len(values), _VALUES_PER_LINE):
            document = next((d for d in documents if _room_for(d, name, dims)), None)
            if document is None:
                document = {
                    "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": []},
                    **METRICS_DIMENSIONS,
                }
                documents.append(document)
            document["_aws"]["CloudWatchMetrics"].append(
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [[*METRICS_DIMENSIONS, *(k for k, _ in dims)]],
                    "Metrics": [{"Name": name, "Unit": unit}],
                }
            )
            document.update(dims)
            document[name] = values[start : start + _VALUES_PER_LINE]
    for document in documents:
        print(json.dumps(document, separators=(",", ":")))


def _room_for(document: dict[str, Any], name: str, dims: tuple[tuple[str, str], ...]) -> bool:
    return (
        name not in document
        and len(document["_aws"]["CloudWatchMetrics"]) < _METRICS_PER_LINE
        and all(document.get(k, v) == v for k, v in dims)
    )


# A request that counts nothing (a health check) is normal, not worth a warning per request.
warnings.filterwarnings("ignore", message="No application metrics to publish")
