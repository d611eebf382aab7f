"""What goes into the handlers' Lambda assets, in plain Python (no CDK).

- The code asset holds the `ingestion/` package and nothing else (its modules
  and its shipped event contracts): no tests, no virtual environment, no lake.
- The dependencies layer holds what the handlers import at run time, with the
  versions of `uv.lock`, as manylinux aarch64 wheels for Python 3.12, which uv
  installs on any machine without Docker.

`python -m infra.lambda_packaging` rewrites the layer's requirements.txt from uv.lock.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

from packaging.markers import Marker

REPO_ROOT = Path(__file__).resolve().parent.parent
HANDLER_PACKAGE = REPO_ROOT / "ingestion"
UV_LOCK = REPO_ROOT / "uv.lock"
LAYER_SOURCE = Path(__file__).resolve().parent / "lambda_layer"
LAYER_REQUIREMENTS = LAYER_SOURCE / "requirements.txt"

PYTHON_VERSION = "3.12"
# The Python 3.12 runtime runs on Amazon Linux 2023 (glibc 2.34); DuckDB's
# aarch64 wheels need manylinux_2_28.
WHEEL_PLATFORM = "aarch64-manylinux_2_28"
# What the handlers import at run time; boto3 comes with the Lambda runtime.
RUNTIME_PACKAGES = (
    "aws-lambda-powertools",
    "duckdb",
    "pyarrow",
    "pydantic",
    "pydantic-settings",
    "pyyaml",  # the event contract
)
# Lambda allows 250 MB unzipped for the function and its layers together.
LAYER_SIZE_LIMIT_BYTES = 240 * 1024 * 1024
# Parts of the installed wheels the handlers never load: C++ headers, Cython
# sources and pyarrow's own test suite (about 15 MB).
PRUNED_DIRECTORIES = ("pyarrow/include", "pyarrow/tests", "pyarrow/src")
PRUNED_SUFFIXES = (".pxd", ".pyx", ".pxi", ".h", ".hpp")
# Markers in uv.lock are evaluated for the Lambda runtime, not for this machine.
LAMBDA_MARKER_ENVIRONMENT = {
    "implementation_name": "cpython",
    "os_name": "posix",
    "platform_machine": "aarch64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": f"{PYTHON_VERSION}.0",
    "python_version": PYTHON_VERSION,
    "sys_platform": "linux",
}


def layer_requirements(lock: Path = UV_LOCK) -> list[str]:
    """`name==version` for the runtime packages and everything they need, from uv.lock."""
    packages = {package["name"]: package for package in tomllib.loads(lock.read_text())["package"]}
    pinned: dict[str, str] = {}
    queue = list(RUNTIME_PACKAGES)
    while queue:
        name = queue.pop()
        if name in pinned:
            continue
        package = packages[name]
        pinned[name] = package["version"]
        for dependency in package.get("dependencies", []):
            marker = dependency.get("marker")
            if marker is None or Marker(marker).evaluate(LAMBDA_MARKER_ENVIRONMENT):
                queue.append(dependency["name"])
    return [f"{name}=={version}" for name, version in sorted(pinned.items())]


def requirements_text(lock: Path = UV_LOCK) -> str:
    header = "# Generated from uv.lock by `python -m infra.lambda_packaging`: do not edit.\n"
    return header + "\n".join(layer_requirements(lock)) + "\n"


def stage_handler_package(output_dir: Path) -> None:
    """Copy the ingestion package, and only it, to `output_dir/ingestion`."""
    shutil.copytree(
        HANDLER_PACKAGE,
        output_dir / "ingestion",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        dirs_exist_ok=True,
    )


def find_uv() -> str | None:
    """uv on PATH, or the copy the Makefile bootstraps into .tools/."""
    bootstrapped = REPO_ROOT / ".tools" / "bin" / "uv"
    return shutil.which("uv") or (str(bootstrapped) if bootstrapped.exists() else None)


def layer_install_command(uv: str, requirements: Path, target: Path) -> list[str]:
    return [
        uv,
        "pip",
        "install",
        "--no-config",
        "--python-platform",
        WHEEL_PLATFORM,
        "--python-version",
        PYTHON_VERSION,
        "--only-binary",
        ":all:",
        "--no-compile",
        "--target",
        str(target),
        "--requirement",
        str(requirements),
    ]


def prune_layer(python_dir: Path) -> None:
    for relative in PRUNED_DIRECTORIES:
        shutil.rmtree(python_dir / relative, ignore_errors=True)
    for path in list(python_dir.rglob("*")):
        if path.is_dir() and path.name == "__pycache__":
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in PRUNED_SUFFIXES:
            path.unlink()


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def check_layer_size(python_dir: Path) -> int:
    size = tree_size(python_dir)
    if size > LAYER_SIZE_LIMIT_BYTES:
        raise RuntimeError(
            f"the Lambda layer is {size / 2**20:.0f} MB unzipped; Lambda allows 250 MB "
            "for the function and its layers together"
        )
    return size


def main() -> None:
    LAYER_REQUIREMENTS.write_text(requirements_text())
    print(f"wrote {LAYER_REQUIREMENTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
