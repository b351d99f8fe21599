"""The asset's third-party wheels for Lambda's arm64: which (``[project].dependencies`` of
pyproject.toml, minus what the Lambda runtime already has: boto3 and the packages only it needs),
pinned with their hashes in ``requirements-lambda.lock`` (``make lock`` runs ``write_lock``), and
installed with ``pip install --no-deps --require-hashes -r requirements-lambda.lock --platform
manylinux2014_aarch64 --only-binary=:all: --python-version 3.12 --target DIR``, so a new release
of a transitive dependency never changes the asset behind its hash."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Iterator
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

try:  # `packaging` comes with pytest; pip always vendors a copy
    from packaging import markers, utils
    from packaging import requirements as reqs
except ImportError:  # an environment without `packaging`: pip's vendored copy
    from pip._vendor.packaging import markers, utils  # type: ignore[no-redef]
    from pip._vendor.packaging import requirements as reqs  # type: ignore[no-redef]

from infra import constants as c


def runtime_requirements(pyproject: Path = c.PYPROJECT) -> tuple[str, ...]:
    """``[project].dependencies`` without what the Lambda runtime provides (boto3)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = (reqs.Requirement(text) for text in project["dependencies"])
    return tuple(
        sorted(
            str(r)
            for r in requirements
            if utils.canonicalize_name(r.name) not in c.RUNTIME_PROVIDED
        )
    )


def pip_install_for_lambda(target: Path, *arguments: str) -> None:
    """``pip install`` for Lambda's platform and Python into ``target``, without bytecode."""
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-input", "--no-compile",  # this Python's bytecode is not Lambda's: compile_bytecode
        "--platform", c.PIP_PLATFORM, "--implementation", "cp",
        "--python-version", c.PYTHON_VERSION, "--only-binary=:all:",
        "--target", str(target), *arguments,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pip could not install the Lambda dependencies:\n{result.stderr}")


LOCK_HEADER = """\
# The Lambda asset's distributions, each pinned with the sha256 of its wheel for {platform} /
# CPython {python}: pyproject.toml's [project].dependencies resolved, minus what the Lambda
# runtime provides. Written by `make lock`; the asset is installed from this file alone.
"""


def write_lock(path: Path | None = None, pyproject: Path = c.PYPROJECT) -> str:
    """Resolve the runtime requirements for Lambda and write the lock file; returns its text."""
    requirements = runtime_requirements(pyproject)
    with tempfile.TemporaryDirectory() as scratch:
        site, report = Path(scratch) / "site", Path(scratch) / "report.json"
        pip_install_for_lambda(site, "--report", str(report), "--ignore-installed", *requirements)
        prune_runtime_provided(site, requirements)
        shipped = {str(utils.canonicalize_name(meta["Name"])) for _, meta in _dist_infos(site)}
        resolved = json.loads(report.read_text())["install"]
    lines = [LOCK_HEADER.format(platform=c.PIP_PLATFORM, python=c.PYTHON_VERSION)]
    for item in sorted(resolved, key=lambda i: utils.canonicalize_name(i["metadata"]["name"])):
        name = str(utils.canonicalize_name(item["metadata"]["name"]))
        if name in shipped:
            digest = item["download_info"]["archive_info"]["hashes"]["sha256"]
            lines.append(f"{name}=={item['metadata']['version']} \\\n    --hash=sha256:{digest}\n")
    text = "".join(lines)
    (path or c.LAMBDA_LOCK).write_text(text)
    return text


def locked_pins(lock: Path | None = None) -> dict[str, str]:
    """``name -> version`` of every distribution the lock pins."""
    pins = {}
    for line in (lock or c.LAMBDA_LOCK).read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, version = line.split(" ")[0].split("==")
            pins[name] = version
    return pins


def prune_runtime_provided(site: Path, requirements: Iterable[str]) -> list[str]:
    """Remove the distributions reachable only through what the runtime provides.

    pip installs botocore (aws-xray-sdk requires it) and everything botocore needs; shipping them
    would shadow the runtime's boto3/botocore pair with a mismatched botocore. A distribution
    that some shipped package also requires (jmespath, for Powertools) stays.
    """
    dists = {
        str(utils.canonicalize_name(meta["Name"])): (path, meta) for path, meta in _dist_infos(site)
    }
    keep: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [reqs.Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        name = str(utils.canonicalize_name(requirement.name))
        visit = (name, frozenset(requirement.extras))
        if name in c.RUNTIME_PROVIDED or name not in dists or visit in seen:
            continue
        if not _applies(requirement, ()):
            continue
        seen.add(visit)
        keep.add(name)
        for text in dists[name][1].get_all("Requires-Dist") or []:
            dependency = reqs.Requirement(text)
            if _applies(dependency, requirement.extras):
                dependency.marker = None
                pending.append(dependency)
    removed = sorted(str(name) for name in dists if name not in keep)
    for name in removed:
        _remove_distribution(site, dists[name][0])
    shutil.rmtree(site / "bin", ignore_errors=True)  # scripts naming this machine's python
    return removed


def _applies(requirement: Any, extras: Iterable[str]) -> bool:
    """Whether a requirement's marker holds on Lambda (Linux arm64, CPython 3.12)."""
    if requirement.marker is None:
        return True
    environment = markers.default_environment() | {
        "python_version": c.PYTHON_VERSION,
        "python_full_version": f"{c.PYTHON_VERSION}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "aarch64",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    return any(
        requirement.marker.evaluate(environment | {"extra": extra}) for extra in ("", *extras)
    )


def _dist_infos(site: Path) -> Iterator[tuple[Path, Any]]:
    for info in sorted(site.glob("*.dist-info")):
        yield info, HeaderParser().parsestr((info / "METADATA").read_text(encoding="utf-8"))


def _remove_distribution(site: Path, info: Path) -> None:
    """Delete the files a distribution's RECORD lists, then the directories left empty."""
    parents: set[Path] = set()
    for line in (info / "RECORD").read_text(encoding="utf-8").splitlines():
        path = (site / line.rsplit(",", 2)[0]).resolve()
        if path.is_relative_to(site.resolve()) and path.is_file():
            path.unlink()
            parents.add(path.parent)
    for directory in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        while directory != site.resolve() and directory.exists() and not any(directory.iterdir()):
            directory.rmdir()
            directory = directory.parent
    shutil.rmtree(info, ignore_errors=True)


if __name__ == "__main__":
    print(write_lock(), end="")
