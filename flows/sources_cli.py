"""`streamlake sources`: the dbt files of the application file, written and checked."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flows.source_files import apply, drift, generate
from ingestion.application import (
    PROJECT_ROOT,
    Application,
    ApplicationError,
    application_path,
    load_application,
)
from ingestion.settings import Settings

sources_app = typer.Typer(
    name="sources",
    help=(
        "The application file (streamlake.yml): write the dbt files that follow from it "
        "(apply), or say where they and the file disagree (check)."
    ),
    no_args_is_help=True,
)
console = Console(emoji=False, highlight=False, soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True, emoji=False, highlight=False)

AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        help="The application file (default: STREAMLAKE_APP_CONFIG, else streamlake.yml).",
    ),
]
ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project-dir",
        help="The project whose dbt files to write or check (default: this repository).",
    ),
]


def _load(app_file: str | None) -> tuple[Application, str]:
    name = app_file or Settings().app_config
    try:
        return load_application(name), _shown(application_path(name))
    except ApplicationError as error:
        for line in error.problems:
            errors.print(line, markup=False)
        raise typer.Exit(1) from None


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


@sources_app.command("apply")
def apply_command(
    app_file: AppOption = None,
    project_dir: ProjectOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Overwrite files edited by hand, and files of your own."),
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Delete generated files of sources and entities the file no longer names.",
        ),
    ] = False,
) -> None:
    """Write the staging views, Silver models, their YAML and the Bronze sources the file implies.

    A file edited by hand is kept, with a line saying so (--force overwrites it).
    """
    app, shown = _load(app_file)
    project = project_dir or PROJECT_ROOT
    result = apply(project, generate(app, project), force=force, prune=prune)
    for path in result.written:
        console.print(f"wrote     {path}", markup=False)
    for path, reason in result.kept:
        console.print(f"kept      {path}: {reason}", markup=False)
    for path in result.pruned:
        console.print(f"deleted   {path}", markup=False)
    console.print(
        f"{shown}: {len(app.sources)} sources, {len(app.entities) + len(app.kinesis_streams)} "
        f"Silver models; {len(result.written)} files written, {len(result.unchanged)} "
        f"unchanged, {len(result.kept)} kept"
        + (f", {len(result.pruned)} deleted" if prune else ""),
        markup=False,
    )


@sources_app.command("check")
def check_command(app_file: AppOption = None, project_dir: ProjectOption = None) -> None:
    """Check the file, and that the generated dbt files are in step with it: one line each
    problem, exit 1 on any (fit for CI)."""
    app, shown = _load(app_file)
    project = project_dir or PROJECT_ROOT
    lines = drift(shown, project, generate(app, project))
    for line in lines:
        errors.print(line, markup=False)
    if lines:
        raise typer.Exit(1)
    console.print(f"{shown}: valid; every generated dbt file is in step with it", markup=False)
