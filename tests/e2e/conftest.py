"""A real `outdial serve` process on a free loopback port, shared by the e2e tests, and the
`outdial` command run in its own process as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REGION = "ap-south-1"  # the embedded AWS's region


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
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def outdial_command(*args: str) -> list[str]:
    """``outdial ARGS`` as a command line, with this interpreter."""
    return [sys.executable, "-m", "outdial.cli", *args]


def cli_environment(
    served: Served | None = None,
    env: Mapping[str, str] | None = None,
    *,
    region: str | None = REGION,
) -> dict[str, str]:
    """The environment of a user's shell: none of this test process's ``AWS_*`` and
    ``OUTDIAL_*`` variables; with ``served``, boto3 pointed at its embedded AWS (fake
    credentials and, unless None, ``AWS_DEFAULT_REGION=region``); then ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OUTDIAL_"))}
    if served is not None:
        environment |= {
            "AWS_ENDPOINT_URL": served.banner["aws-endpoint"],
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        if region is not None:
            environment["AWS_DEFAULT_REGION"] = region
    return environment | dict(env or {})


def outdial(
    *args: str,
    served: Served | None = None,
    env: Mapping[str, str] | None = None,
    region: str | None = REGION,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``outdial ARGS`` in its own process, in ``cli_environment(served, env, region=region)``;
    its output captured."""
    return subprocess.run(
        outdial_command(*args),
        cwd=ROOT,
        env=cli_environment(served, env, region=region),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_serve(*args: str, env_extra: dict[str, str] | None = None) -> Served:
    started = time.monotonic()
    process = subprocess.Popen(
        outdial_command("serve", "--port", "0", *args),
        cwd=ROOT,
        env=cli_environment(env=env_extra),
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


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
