"""The ``streamlake`` command line."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flows.inventory import inventory, quarantine_reasons
from flows.lakehouse import DbtFailed, layer_counts, open_lake, run_dbt
from flows.simulator.delivery import DeliveryConfig, deliveries
from flows.simulator.feed import FeedReport, feed
from flows.simulator.workload import WorkloadConfig, generate
from ingestion.observability import send_logs_to
from ingestion.settings import Settings
from ingestion.store import LakeRootError, LakeStore

app = typer.Typer(
    name="streamlake",
    help="Streamlake: DynamoDB Streams and Kinesis to a lakehouse, locally or on AWS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


LakeRootOption = Annotated[
    str | None,
    typer.Option("--lake-root", help="Lake folder or s3:// URI (default: STREAMLAKE_LAKE_ROOT)."),
]


def _settings(lake_root: str | None) -> Settings:
    """Settings from the environment, with the command line's overrides on top."""
    return Settings(**({"lake_root": lake_root} if lake_root else {}))


def _open_store(settings: Settings) -> LakeStore:
    store = LakeStore.from_settings(settings)
    store.check_writable()
    return store


def simulate_and_land(
    settings: Settings, workload: WorkloadConfig, delivery: DeliveryConfig
) -> FeedReport:
    """Generate the workload and land it through the real handlers, with a progress bar."""
    store = _open_store(settings)
    planned = deliveries(generate(workload), delivery)
    total = sum(d.size for d in planned)
    log_path = None
    if store.is_local:
        log_path = store.local_path("_logs")
        log_path.mkdir(parents=True, exist_ok=True)
        send_logs_to(open(log_path / "ingestion.jsonl", "a", encoding="utf-8"))  # noqa: SIM115
    with Progress(
        TextColumn("[bold]landing[/] {task.fields[source]:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("land", total=total, source="")
        report = feed(
            planned,
            settings,
            store=store,
            on_delivery=lambda d: progress.update(task, advance=d.size, source=d.source),
        )
    if log_path:
        console.print(f"handler logs (structured JSON): {log_path / 'ingestion.jsonl'}")
    return report


def print_bronze(store: LakeStore) -> None:
    table = Table(title=f"Lake at {store.uri}", title_justify="left")
    for column in ("area", "source", "files", "rows", "days"):
        table.add_column(column, justify="right" if column in ("files", "rows") else "left")
    entries = inventory(store)
    for entry in entries:
        days = sorted(entry.days)
        span = days[0] if len(days) == 1 else f"{days[0]} .. {days[-1]}"
        table.add_row(entry.area, entry.source, str(entry.files), f"{entry.rows:,}", span)
    if not entries:
        table.add_row("-", "(empty)", "0", "0", "-")
    console.print(table)
    reasons = quarantine_reasons(store)
    if reasons:
        quarantine = Table(title="Quarantined records by reason", title_justify="left")
        quarantine.add_column("source")
        quarantine.add_column("reason")
        quarantine.add_column("records", justify="right")
        for (source, reason), count in sorted(reasons.items()):
            quarantine.add_row(source, reason, str(count))
        console.print(quarantine)


def _land_and_report(
    settings: Settings, workload: WorkloadConfig, delivery: DeliveryConfig
) -> None:
    """Land the simulated workload and show what the lake holds; exit 1 if anything is unlanded."""
    report = simulate_and_land(settings, workload, delivery)
    _print_feed(report)
    print_bronze(_open_store(settings))
    if report.unlanded_batches:
        raise typer.Exit(1)


def _print_feed(report: FeedReport) -> None:
    console.print(
        f"{report.invocations:,} handler invocations, {report.records_sent:,} records sent "
        f"({report.redeliveries} batches redelivered, {report.out_of_order} out of order, "
        f"{report.retries} retried after a partial failure)"
    )
    for batch in report.unlanded_batches:
        errors.print(f"[red]not landed after retries:[/] {batch}")


@app.command()
def simulate(
    lake_root: LakeRootOption = None,
    events: Annotated[int, typer.Option(min=0, help="Analytics events on Kinesis.")] = 20_000,
    orders: Annotated[int, typer.Option(min=0, help="Orders placed in DynamoDB.")] = 2_000,
    customers: Annotated[int, typer.Option(min=1)] = 200,
    products: Annotated[int, typer.Option(min=1)] = 60,
    days: Annotated[int, typer.Option(min=1, help="Days of history the workload spans.")] = 14,
    seed: Annotated[int, typer.Option(help="Same seed, same workload.")] = 7,
    late_fraction: Annotated[float, typer.Option(min=0, max=1)] = 0.02,
    duplicate_fraction: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    out_of_order_fraction: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    malformed_fraction: Annotated[float, typer.Option(min=0, max=1)] = 0.0,
    kinesis_batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 10_000,
    dynamodb_batch_size: Annotated[int, typer.Option(min=1, max=1_000)] = 1_000,
) -> None:
    """Simulate the application and land its stream records in Bronze through the handlers."""
    settings = _settings(lake_root)
    workload = WorkloadConfig(
        seed=seed,
        customers=customers,
        products=products,
        orders=orders,
        events=events,
        days=days,
        late_fraction=late_fraction,
    )
    delivery = DeliveryConfig(
        seed=seed,
        kinesis_batch_size=kinesis_batch_size,
        dynamodb_batch_size=dynamodb_batch_size,
        duplicate_fraction=duplicate_fraction,
        out_of_order_fraction=out_of_order_fraction,
        malformed_fraction=malformed_fraction,
    )
    _land_and_report(settings, workload, delivery)


def print_layers(settings: Settings) -> None:
    with open_lake(settings) as con:
        counts = layer_counts(con)
    table = Table(title="What each layer holds", title_justify="left")
    for column in ("layer", "model", "kind", "rows"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for count in counts:
        table.add_row(count.layer, count.table, count.kind, f"{count.rows:,}")
    console.print(table)


@app.command()
def build(lake_root: LakeRootOption = None) -> None:
    """Build and test Silver and Gold from Bronze (`dbt build`), then show what each layer holds."""
    settings = _settings(lake_root)
    run_dbt(settings, ["build"])
    print_layers(settings)


@app.command()
def run(lake_root: LakeRootOption = None) -> None:
    """The main job: simulate the application, land Bronze, build Silver and Gold."""
    settings = _settings(lake_root)
    started = datetime.now(UTC)
    console.rule("[bold]1. simulate and land Bronze")
    _land_and_report(
        settings,
        WorkloadConfig(),
        # A realistic bad day: some redelivery, some reordering, a few broken records.
        DeliveryConfig(
            kinesis_batch_size=2_000,
            dynamodb_batch_size=500,
            duplicate_fraction=0.05,
            out_of_order_fraction=0.05,
            malformed_fraction=0.002,
        ),
    )
    console.rule("[bold]2. dbt build: Silver and Gold, with their tests")
    run_dbt(settings, ["build"])
    run_dbt(settings, ["source", "freshness"])
    console.rule("[bold]3. the lakehouse")
    print_layers(settings)
    elapsed = (datetime.now(UTC) - started).total_seconds()
    console.print(f"[green]done[/] in {elapsed:.1f} s")


@app.command("inventory")
def show_inventory(lake_root: LakeRootOption = None) -> None:
    """Show what the lake holds: files and rows per source, quarantined records by reason."""
    settings = _settings(lake_root)
    store = LakeStore.from_settings(settings)
    if store.is_local and not store.local_path().exists():
        raise UsageError(f"lake root {store.uri} does not exist: run `streamlake run` first")
    print_bronze(store)


def main() -> None:
    """Console-script entry: known errors become one line on stderr and exit code 2."""
    try:
        app()
    except ValidationError as error:  # settings from the environment
        first = error.errors()[0]
        errors.print(f"[red]error:[/] setting {'.'.join(map(str, first['loc']))}: {first['msg']}")
        sys.exit(2)
    except DbtFailed as error:
        errors.print(f"[red]error:[/] {error} (dbt's output above names the model or test)")
        sys.exit(1)
    except (UsageError, LakeRootError, ValueError, FileNotFoundError) as error:
        errors.print(f"[red]error:[/] {error}")
        sys.exit(2)


if __name__ == "__main__":
    main()
