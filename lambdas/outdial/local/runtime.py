"""`outdial serve`: the whole service in one process on 127.0.0.1.

An embedded AWS (moto), our resources inside it, the configuration applied, the api handler
behind a local API Gateway, and the background workers that stand in for what AWS runs for us:
the schedule pump (EventBridge Scheduler), one queue poller per SQS event source mapping (dial
queue → dialer, webhook queue → webhooks) and the sweeper's one-minute timer.
``LocalRuntime.workers`` replaces those defaults with anything that has ``start()`` and
``stop()`` (``[]`` for none).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

from outdial.adapters import egress
from outdial.contract import (
    DIAL_BATCH_SIZE,
    DIAL_VISIBILITY_SECONDS,
    DIALER_TIMEOUT_SECONDS,
    OUTCOME_BATCH_SIZE,
    OUTCOME_VISIBILITY_SECONDS,
    SWEEP_INTERVAL_SECONDS,
    WEBHOOK_BATCH_SIZE,
    WEBHOOK_VISIBILITY_SECONDS,
)
from outdial.local.apigateway import ApiGateway
from outdial.local.embedded_aws import EmbeddedAws, Resources, provision, use
from outdial.local.queue_poller import QueuePoller
from outdial.local.schedule_pump import SchedulePump
from outdial.local.timer import Timer
from outdial.logic.configure import CheckedConfig, apply_config

# The event source mappings' settings are the stack's (outdial.contract); only concurrency is
# the laptop's own (the stack's dialer concurrency is a deployment knob, and two cores are few).
# The dialer's own timeout is the stack's too (its time budget is taken from what is left of it).
DIAL_CONCURRENCY = 4
WEBHOOK_CONCURRENCY = 2
# Tests and demos of deadlines shorten the sweeper's period with this variable (seconds).
SWEEP_INTERVAL_ENV = "OUTDIAL_SWEEP_INTERVAL_SECONDS"


class Worker(Protocol):
    def start(self) -> Any: ...
    def stop(self) -> None: ...


@dataclass
class LocalRuntime:
    config: CheckedConfig
    port: int = 8080
    aws_port: int = 0
    # None: the default workers, made once the resources exist (see ``default_workers``).
    workers: list[Worker] | None = None
    aws: EmbeddedAws | None = None
    api: ApiGateway | None = None

    def start(self) -> LocalRuntime:
        # Outside Lambda there is no X-Ray daemon to send segments to.
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "outdial")
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
        # The embedded AWS shares the machine with everything else: give it time under load.
        os.environ.setdefault("OUTDIAL_AWS_READ_TIMEOUT_SECONDS", "60")
        # Its demo and tests post webhooks to receivers on 127.0.0.1 (SPEC §10: only
        # `outdial serve` may); Lambda never runs this.
        egress.set_local_mode(True)
        self.aws = EmbeddedAws(self.aws_port).start()
        resources = provision()
        use(resources)
        apply_config(self.config)
        from outdial.handlers import api  # after the environment is set: clients bind lazily

        self.api = ApiGateway(api.handler, port=self.port).start()
        if self.workers is None:
            self.workers = default_workers(resources)
        for worker in self.workers:
            worker.start()
        return self

    def stop(self) -> None:
        for worker in reversed(self.workers or []):
            worker.stop()
        if self.api:
            self.api.stop()
        if self.aws:
            self.aws.stop()
        egress.set_local_mode(False)


def sweep_interval() -> float:
    """The sweeper timer's period: ``OUTDIAL_SWEEP_INTERVAL_SECONDS``, else one minute."""
    value = os.environ.get(SWEEP_INTERVAL_ENV, "")
    try:
        seconds = float(value) if value else SWEEP_INTERVAL_SECONDS
    except ValueError:
        raise ValueError(
            f"{SWEEP_INTERVAL_ENV} must be a number of seconds, not {value!r}"
        ) from None
    if not 0.1 <= seconds <= 3600:
        raise ValueError(f"{SWEEP_INTERVAL_ENV} must lie between 0.1 and 3600 seconds")
    return seconds


def default_workers(resources: Resources) -> list[Worker]:
    """The schedule pump, the three queue pollers and the sweeper's timer, on ``resources``.

    Handlers are imported here, after the environment points at ``resources``.
    """
    from outdial.handlers import dialer, sweeper, webhooks

    settings = resources.settings
    return [
        SchedulePump(settings.schedule_group),
        QueuePoller(
            settings.dial_queue_url,
            dialer.handler,
            batch_size=DIAL_BATCH_SIZE,
            visibility_timeout=DIAL_VISIBILITY_SECONDS,
            function_timeout=DIALER_TIMEOUT_SECONDS,
            concurrency=DIAL_CONCURRENCY,
            name="dialer",
        ),
        QueuePoller(
            settings.outcome_queue_url,
            dialer.handler,
            batch_size=OUTCOME_BATCH_SIZE,
            visibility_timeout=OUTCOME_VISIBILITY_SECONDS,
            function_timeout=DIALER_TIMEOUT_SECONDS,
            concurrency=DIAL_CONCURRENCY,
            name="outcomes",
        ),
        QueuePoller(
            settings.webhook_queue_url,
            webhooks.handler,
            batch_size=WEBHOOK_BATCH_SIZE,
            visibility_timeout=WEBHOOK_VISIBILITY_SECONDS,
            concurrency=WEBHOOK_CONCURRENCY,
            name="webhooks",
        ),
        Timer(sweeper.handler, interval=sweep_interval(), name="sweeper"),
    ]
