"""``outdial serve [--port 8080] [--config FILE]``: the whole service on 127.0.0.1."""

from __future__ import annotations

import argparse
import errno
import json
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from outdial.cli.config import load_config
from outdial.cli.errors import CliError


def register(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    serve = commands.add_parser("serve", help="run the whole service locally on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    serve.add_argument("--config", type=Path, help="configuration file (default: a demo)")
    common(serve)
    serve.set_defaults(run=lambda args: run(args.port, args.config), uses_aws=False)


def run(port: int, config_file: Path | None) -> int:
    try:
        from outdial.local.demo import DEMO_FLOW_ID, DEMO_SECURITY_ID, demo_config, demo_curl
        from outdial.local.runtime import LocalRuntime
        from outdial.logic.configure import check_config
    except ModuleNotFoundError as exc:
        raise CliError(
            f"`outdial serve` needs {exc.name}, which is not installed",
            "install the local extra: pip install -e '.[local]' (make serve does)",
        ) from exc

    checked = (
        load_config(config_file, "refused", local=True)
        if config_file
        else check_config(demo_config(), local=True)
    )
    if checked is None:
        return 1
    runtime = LocalRuntime(checked, port=port)
    try:
        runtime.start()
    except OSError as exc:
        runtime.stop()
        if exc.errno == errno.EADDRINUSE:
            raise CliError(
                f"port {port} on 127.0.0.1 is already in use",
                "stop what holds it (`lsof -i :PORT`) or pick another: make serve PORT=8081",
            ) from exc
        raise
    assert runtime.api is not None and runtime.aws is not None
    banner = {
        "message": "outdial serving",
        "url": runtime.api.url,
        "docs": f"{runtime.api.url}/docs",
        "aws-endpoint": runtime.aws.endpoint,
        "workers": [repr(worker) for worker in runtime.workers or []],
    }
    if config_file is None:
        banner |= {"demo-flow-id": DEMO_FLOW_ID, "demo-security-id": DEMO_SECURITY_ID}
    print(json.dumps(banner), flush=True)
    if config_file is None:
        print(f"try:\n{demo_curl(runtime.api.url)}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    runtime.stop()
    print(json.dumps({"message": "outdial stopped"}), flush=True)
    return 0
