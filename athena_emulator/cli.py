"""`streamlake emulate-athena`: the aws target's dbt, run offline against the Athena emulator.

The emulator and dbt are imported inside the commands, so that `streamlake
--help` and the other commands do not pay for them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from athena_emulator.emulate import (
    KINDS,
    STATE_FOLDER,
    EmulationReport,
    RunRecord,
    monthly_cost,
)
from ingestion.settings import Settings

emulate_app = typer.Typer(
    name="emulate-athena",
    help=(
        "Build the aws target (dbt-athena, Iceberg) offline, on a local lake's Bronze, "
        "against the Athena emulator; state kept under <lake>/_athena_emulated/."
    ),
    no_args_is_help=True,
)
console = Console()

LakeRootOption = Annotated[
    str | None,
    typer.Option(
        "--lake-root",
        help="A local lake folder the handlers landed (default: STREAMLAKE_LAKE_ROOT).",
    ),
]


ProjectDirOption = Annotated[
    Path | None,
    typer.Option(
        "--project-dir",
        help="A copy of this dbt project to build instead (dbt_project.yml and profiles.yml).",
    ),
]


def _project_dir(project_dir: Path | None) -> Path:
    from flows.warehouse.lakehouse import PROJECT_DIR  # noqa: PLC0415

    return project_dir or PROJECT_DIR


def _lake_root(lake_root: str | None) -> str:
    return lake_root or Settings().lake_root


def _progress() -> tuple[Progress, Callable[[str, int, int, int], None]]:
    progress = Progress(
        TextColumn("[bold]{task.fields[what]:<36}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[statements]} statements"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, int] = {}

    def update(what: str, done: int, total: int, statements: int) -> None:
        if what not in tasks:
            tasks[what] = progress.add_task(what, total=None, what=what[:36], statements=0)
        progress.update(
            tasks[what], completed=done, total=total or None, statements=f"{statements:,}"
        )

    return progress, update


@emulate_app.command()
def build(
    lake_root: LakeRootOption = None,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild every table from Bronze.")
    ] = False,
    project_dir: ProjectDirOption = None,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            "-s",
            help=(
                "Build only these nodes (dbt's selection syntax, e.g. '+customers'); "
                "repeat for more. Default: every model and test."
            ),
        ),
    ] = None,
) -> None:
    """`dbt seed` and a whole `dbt build --target aws` (every test) against the emulator."""
    from athena_emulator.emulate import emulate_build  # noqa: PLC0415

    progress, update = _progress()
    with progress:
        report = emulate_build(
            _lake_root(lake_root),
            full_refresh=full_refresh,
            on_progress=update,
            project_dir=_project_dir(project_dir),
            select=select or (),
        )
    print_report(report)


@emulate_app.command()
def transform(lake_root: LakeRootOption = None, project_dir: ProjectDirOption = None) -> None:
    """What the scheduled transform flow runs on the aws target, against the emulator."""
    from athena_emulator.emulate import emulate_transform  # noqa: PLC0415

    progress, update = _progress()
    with progress:
        report = emulate_transform(
            _lake_root(lake_root), on_progress=update, project_dir=_project_dir(project_dir)
        )
    print_report(report, scheduled=True)


def _size(number: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if number >= scale:
            return f"{number / scale:,.1f} {unit}"
    return f"{number} B"


def runs_table(runs: list[RunRecord], title: str) -> Table:
    """One column per dbt invocation, so that it fits a narrow terminal."""
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for run in runs:
        table.add_column(run.command.removeprefix("dbt "), justify="right", overflow="fold")
    table.add_row("statements", *(f"{run.statements:,}" for run in runs))
    for kind in KINDS:
        table.add_row(f"  {kind}", *(f"{run.statements_by_kind[kind]:,}" for run in runs))
    table.add_row("bytes scanned", *(_size(run.bytes_scanned) for run in runs))
    table.add_row("billed (10 MB min.)", *(_size(run.billed_bytes) for run in runs))
    table.add_row("cost at $5/TB", *(f"${run.cost_usd:.4f}" for run in runs))
    table.add_row("emulator wall time", *(f"{run.wall_s:.1f} s" for run in runs))
    table.add_row("on Athena (modeled)", *(f"{run.modeled_athena_s:,.0f} s" for run in runs))
    return table


def print_report(report: EmulationReport, scheduled: bool = False) -> None:
    check = report.bronze_check
    if check is not None:
        for entry in check.quarantined:
            console.print(f"[yellow]Bronze file quarantined:[/] {entry.message}")
    console.print(
        f"Bronze and quarantine files in the emulator's S3: {report.bronze_files:,} "
        f"({report.bronze_new:,} new since the last call)"
    )
    console.print(runs_table(report.runs, "dbt against the Athena emulator"))
    if scheduled:
        interval = Settings().transform_interval_seconds
        per_month = sum(monthly_cost(run, interval) for run in report.runs)
        console.print(
            f"run every {interval} s (the transform's schedule), that is ${per_month:,.2f} "
            "a month in Athena's charges for the bytes scanned"
        )
    silver = sum(1 for name in report.tables if name.startswith("silver."))
    gold = len(report.tables) - silver
    state = report.state
    console.print(
        f"{silver} Silver and {gold} Gold tables ({sum(report.tables.values()):,} rows) "
        f"written to {state / 'tables'}; runs appended to {state / 'runs.jsonl'}"
    )
    console.print(f"statement log: {state / 'statements.log'}")


__all__ = ["STATE_FOLDER", "emulate_app"]
