"""The one Lambda asset: the ``outdial`` package plus its runtime wheels for Lambda's arm64.

Built by CDK *local* bundling, so ``cdk synth`` needs no Docker engine:

- the wheels come from ``pip install --no-deps --require-hashes -r requirements-lambda.lock
  --platform manylinux2014_aarch64 --only-binary=:all: --python-version 3.12 --target DIR``: the
  lock pins every distribution of ``[project].dependencies`` (pyproject.toml) with its wheel's
  hash, minus what the Lambda runtime already has (boto3 and the packages only it needs), so a
  new release of a transitive dependency never changes the asset behind its hash (``make lock``
  writes the lock: ``write_lock``);
- data no code reads is left out: ``phonenumbers``' geocoder and carrier data (20 MB);
- they are installed once per set of pins into ``build/lambda-deps/<key>/`` and hard-linked into
  each bundle, so later synths (and the infra tests) do not run pip again;
- every module ships with its bytecode for Lambda's Python 3.12, compiled by Pyodide's CPython
  (``infra/bytecode.mjs``; this machine's Python is another version): without it each cold
  start would compile every module it imports, about 1.7x the import time (bench/create.py);
- the asset hash is computed here from the lock and the package's files, so CDK skips bundling
  altogether when ``cdk.out`` already holds that asset.

Tests, infra code, dev tools and ``outdial.local`` (``outdial serve``, which needs moto) never
enter the asset.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Iterator
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

try:  # `packaging` comes with pytest; pip always vendors a copy
    from packaging import markers, utils
    from packaging import requirements as reqs
except ImportError:  # pragma: no cover - depends on the environment, not on our code
    from pip._vendor.packaging import markers, utils  # type: ignore[no-redef]
    from pip._vendor.packaging import requirements as reqs  # type: ignore[no-redef]

from infra import constants as c

# Bump when the way the bundle is built changes, so cached dependency sets and assets are rebuilt.
BUNDLE_FORMAT = "4"  # 2: with bytecode; 3: tzdata compiled; 4: from the lock, no geocoder data
# Never shipped: `outdial.local` (`outdial serve`, which needs moto), `outdial.cli` (the
# command line, run on a laptop) and the bytecode of the
# build machine's Python.
EXCLUDED_SUBPACKAGES = frozenset({"local", "cli"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
_COMPLETE = ".complete"

BYTECODE_COMPILER = c.ROOT / "infra" / "bytecode.mjs"
# phonenumbers' geocoder (number -> place name) and carrier (number -> operator) with their data:
# no code of ours reads them. Its metadata, short-number data and time-zone data stay.
UNUSED_FILES = (
    "phonenumbers/geodata",
    "phonenumbers/carrierdata",
    "phonenumbers/geocoder.py",
    "phonenumbers/geocoder.pyi",
    "phonenumbers/carrier.py",
    "phonenumbers/carrier.pyi",
)


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


def source_files(package_dir: Path = c.LAMBDAS_DIR / c.PACKAGE) -> list[Path]:
    """The package's files that ship, sorted (paths relative to ``lambdas/``)."""
    root = package_dir.parent
    found = []
    for directory, dirs, files in os.walk(package_dir):
        top = Path(directory) == package_dir
        dirs[:] = sorted(
            d for d in dirs if d != "__pycache__" and not (top and d in EXCLUDED_SUBPACKAGES)
        )
        for name in files:
            if not name.endswith(EXCLUDED_SUFFIXES):
                found.append((Path(directory) / name).relative_to(root))
    return sorted(found)


def dependencies_key(requirements: Iterable[str], lock: Path | None = None) -> str:
    """Names one installed set of wheels: the pins, the lock, the platform and the bundle format."""
    text = "\n".join(
        [
            BUNDLE_FORMAT,
            c.PIP_PLATFORM,
            c.PYTHON_VERSION,
            bytecode_compiler_version(),
            *sorted(requirements),
            (lock or c.LAMBDA_LOCK).read_text(),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def asset_hash(requirements: Iterable[str], root: Path = c.LAMBDAS_DIR) -> str:
    """Changes exactly when the bundle would: a pin, the platform, or a shipped source file."""
    digest = hashlib.sha256(dependencies_key(requirements).encode())
    for relative in source_files(root / c.PACKAGE):
        digest.update(str(relative).encode() + b"\0" + (root / relative).read_bytes() + b"\0")
    return digest.hexdigest()


def installed_dependencies(
    requirements: tuple[str, ...], cache_dir: Path = c.DEPS_CACHE_DIR
) -> Path:
    """The directory holding ``requirements`` installed for Lambda; pip runs only on a cache miss."""
    target = cache_dir / dependencies_key(requirements)
    if (target / _COMPLETE).exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    building = cache_dir / f"{target.name}.building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    print(
        f"outdial bundling: pip installs {len(requirements)} requirements for "
        f"{c.PIP_PLATFORM} / Python {c.PYTHON_VERSION} into {target} (once per pin set)",
        file=sys.stderr,
    )
    try:
        _pip_install_for_lambda(building, "--no-deps", "--require-hashes", "-r", str(c.LAMBDA_LOCK))
    except RuntimeError:
        shutil.rmtree(building, ignore_errors=True)
        raise
    prune_runtime_provided(building, requirements)
    remove_unused_files(building)
    compile_bytecode(building, c.LAMBDA_TASK_ROOT)
    (building / _COMPLETE).touch()
    try:
        building.rename(target)
    except OSError:  # another synth finished the same set first: use that one
        shutil.rmtree(building, ignore_errors=True)
    return target


def _pip_install_for_lambda(target: Path, *arguments: str) -> None:
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


def remove_unused_files(site: Path) -> None:
    """Delete what ``UNUSED_FILES`` names (files or directories) from an installed set."""
    for relative in UNUSED_FILES:
        path = site / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


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
        _pip_install_for_lambda(site, "--report", str(report), "--ignore-installed", *requirements)
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


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)  # the cached wheels are never edited: share their inodes
    except OSError:
        shutil.copy2(source, destination)


@jsii.implements(ILocalBundling)
class LocalBundler:
    """CDK's local bundling hook: builds the asset on this machine instead of in Docker."""

    def __init__(self, requirements: tuple[str, ...], lambdas_dir: Path = c.LAMBDAS_DIR) -> None:
        self._requirements = requirements
        self._lambdas_dir = lambdas_dir

    def try_bundle(self, output_dir: str, *, image: Any = None, **_options: Any) -> bool:
        """Fill ``output_dir`` with the wheels and the package; ``True`` tells CDK it is done."""
        output = Path(output_dir)
        dependencies = installed_dependencies(self._requirements)
        shutil.copytree(
            dependencies,
            output,
            dirs_exist_ok=True,
            copy_function=_link_or_copy,
            ignore=shutil.ignore_patterns(_COMPLETE),
        )
        for relative in source_files(self._lambdas_dir / c.PACKAGE):
            (output / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self._lambdas_dir / relative, output / relative)  # copies: sources change
        compile_bytecode(output / c.PACKAGE, f"{c.LAMBDA_TASK_ROOT}/{c.PACKAGE}")
        return True


if __name__ == "__main__":
    print(write_lock(), end="")


def lambda_code() -> lambda_.Code:
    """The asset every function runs (one upload, every handler)."""
    requirements = runtime_requirements()
    return lambda_.Code.from_asset(
        str(c.LAMBDAS_DIR),
        asset_hash=asset_hash(requirements),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(
            image=c.LAMBDA_RUNTIME.bundling_image,  # only used if local bundling declined; it never does
            local=LocalBundler(requirements),
        ),
    )
