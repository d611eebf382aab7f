"""Imports never run back up: each package imports only what its __init__ docstring says it may.

The handlers ship alone in the Lambdas, so ingestion imports nothing of the
others; the warehouse unit and the demo application sit under the flows and the
dashboards builder, never the other way round.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("ingestion", "flows", "grafana", "infra", "athena_emulator")

# Each package (the most specific one a module is in) and the packages it may import,
# itself included. flows' own modules are the flows and the command line: they may
# import everything but infra.
MAY_IMPORT: dict[str, set[str]] = {
    "ingestion": {"ingestion"},
    "flows.warehouse": {"flows.warehouse", "ingestion"},
    "flows.demo_app": {"flows.demo_app", "ingestion"},
    # A development tool beside the flows: it builds the aws target the way the
    # transform flow selects it, and the command line mounts its commands.
    "athena_emulator": {"athena_emulator", "flows", "ingestion"},
    "grafana": {"grafana", "flows.warehouse", "flows.alerts", "ingestion"},
    "flows": {"flows", "grafana", "ingestion", "athena_emulator"},
    "infra": {"infra", "flows.log_marks", "ingestion"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    """The most specific package of MAY_IMPORT that holds the module."""
    candidates = [p for p in MAY_IMPORT if module == p or module.startswith(p + ".")]
    return max(candidates, key=len)


def project_imports(path: Path) -> set[str]:
    """Every project module the file imports, at the top or inside a function."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from flows import writer_lock` imports flows.writer_lock
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in imported if name.split(".")[0] in PROJECT_PACKAGES}


def allowed(name: str, packages: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def source_files() -> list[Path]:
    return sorted(
        path
        for package in PROJECT_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "cdk.out" not in path.parts and "lambda_layer" not in path.parts
    )


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_imports_only_what_its_package_may(path: Path) -> None:
    package = package_of(module_name(path))
    wrong = {name for name in project_imports(path) if not allowed(name, MAY_IMPORT[package])}
    assert not wrong, f"{package} may import {sorted(MAY_IMPORT[package])}, not {sorted(wrong)}"


def test_the_rule_catches_an_import_that_runs_back_up(tmp_path: Path) -> None:
    handler = tmp_path / "handler.py"
    handler.write_text("from flows.warehouse.lakehouse import open_lake\nimport ingestion.store\n")
    assert project_imports(handler) == {"flows.warehouse.lakehouse.open_lake", "ingestion.store"}
    assert not allowed("flows.warehouse.lakehouse.open_lake", MAY_IMPORT["ingestion"])
    assert not allowed("flows.warehouse.lakehouse", MAY_IMPORT["ingestion"])


@pytest.mark.parametrize(
    "init",
    [path for path in source_files() if path.name == "__init__.py"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_each_package_says_what_it_holds_and_what_it_may_import(init: Path) -> None:
    package = module_name(init)
    docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
    summary = docstring.split("\n\n")[0]
    assert 1 <= len(summary.splitlines()) <= 2, f"{init}: say it in two lines"
    for other in sorted(MAY_IMPORT[package_of(package)]):
        if not package.startswith(other):
            assert other in summary, f"{init} does not say it may import {other}"
