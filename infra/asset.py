"""The one Lambda asset: the ``outdial`` package plus its runtime wheels for Lambda's arm64.

Built by CDK *local* bundling, so ``cdk synth`` needs no Docker engine:

- the wheels come from the lock, installed for Lambda (``infra/wheels.py``);
- data no code reads is left out: ``phonenumbers``' geocoder and carrier data (20 MB);
- they are installed once per set of pins into ``build/lambda-deps/<key>/`` and hard-linked into
  each bundle, so later synths (and the infra tests) do not run pip again;
- every module ships with its bytecode for Lambda's Python 3.12 (``infra/bytecode.py``);
- the asset hash is computed here from the lock and the package's files, so CDK skips bundling
  altogether when ``cdk.out`` already holds that asset.

Tests, infra code, dev tools and ``outdial.local`` (``outdial serve``, which needs moto) never
enter the asset.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra import constants as c
from infra.bytecode import bytecode_compiler_version, compile_bytecode
from infra.wheels import pip_install_for_lambda, prune_runtime_provided, runtime_requirements

# Bump when the way the bundle is built changes, so cached dependency sets and assets are rebuilt.
BUNDLE_FORMAT = "4"  # 2: with bytecode; 3: tzdata compiled; 4: from the lock, no geocoder data
# Never shipped: `outdial.local` (`outdial serve`, which needs moto), `outdial.cli` (the
# command line, run on a laptop) and the bytecode of the
# build machine's Python.
EXCLUDED_SUBPACKAGES = frozenset({"local", "cli"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
_COMPLETE = ".complete"

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
        pip_install_for_lambda(building, "--no-deps", "--require-hashes", "-r", str(c.LAMBDA_LOCK))
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


def remove_unused_files(site: Path) -> None:
    """Delete what ``UNUSED_FILES`` names (files or directories) from an installed set."""
    for relative in UNUSED_FILES:
        path = site / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


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
