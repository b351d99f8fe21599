"""Logger, tracer and metrics: made once, shared by every handler."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from outdial.contract import METRICS_DIMENSIONS, METRICS_NAMESPACE, SERVICE, Metric

logger = Logger(service=SERVICE)
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
