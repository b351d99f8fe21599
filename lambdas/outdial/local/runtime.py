"""`outdial serve`: the whole service in one process on 127.0.0.1.

An embedded AWS (moto), our resources inside it, the configuration applied, and the api handler
behind a local API Gateway. Background workers (the dialer's queue poller, the schedule pump)
plug in through ``LocalRuntime.workers``: anything with ``start()`` and ``stop()``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from outdial.local.apigateway import ApiGateway
from outdial.local.embedded_aws import EmbeddedAws, provision, use
from outdial.logic.configure import CheckedConfig, apply_config


class Worker(Protocol):
    def start(self) -> Any: ...
    def stop(self) -> None: ...


@dataclass
class LocalRuntime:
    config: CheckedConfig
    port: int = 8080
    aws_port: int = 0
    workers: list[Worker] = field(default_factory=list)
    aws: EmbeddedAws | None = None
    api: ApiGateway | None = None

    def start(self) -> LocalRuntime:
        # Outside Lambda there is no X-Ray daemon to send segments to.
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "outdial")
        self.aws = EmbeddedAws(self.aws_port).start()
        use(provision())
        apply_config(self.config)
        from outdial.handlers import api  # after the environment is set: clients bind lazily

        self.api = ApiGateway(api.handler, port=self.port).start()
        for worker in self.workers:
            worker.start()
        return self

    def stop(self) -> None:
        for worker in reversed(self.workers):
            worker.stop()
        if self.api:
            self.api.stop()
        if self.aws:
            self.aws.stop()
