"""What goes into the handlers' Lambda assets, checked without building or downloading them."""

from __future__ import annotations

import ast
import re
import stat
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

import infra  # noqa: F401  (first: it sets the environment aws_cdk's Node runtime reads)

# isort: split
import aws_cdk as cdk

from infra import lambda_packaging
from infra.lambda_assets import DOCKER_COPY_PACKAGE, CopyHandlerPackage, InstallLayerWithUv
from infra.lambda_packaging import (
    HANDLER_PACKAGE,
    LAYER_REQUIREMENTS,
    RUNTIME_PACKAGES,
    UV_LOCK,
    check_layer_size,
    layer_install_command,
    layer_requirements,
    prune_layer,
    requirements_text,
)

# What the Python 3.12 Lambda runtime brings itself.
LAMBDA_RUNTIME_PROVIDES = {"boto3", "botocore"}


def pins() -> dict[str, str]:
    return dict(line.split("==") for line in layer_requirements())


def test_layer_requirements_file_is_up_to_date_with_uv_lock():
    assert LAYER_REQUIREMENTS.read_text() == requirements_text(), (
        "run: python -m infra.lambda_packaging"
    )


def test_layer_pins_are_the_locked_versions():
    locked = {p["name"]: p["version"] for p in tomllib.loads(UV_LOCK.read_text())["package"]}
    layer = pins()
    assert layer["duckdb"] == "1.5.5"
    for name in RUNTIME_PACKAGES:
        assert layer[name] == locked[name]
    # Dependencies come along: pydantic cannot work without its core.
    assert layer["pydantic-core"] == locked["pydantic-core"]
    # Nothing of dbt, Prefect or the AWS SDK.
    assert not {"dbt-core", "prefect", "boto3", "botocore", "numpy"} & set(layer)


def test_every_third_party_import_of_the_handlers_is_in_the_layer():
    imported: set[str] = set()
    for path in HANDLER_PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"ingestion", "__future__"}
    distributions = packages_distributions()
    # Distribution names normalised as in uv.lock (PEP 503).
    needed = {re.sub(r"[-_.]+", "-", distributions[m][0]).lower() for m in third_party}
    assert needed - LAMBDA_RUNTIME_PROVIDES <= set(pins())
    assert {"duckdb", "pyarrow", "aws-lambda-powertools"} <= needed


def test_code_asset_holds_the_ingestion_package_only(tmp_path):
    (HANDLER_PACKAGE / "__pycache__").mkdir(exist_ok=True)
    bundled = CopyHandlerPackage().try_bundle(
        str(tmp_path), image=cdk.DockerImage.from_registry("unused")
    )
    assert bundled is True
    files = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    expected = {f"ingestion/{p.name}" for p in HANDLER_PACKAGE.glob("*.py")} | {
        f"ingestion/contracts/{p.name}" for p in (HANDLER_PACKAGE / "contracts").glob("*.yml")
    }
    assert files == expected
    assert {"ingestion/kinesis.py", "ingestion/dynamodb_streams.py"} <= files
    # The shipped event contracts travel with the code: the Kinesis handler reads them by name.
    assert {"ingestion/contracts/default.yml", "ingestion/contracts/camel_case.yml"} <= files


def test_the_docker_fallback_copies_the_shipped_contracts_too():
    assert "contracts/*.yml /asset-output/ingestion/contracts/" in DOCKER_COPY_PACKAGE


def test_layer_install_targets_lambda_arm64_python_312(tmp_path):
    command = layer_install_command("uv", LAYER_REQUIREMENTS, tmp_path / "python")
    joined = " ".join(command)
    assert "--python-platform aarch64-manylinux_2_28" in joined
    assert "--python-version 3.12" in joined
    assert "--only-binary :all:" in joined
    assert f"--target {tmp_path / 'python'}" in joined
    assert f"--requirement {LAYER_REQUIREMENTS}" in joined


def fake_uv(tmp_path: Path) -> Path:
    """A stand-in for uv that installs a tiny 'pyarrow' into --target, offline."""
    script = tmp_path / "uv"
    script.write_text(
        "#!/bin/sh\n"
        'while [ "$1" != "--target" ]; do shift; done\n'
        'mkdir -p "$2/pyarrow/include" "$2/pyarrow/tests" "$2/pyarrow/__pycache__"\n'
        'echo x > "$2/pyarrow/__init__.py"\n'
        'echo x > "$2/pyarrow/lib.pxd"\n'
        'echo x > "$2/pyarrow/include/arrow.h"\n'
        'echo x > "$2/pyarrow/tests/test_x.py"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_layer_bundling_installs_then_prunes(tmp_path, monkeypatch):
    monkeypatch.setattr(lambda_packaging, "find_uv", lambda: str(fake_uv(tmp_path)))
    monkeypatch.setattr("infra.lambda_assets.find_uv", lambda: str(fake_uv(tmp_path)))
    output = tmp_path / "asset"
    output.mkdir()
    assert InstallLayerWithUv().try_bundle(str(output), image=cdk.DockerImage.from_registry("x"))
    files = {p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()}
    assert files == {"python/pyarrow/__init__.py"}


def test_layer_bundling_falls_back_to_docker_without_uv(tmp_path, monkeypatch):
    monkeypatch.setattr("infra.lambda_assets.find_uv", lambda: None)
    assert (
        InstallLayerWithUv().try_bundle(str(tmp_path), image=cdk.DockerImage.from_registry("x"))
        is False
    )


def test_prune_keeps_code_and_a_layer_over_the_limit_is_refused(tmp_path, monkeypatch):
    python = tmp_path / "python"
    (python / "duckdb").mkdir(parents=True)
    (python / "duckdb" / "__init__.py").write_text("x")
    (python / "_duckdb.so").write_bytes(b"\0" * 4096)
    (python / "pyarrow" / "include").mkdir(parents=True)
    (python / "pyarrow" / "include" / "api.h").write_text("x")
    (python / "pyarrow" / "_parquet.pyx").write_text("x")
    prune_layer(python)
    assert {p.relative_to(python).as_posix() for p in python.rglob("*") if p.is_file()} == {
        "duckdb/__init__.py",
        "_duckdb.so",
    }
    assert check_layer_size(python) == 4097
    monkeypatch.setattr(lambda_packaging, "LAYER_SIZE_LIMIT_BYTES", 4096)
    with pytest.raises(RuntimeError, match="250 MB"):
        check_layer_size(python)
