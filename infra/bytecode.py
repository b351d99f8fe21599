"""The asset's bytecode for Lambda's Python, compiled by Pyodide's CPython (``infra/bytecode.mjs``;
this machine's Python is another version): without it each cold start would compile every module
it imports, about 1.7x the import time (bench/create.py)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from infra import constants as c

BYTECODE_COMPILER = c.ROOT / "infra" / "bytecode.mjs"


def bytecode_compiler_version() -> str:
    """The pinned Pyodide (package.json), which decides the bytecode the bundle carries."""
    pins = json.loads((c.ROOT / "package.json").read_text())["devDependencies"]
    return str(pins["pyodide"])


def compile_bytecode(directory: Path, lambda_dir: str, skip: str = "") -> None:
    """Compile the modules under ``directory`` for Lambda's Python, in place.

    ``lambda_dir`` is where ``directory`` lands on Lambda (tracebacks name files from there);
    modules whose path matches ``skip`` stay source only. Needs Node.js and ``npm ci``.
    """
    command = ["node", str(BYTECODE_COMPILER), str(directory), lambda_dir, skip]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=c.ROOT)
    except FileNotFoundError as exc:
        raise RuntimeError("compiling the asset's bytecode needs Node.js on PATH") from exc
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(
            f"compiling the asset's bytecode failed (has `npm ci` run?):\n{result.stderr}"
        )
    report = json.loads(lines[-1])
    if report["python"] != c.PYTHON_VERSION:
        raise RuntimeError(
            f"Pyodide {bytecode_compiler_version()} compiles for Python {report['python']}, "
            f"the functions run {c.PYTHON_VERSION}: pin a Pyodide of that Python in package.json"
        )
    if not report["ok"]:
        raise RuntimeError("some modules did not compile:\n" + "\n".join(lines[:-1]))
