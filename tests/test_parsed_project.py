"""flows.warehouse.parsed_project: when a dbt command may run on the worker's parse of the project."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from flows.warehouse.lakehouse import PROJECT_DIR
from flows.warehouse.parsed_project import PROJECT_FILES, PROJECT_FOLDERS, ParsedProject, exit_code

ENVIRONMENT = {
    "HOME": "/home/someone",
    "STREAMLAKE_LAKE_ROOT": "/lakes/one",
    "STREAMLAKE_TEST_SCOPE": "all",
    "DBT_TARGET_PATH": "/lakes/one/_dbt/target",
    "PARSED_WITH": "a variable a model's env_var() read",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's dbt files, free to change."""
    copy = tmp_path / "project"
    for name in PROJECT_FILES:
        if (PROJECT_DIR / name).exists():
            copy.mkdir(exist_ok=True)
            shutil.copy2(PROJECT_DIR / name, copy / name)
    for folder in PROJECT_FOLDERS:
        if (PROJECT_DIR / folder).exists():
            shutil.copytree(PROJECT_DIR / folder, copy / folder)
    return copy


@pytest.fixture
def parsed(project: Path) -> ParsedProject:
    manifest = SimpleNamespace(env_vars={"PARSED_WITH": ENVIRONMENT["PARSED_WITH"]})
    return ParsedProject.of(manifest, ENVIRONMENT, project)


def command(project: Path, *args: str) -> list[str]:
    return [*args, "--project-dir", str(project), "--profiles-dir", str(project)]


def test_an_unchanged_project_is_reused_whatever_the_test_scope(parsed, project) -> None:
    for name in ("run", "build", "test", "ls"):
        assert parsed.reusable_for(command(project, name, "--quiet"), ENVIRONMENT) is None
    scheduled = {**ENVIRONMENT, "STREAMLAKE_TEST_SCOPE": "changed"}
    assert parsed.reusable_for(command(project, "build"), scheduled) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"STREAMLAKE_LAKE_ROOT": "/lakes/two"}, "STREAMLAKE_LAKE_ROOT"),
        ({"STREAMLAKE_TARGET": "aws"}, "STREAMLAKE_TARGET"),  # a new one
        ({"DBT_TARGET_PATH": "/elsewhere"}, "DBT_TARGET_PATH"),
        ({"PARSED_WITH": "another value"}, "PARSED_WITH"),
    ],
)
def test_a_changed_environment_parses_again(parsed, project, change, reason) -> None:
    why = parsed.reusable_for(command(project, "run"), {**ENVIRONMENT, **change})
    assert why is not None and reason in why
    assert parsed.reusable_for(command(project, "run"), {**ENVIRONMENT, "OTHER": "x"}) is None


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["parse"], "parses for itself"),
        (["source", "freshness"], "parses for itself"),
        (["run", "--vars", "{backfill_from: 2026-01-01}"], "--vars"),
        (["run", "--vars={a: 1}"], "--vars"),
        (["run", "--target", "aws"], "--target"),
        (["build", "-t", "aws"], "-t"),
    ],
)
def test_commands_that_change_or_make_the_parse_parse_again(parsed, project, args, reason) -> None:
    why = parsed.reusable_for(command(project, *args), ENVIRONMENT)
    assert why is not None and reason in why


def test_another_or_an_unnamed_project_folder_parses_again(parsed, project, tmp_path) -> None:
    assert "another folder" in parsed.reusable_for(
        ["run", "--project-dir", str(tmp_path), "--profiles-dir", str(project)], ENVIRONMENT
    )
    assert "no --project-dir" in parsed.reusable_for(["run"], ENVIRONMENT)


@pytest.mark.parametrize("edit", ["change", "add", "remove", "touch"])
def test_any_change_to_the_projects_files_parses_again(parsed, project, edit) -> None:
    model = project / "dbt_project" / "models" / "gold" / "shop" / "key_metrics.sql"
    if edit == "change":
        model.write_text(model.read_text() + "\n-- edited\n")
    elif edit == "add":
        (model.parent / "new_model.sql").write_text("select 1 as one\n")
    elif edit == "remove":
        model.unlink()
    else:  # same size, new modification time: an editor's save of the same text
        stat = model.stat()
        os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert parsed.reusable_for(command(project, "run"), ENVIRONMENT) == (
        "project files changed since the parse"
    )


def test_dbt_project_yml_is_part_of_the_parse(parsed, project) -> None:
    (project / "dbt_project.yml").write_text((project / "dbt_project.yml").read_text() + "\n")
    assert parsed.reusable_for(command(project, "run"), ENVIRONMENT) is not None


def test_exit_codes_are_dbts_command_lines() -> None:
    assert exit_code(SimpleNamespace(success=True, exception=None)) == 0
    assert exit_code(SimpleNamespace(success=False, exception=None)) == 1  # a model failed
    assert exit_code(SimpleNamespace(success=False, exception=RuntimeError("bad"))) == 2
