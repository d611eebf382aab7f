"""`streamlake dashboards`: generate the Grafana files, check them, render the previews.

The SDK, matplotlib and the lake are imported inside the commands, so that
`streamlake --help` and the other commands do not pay for them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ingestion.settings import Settings

dashboards_app = typer.Typer(
    name="dashboards",
    help="Grafana dashboards and alert rules as code; previews drawn from the local Gold.",
    no_args_is_help=True,
)
console = Console()


def preview_dir(settings: Settings) -> Path:
    """Where the main job writes the previews: beside the lake's data, never in the repository."""
    if settings.lake_root.startswith("s3://"):
        raise ValueError("previews are drawn from a local lake; the lake root is on S3")
    return Path(settings.lake_root) / "_dashboards"


def render_previews(
    settings: Settings,
    out_dir: Path | None = None,
    now: datetime | None = None,
    names: list[str] | None = None,
    dpi: int | None = None,
) -> list[Path]:
    """A PNG per dashboard (or the named ones), drawn from the lake's Gold; their paths."""
    from grafana.builder.render import DPI, render  # noqa: PLC0415

    return render(settings, out_dir or preview_dir(settings), now, names=names, dpi=dpi or DPI)


@dashboards_app.command()
def generate() -> None:
    """Write grafana/dashboards/*.json and the alert rules provisioning from the code."""
    from grafana.builder.catalog import generate as write_files  # noqa: PLC0415

    written = write_files()
    for path in written:
        console.print(f"wrote {path}")
    if not written:
        console.print("every generated file is up to date")


@dashboards_app.command()
def check() -> None:
    """Exit 1 when a committed dashboard or alert rules file is not what the code generates."""
    from grafana.builder.catalog import stale  # noqa: PLC0415

    problems = stale()
    for problem in problems:
        console.print(f"[red]stale:[/] {problem}")
    if problems:
        console.print("run `streamlake dashboards generate` and commit the result")
        raise typer.Exit(1)
    console.print("the committed dashboards and alert rules match the code")


@dashboards_app.command()
def render(
    lake_root: Annotated[
        str | None,
        typer.Option("--lake-root", help="Lake folder (default: STREAMLAKE_LAKE_ROOT)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the PNGs (default: <lake root>/_dashboards)."),
    ] = None,
    at: Annotated[
        datetime | None,
        typer.Option("--at", help="Draw as if now were this UTC time (default: now)."),
    ] = None,
    dashboard: Annotated[
        list[str] | None,
        typer.Option("--dashboard", help="Only this dashboard (file stem); repeatable."),
    ] = None,
    dpi: Annotated[
        int | None, typer.Option("--dpi", min=30, max=300, help="Pixels per inch (100: 1600 wide).")
    ] = None,
) -> None:
    """Draw each dashboard from its JSON and the local Gold into a PNG, panel by panel."""
    settings = Settings(**({"lake_root": lake_root} if lake_root else {}))
    now = at.replace(tzinfo=at.tzinfo or UTC) if at else None
    for path in render_previews(settings, out, now, names=dashboard, dpi=dpi):
        console.print(f"dashboard preview: {path}")
