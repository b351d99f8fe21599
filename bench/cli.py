"""Benchmark: how long the `outdial` command takes to start, per command, against a real
`outdial serve` on 127.0.0.1 (its demo configuration and embedded AWS).

For each command, --runs fresh processes: the median time spent importing (the sum of the
top-level entries of Python's ``-X importtime`` report) and the median wall time of a run without
the report; and serve's time to its banner. The commands: ``--version``, ``balance show`` (one
DynamoDB read), ``config check`` (the example configuration), ``calls status`` (one results file
through the API).

    .venv/bin/python bench/cli.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from outdial.local.demo import DEMO_FLOW_ID, DEMO_SECURITY_ID  # noqa: E402
from tests.e2e.conftest import Served, outdial, start_serve, stop_serve  # noqa: E402


def import_seconds(report: str) -> float:
    """The sum of the top-level imports' cumulative times in an ``-X importtime`` report."""
    total = 0
    for line in report.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit() and not name.startswith("  "):
                total += int(cumulative)
    return total / 1e6


def measure(served: Served, args: list[str], runs: int) -> tuple[float, float]:
    env = {"OUTDIAL_SECURITY_ID": DEMO_SECURITY_ID}
    imports, walls = [], []
    for _ in range(runs):
        profiled = outdial(*args, served=served, env=env | {"PYTHONPROFILEIMPORTTIME": "1"})
        assert profiled.returncode == 0, profiled.stderr
        imports.append(import_seconds(profiled.stderr))
        started = time.monotonic()
        assert outdial(*args, served=served, env=env).returncode == 0
        walls.append(time.monotonic() - started)
    return statistics.median(imports), statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs

    served = start_serve()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results = Path(tmp) / "c.results.csv"
            results.write_text("client-identifier,phonon-uuid,error-code,error-message\n")
            commands = {
                "--version": ["--version"],
                "balance show": ["balance", "show", "demo"],
                "config check": ["config", "check", str(ROOT / "examples" / "config.json")],
                "calls status": [
                    *("calls", "status", str(results), "--flow", DEMO_FLOW_ID),
                    *("--url", served.url),
                ],
            }
            print(f"{'command':<14} {'imports':>8} {'wall':>7}   (medians of {runs} runs)")
            for name, args in commands.items():
                imports, wall = measure(served, args, runs)
                print(f"{name:<14} {imports:>7.3f}s {wall:>6.3f}s")
    finally:
        stop_serve(served)
    print(f"serve: banner after {served.startup_seconds:.2f} s")


if __name__ == "__main__":
    main()
