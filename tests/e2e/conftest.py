"""A real `outdial serve` process on a free loopback port, shared by the e2e tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    url: str
    banner: dict[str, Any]
    startup_seconds: float
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def drain(self) -> None:
        """Keep reading the server's log so a full pipe never blocks it."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)


def embedded_client(served: Served, service: str) -> Any:
    """A boto3 client of the embedded AWS that ``served`` prints as ``aws-endpoint``."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=served.banner["aws-endpoint"],
        region_name="ap-south-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def start_serve(*args: str, env_extra: dict[str, str] | None = None) -> Served:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OUTDIAL_"))}
    env |= env_extra or {}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "outdial.cli", "serve", "--port", "0", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith('{"message": "outdial serving"'):
            banner = json.loads(line)
            served = Served(banner["url"], banner, time.monotonic() - started, process)
            threading.Thread(target=served.drain, daemon=True).start()
            return served
    raise AssertionError(f"outdial serve exited with {process.wait()} before serving")


def stop_serve(served: Served) -> str:
    """Stop with SIGTERM as a user's Ctrl-C would; returns its log."""
    served.process.terminate()
    served.process.wait(timeout=20)
    time.sleep(0.2)  # let the drain thread read the last lines
    return "".join(served.output)


@pytest.fixture(scope="session")
def served() -> Iterator[Served]:
    running = start_serve()
    yield running
    stop_serve(running)
