"""Logger, tracer and metrics: made once, shared by every handler."""

from __future__ import annotations

import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from outdial.contract import METRICS_DIMENSIONS, METRICS_NAMESPACE, SERVICE, Metric

# Keys every line of a function's log group would repeat: the group is the function's (its name,
# ARN and memory), there is one service, and the message says where it comes from.
REPEATED_LOG_KEYS = frozenset(
    {"function_name", "function_arn", "function_memory_size", "service", "location"}
)


class LeanFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines without the keys every line of a log group repeats (CloudWatch
    Logs bills each byte ingested: they were about 40 % of a line); ``cold_start`` only on a cold
    start. Each line keeps its level, message, timestamp, request id, trace id and own keys."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        lean = {k: v for k, v in log.items() if k not in REPEATED_LOG_KEYS}
        if lean.get("cold_start") is False:
            del lean["cold_start"]
        return super().serialize(lean)


logger = Logger(service=SERVICE, logger_formatter=LeanFormatter())
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


def count(name: Metric, value: float = 1, unit: MetricUnit = MetricUnit.Count, **dims: str) -> None:
    """Emit one business metric now, with its own dimensions besides ``service``.

    A metric object per event (``single_metric``) rather than the shared ``metrics``: dimensions
    differ per metric, and it stays correct when `outdial serve` runs invocations in threads.
    """
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        namespace=METRICS_NAMESPACE,
        default_dimensions=dict(METRICS_DIMENSIONS),
    ) as metric:
        for dimension, dimension_value in dims.items():
            metric.add_dimension(name=dimension, value=dimension_value)


# A request that counts nothing (a health check) is normal, not worth a warning per request.
warnings.filterwarnings("ignore", message="No application metrics to publish")
