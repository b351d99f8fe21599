"""The Lambda asset: the package plus arm64 wheels, nothing the runtime has, no dev files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from infra import asset, bytecode, wheels
from infra import constants as c
from tests.infra.conftest import Synthesized


@pytest.fixture(scope="module")
def bundle(synthesized: Synthesized) -> Path:
    (directory,) = [p for p in synthesized.outdir.glob("asset.*") if p.is_dir()]
    return directory


def test_runtime_requirements_are_pyprojects_without_boto3() -> None:
    requirements = wheels.runtime_requirements()
    names = {r.split("[")[0].split("=")[0] for r in requirements}
    assert names == {"aws-lambda-powertools", "pydantic", "phonenumbers", "urllib3", "tzdata"}
    assert all("==" in r for r in requirements)  # pinned, so the bundle is reproducible


def test_bundle_has_the_package_and_its_handlers(bundle: Path) -> None:
    for handler in c.HANDLERS.values():  # "outdial.handlers.api.handler" -> outdial/handlers/api.py
        module = handler.rsplit(".", 1)[0]
        assert (bundle / f"{module.replace('.', '/')}.py").is_file(), handler
    assert (bundle / "outdial" / "settings.py").is_file()


def test_bundle_has_arm64_wheels_for_the_runtime(bundle: Path) -> None:
    (core,) = (bundle / "pydantic_core").glob("_pydantic_core.*.so")
    assert core.name.endswith(f"cpython-{c.PYTHON_VERSION.replace('.', '')}-aarch64-linux-gnu.so")
    for package in (
        "aws_lambda_powertools",
        "aws_xray_sdk",
        "pydantic",
        "phonenumbers",
        "jmespath",
    ):
        assert (bundle / package).is_dir(), package


def test_bundle_leaves_out_the_runtime_and_dev_files(bundle: Path) -> None:
    top = {p.name for p in bundle.iterdir()}
    assert not {"boto3", "botocore", "s3transfer", "bin"} & top
    assert not {"tests", "infra", "moto", "pytest", "aws_cdk"} & top
    assert not (bundle / "outdial" / "local").exists()  # `outdial serve` needs moto
    assert not (bundle / "outdial" / "cli").exists()  # the command line runs on a laptop
    assert not list(bundle.rglob(f"*.cpython-{sys.version_info.major}{sys.version_info.minor}.pyc"))
    assert not list(bundle.glob("*.egg-info"))


# CPython's bytecode magic number for 3.12 (importlib/_bootstrap_external.py: "Python 3.12b1
# 3531"); the flags word 1 marks a hash-based .pyc whose source is never checked.
PYTHON_312_MAGIC = (3531).to_bytes(2, "little") + b"\r\n"
UNCHECKED_HASH = (1).to_bytes(4, "little")


def test_every_module_ships_bytecode_for_lambdas_python(bundle: Path) -> None:
    # Given every module of the bundle
    modules = list(bundle.rglob("*.py"))
    assert len(modules) > 500
    missing, wrong = [], []
    for module in modules:
        pyc = module.parent / "__pycache__" / f"{module.stem}.cpython-312.pyc"
        if not pyc.is_file():
            missing.append(module)
        elif pyc.read_bytes()[:8] != PYTHON_312_MAGIC + UNCHECKED_HASH:
            wrong.append(pyc)
    # Then each has its Python 3.12 bytecode, unchecked-hash
    assert c.PYTHON_VERSION == "3.12"
    assert missing == [] and wrong == []
    # And tracebacks on Lambda name the files where Lambda unpacks them
    api = bundle / "outdial" / "handlers" / "__pycache__" / "api.cpython-312.pyc"
    assert b"/var/task/outdial/handlers/api.py" in api.read_bytes()
    pydantic_main = bundle / "pydantic" / "__pycache__" / "main.cpython-312.pyc"
    assert b"/var/task/pydantic/main.py" in pydantic_main.read_bytes()


LOADS_BYTECODE = """
import { loadPyodide } from "pyodide";
const py = await loadPyodide();
py.FS.mkdirTree("/bundle");
py.FS.mount(py.FS.filesystems.NODEFS, { root: process.argv[1] }, "/bundle");
console.log(py.runPython(`
import sys; sys.path.insert(0, "/bundle"); sys.dont_write_bytecode = True
import outdial.models.codes as codes
"%d.%d %s %s" % (*sys.version_info[:2], codes.Code.SUCCESS.code, codes.__spec__.cached)
`));
"""


def test_python_312_runs_the_shipped_bytecode_not_the_source(bundle: Path, tmp_path: Path) -> None:
    # Given the bundle's outdial package, its bytecode intact but a source that would fail
    shutil.copytree(bundle / "outdial", tmp_path / "outdial")
    (tmp_path / "outdial" / "models" / "codes.py").write_text("raise SystemExit('source ran')\n")
    # When a CPython 3.12 (Pyodide's) imports the module
    result = subprocess.run(
        ["node", "--input-type=module", "-e", LOADS_BYTECODE, str(tmp_path)],
        cwd=c.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    # Then it ran the shipped bytecode
    assert result.stdout.split() == [
        "3.12",
        "200",
        "/bundle/outdial/models/__pycache__/codes.cpython-312.pyc",
    ]


def test_phonenumbers_ships_its_metadata_and_time_zones_not_places_or_carriers(
    bundle: Path,
) -> None:
    numbers = bundle / "phonenumbers"
    for unused in ("geodata", "carrierdata", "geocoder.py", "carrier.py"):
        assert not (numbers / unused).exists(), unused
    assert (numbers / "data" / "region_IN.py").is_file()
    assert (numbers / "timezone.py").is_file() and (numbers / "tzdata" / "__init__.py").is_file()


def test_the_lock_pins_what_pyproject_pins_each_with_its_hash() -> None:
    # Given the lock the asset is installed from
    text = c.LAMBDA_LOCK.read_text()
    pins = wheels.locked_pins()
    # Then each runtime requirement is locked at its pyproject version, hash and all
    for requirement in wheels.runtime_requirements():
        name, version = requirement.split("[")[0].split("==")[0], requirement.split("==")[1]
        assert pins[name] == version, requirement
    assert text.count("--hash=sha256:") == len(pins)
    # And nothing the Lambda runtime provides is shipped
    assert not {"boto3", "botocore", "s3transfer"} & set(pins)


def test_the_bundle_holds_exactly_the_locked_distributions(bundle: Path) -> None:
    shipped = {}
    for info in bundle.glob("*.dist-info"):
        metadata = HeaderParser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
        shipped[canonicalize_name(metadata["Name"])] = metadata["Version"]
    assert shipped == wheels.locked_pins()


def test_the_lock_is_part_of_the_asset_hash(tmp_path: Path) -> None:
    lock = tmp_path / "requirements-lambda.lock"
    lock.write_text("wrapt==2.5.2 \\\n    --hash=sha256:00\n")
    before = asset.dependencies_key(("wrapt==2.5.2",), lock)
    lock.write_text("wrapt==2.5.3 \\\n    --hash=sha256:01\n")
    assert asset.dependencies_key(("wrapt==2.5.2",), lock) != before


def test_time_zone_data_for_calling_windows_ships_with_its_bytecode(bundle: Path) -> None:
    # Given phonenumbers' time-zone data, which calling windows read for the recipient's zone
    tzdata = bundle / "phonenumbers" / "tzdata"
    # Then it is in the bundle, compiled like every module the handlers import
    assert (bundle / "phonenumbers" / "timezone.py").is_file()
    assert (tzdata / "data0.py").is_file()
    assert (tzdata / "__pycache__" / "data0.cpython-312.pyc").is_file()
    # And the IANA zones themselves travel with it: the runtime's OS image has none
    assert (bundle / "tzdata" / "zoneinfo" / "America" / "New_York").is_file()
    assert (bundle / "tzdata" / "zoneinfo" / "Asia" / "Kolkata").is_file()


def test_a_pyodide_of_another_python_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given functions said to run another Python than the pinned Pyodide compiles for
    monkeypatch.setattr(c, "PYTHON_VERSION", "3.13")
    (tmp_path / "m.py").write_text("X = 1\n")
    # Then compiling for them fails, naming both versions
    with pytest.raises(RuntimeError, match=r"Python 3\.12, the functions run 3\.13"):
        bytecode.compile_bytecode(tmp_path, "/var/task")


def test_a_module_that_does_not_compile_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def f(:\n")
    with pytest.raises(RuntimeError, match="did not compile"):
        bytecode.compile_bytecode(tmp_path, "/var/task")


def test_asset_hash_follows_pins_and_sources(tmp_path: Path) -> None:
    # Given a copy of the package
    package = tmp_path / c.PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text("")
    before = asset.asset_hash(("pydantic==2.14.3",), root=tmp_path)

    # Then the hash is stable, and moves with a pin or a source file, not with bytecode
    assert asset.asset_hash(("pydantic==2.14.3",), root=tmp_path) == before
    assert asset.asset_hash(("pydantic==2.14.4",), root=tmp_path) != before
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert asset.asset_hash(("pydantic==2.14.3",), root=tmp_path) == before
    (package / "__init__.py").write_text("VERSION = 2\n")
    assert asset.asset_hash(("pydantic==2.14.3",), root=tmp_path) != before


def test_prune_keeps_what_shipped_packages_need(tmp_path: Path) -> None:
    # Given an installed set where botocore pulls urllib3, and both it and the app need jmespath
    _dist(tmp_path, "app", "1.0", ["jmespath", "xray"], module="app")
    _dist(tmp_path, "xray", "1.0", ["botocore>=1", "wrapt"], module="xray")
    _dist(tmp_path, "botocore", "1.0", ["jmespath", "urllib3"], module="botocore")
    _dist(tmp_path, "jmespath", "1.0", [], module="jmespath")
    _dist(tmp_path, "urllib3", "2.0", [], module="urllib3")
    _dist(tmp_path, "wrapt", "1.0", [], module="wrapt")
    _dist(tmp_path, "tomli", "1.0", [], module="tomli", marker='python_version < "3.11"')

    # When pruning what only the runtime's packages need
    removed = wheels.prune_runtime_provided(tmp_path, ["app==1.0"])

    # Then botocore and what only it needs are gone; jmespath and the app's own deps stay
    assert removed == ["botocore", "tomli", "urllib3"]
    assert {p.name for p in tmp_path.iterdir() if not p.name.endswith(".dist-info")} == {
        "app",
        "jmespath",
        "wrapt",
        "xray",
    }


def _dist(
    site: Path, name: str, version: str, requires: list[str], *, module: str, marker: str = ""
) -> None:
    (site / module).mkdir()
    (site / module / "__init__.py").write_text("")
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    (info / "RECORD").write_text(f"{module}/__init__.py,,\n{info.name}/METADATA,,\n")
    if marker:  # a distribution nobody requires on Lambda's Python
        app = next(site.glob("app-*.dist-info")) / "METADATA"
        app.write_text(app.read_text() + f"Requires-Dist: {name}; {marker}\n")
