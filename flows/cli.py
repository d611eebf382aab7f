"""The ``streamlake`` command line."""

from __future__ import annotations

import importlib
import os
import shlex
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from athena_emulator.cli import emulate_app
from athena_emulator.emulate import (
    EmulationFailed,
    EmulatorBusy,
    EmulatorUnavailable,
    OutdatedEmulatorState,
)
from flows.bronze_check import check_bronze
from flows.demo_app.delivery import DeliveryConfig, deliveries
from flows.demo_app.feed import FeedReport, feed
from flows.demo_app.workload import WorkloadConfig, generate
from flows.inventory import inventory, quarantine_reasons
from flows.land_events import EventFileError, handler_settings, read_event
from flows.prefect_server import (
    PrefectServerError,
    ensure_server,
    external_api_url,
    server_environment,
    stop_server,
    ui_url,
)
from flows.sources_cli import sources_app
from flows.warehouse.dbt_command import flag_value
from flows.warehouse.lakehouse import (
    DbtFailed,
    dbt_environment,
    dbt_exit_code,
    dbt_target_path,
    layer_counts,
    open_lake,
    run_dbt,
)
from flows.warehouse.writer_lock import LeaseLost, WriterBusy, catalog_writer
from grafana.builder.cli import dashboards_app
from ingestion.observability import send_logs_to
from ingestion.settings import Settings
from ingestion.store import LakeRootError, LakeStore

# The flows import Prefect and dbt, which take seconds, and Prefect must find the
# local server's address in the environment when it is first imported: commands
# import flows only inside prefect_api(), by name.
EXPORT_FORMATS = ("csv", "json", "parquet")

app = typer.Typer(
    name="streamlake",
    help="Streamlake: DynamoDB Streams and Kinesis to a lakehouse, locally or on AWS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(dashboards_app, name="dashboards")
app.add_typer(emulate_app, name="emulate-athena")
app.add_typer(sources_app, name="sources")
console = Console(emoji=False)
# soft_wrap: an error stays one line however narrow the terminal and long the path.
errors = Console(stderr=True, soft_wrap=True, emoji=False)


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


LakeRootOption = Annotated[
    str | None,
    typer.Option("--lake-root", help="Lake folder or s3:// URI (default: STREAMLAKE_LAKE_ROOT)."),
]


TargetOption = Annotated[
    str | None,
    typer.Option("--target", help="local or aws (default: STREAMLAKE_TARGET, else local)."),
]


@app.callback()
def _choose_target(target: TargetOption = None) -> None:
    if target is not None:
        if target not in ("local", "aws"):
            raise UsageError(f"--target must be local or aws, got {target!r}")
        os.environ["STREAMLAKE_TARGET"] = target


@contextmanager
def prefect_api(settings: Settings) -> Iterator[None]:
    """Flows report to the local Prefect server, started here when none is running,
    or to the Prefect API that PREFECT_API_URL names (Prefect Cloud or a server of
    the user's, as on ECS), where no local server is started.

    The server's address goes into the environment before Prefect is first
    imported, which is when Prefect reads it. (A context from temporary_settings
    does not reach the threads dbt reports its events from; they would start a
    temporary server of their own.)
    """
    external = external_api_url(settings)
    if external is not None:
        # Prefect Cloud or the user's own server (the runner on ECS): no local one.
        console.print(f"flows report to the Prefect API at {external}")
        yield
        return
    if ensure_server(settings):
        console.print(f"started the Prefect server: {ui_url(settings)}")
    if "prefect" not in sys.modules:
        os.environ.update(server_environment(settings))
    yield
    console.print(f"Prefect UI (flow runs, task runs, artifacts): [bold]{ui_url(settings)}[/]")


def _run_flow(settings: Settings, flow: str, **parameters: Any) -> Any:
    """Run a flow ("module:function") against the local server; imported only then."""
    # Flows read their settings from the environment: --lake-root must reach them too.
    os.environ["STREAMLAKE_LAKE_ROOT"] = settings.lake_root
    with prefect_api(settings):
        module, _, name = flow.partition(":")
        return getattr(importlib.import_module(module), name)(**parameters)


def _settings(lake_root: str | None) -> Settings:
    """Settings from the environment, with the command line's lake root on top."""
    return Settings(**({"lake_root": lake_root} if lake_root else {}))


def _existing_lake(settings: Settings) -> LakeStore:
    """The lake a flow or build works on: there and writable, checked before a server starts."""
    store = LakeStore.from_settings(settings)
    if store.is_local and not store.local_path().is_dir():
        raise UsageError(f"lake root {store.uri} does not exist: run `streamlake run` first")
    store.check_writable()
    return store


def _open_store(settings: Settings) -> LakeStore:
    store = LakeStore.from_settings(settings)
    store.check_writable()
    return store


def _handler_logs_into(store: LakeStore) -> Path | None:
    """A local lake keeps the handlers' JSON log lines in _logs/ingestion.jsonl, off
    the console; returns that file (None on S3, where they go to the console)."""
    if not store.is_local:
        return None
    log_file = store.local_path("_logs") / "ingestion.jsonl"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    send_logs_to(open(log_file, "a", encoding="utf-8"))  # noqa: SIM115
    return log_file


def simulate_and_land(
    settings: Settings, workload: WorkloadConfig, delivery: DeliveryConfig
) -> FeedReport:
    """Generate the workload and land it through the real handlers, with a progress bar."""
    store = _open_store(settings)
    planned = deliveries(generate(workload), delivery)
    total = sum(d.size for d in planned)
    log_file = _handler_logs_into(store)
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
    if log_file:
        console.print(f"handler logs (structured JSON): {log_file}")
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
    customers: Annotated[int, typer.Option(min=1, help="Customers in DynamoDB.")] = 200,
    products: Annotated[int, typer.Option(min=1, help="Products in DynamoDB.")] = 60,
    days: Annotated[int, typer.Option(min=1, help="Days of history the workload spans.")] = 14,
    seed: Annotated[int, typer.Option(help="Same seed, same workload.")] = 7,
    late_fraction: Annotated[
        float,
        typer.Option(min=0, max=1, help="Share of events that arrive days after they happened."),
    ] = 0.02,
    duplicate_fraction: Annotated[
        float,
        typer.Option(min=0, max=1, help="Share of batches Lambda delivers a second time."),
    ] = 0.0,
    out_of_order_fraction: Annotated[
        float,
        typer.Option(min=0, max=1, help="Share of batches swapped with their shard's next one."),
    ] = 0.0,
    malformed_fraction: Annotated[
        float,
        typer.Option(
            min=0, max=1, help="Extra records a producer got wrong, per batch (quarantined)."
        ),
    ] = 0.0,
    kinesis_batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Records per Kinesis batch to the handler.")
    ] = 10_000,
    dynamodb_batch_size: Annotated[
        int, typer.Option(min=1, max=1_000, help="Records per DynamoDB Streams batch.")
    ] = 1_000,
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


@app.command()
def land(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Files each holding one Lambda event of Kinesis or DynamoDB Streams "
            '({"Records": [...]}), e.g. from `sam local generate-event`.'
        ),
    ],
    lake_root: LakeRootOption = None,
) -> None:
    """Land Lambda events from files through the real handlers, with the names and contracts
    of the application file: your own tables' and streams' records, locally."""
    settings = handler_settings(_settings(lake_root))
    try:
        batches = [read_event(path) for path in files]
    except EventFileError as error:
        raise UsageError(str(error)) from None
    store = _open_store(settings)
    log_file = _handler_logs_into(store)
    report = feed(batches, settings, store=store)
    _print_feed(report)
    if log_file is not None:
        console.print(f"the handlers' log: {log_file}")
    print_bronze(_open_store(settings))
    if report.unlanded_batches:
        raise typer.Exit(1)


def print_layers(settings: Settings) -> None:
    if settings.target == "aws":
        # The tables live in Glue and Athena; counting them would cost a scan each.
        console.print(
            f"Silver and Gold are in the Glue databases {settings.silver_database} and "
            f"{settings.gold_database} (Athena workgroup {settings.athena_workgroup})"
        )
        return
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
    # As the transform flow does: one unreadable Bronze file must not fail the build.
    for entry in check_bronze(_existing_lake(settings)).quarantined:
        console.print(f"[yellow]Bronze file quarantined:[/] {entry.message}")
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
    console.rule("[bold]2. transform flow: dbt build of Silver and Gold, tests, alerts")
    report = _run_flow(settings, "flows.transform:transform", if_busy="wait", full=True)
    _print_transform(report)
    run_dbt(settings, ["source", "freshness", "--quiet"])
    console.rule("[bold]3. the lakehouse")
    print_layers(settings)
    from grafana.builder.cli import render_previews  # noqa: PLC0415

    for path in render_previews(settings):
        console.print(f"dashboard preview: {path}")
    elapsed = (datetime.now(UTC) - started).total_seconds()
    console.print(f"[green]done[/] in {elapsed:.1f} s")


def _print_transform(report: Any) -> None:
    if report.status == "skipped":
        console.print("transform skipped: another run holds the catalog")
        return
    if report.status == "up_to_date":
        console.print("transform: no new Bronze since the last build, nothing to build")
    else:
        _print_build(report.invocation)
    for alert in report.alerts:
        if alert.firing:
            errors.print(f"[yellow]alert:[/] {escape(alert.message)}")


def _print_build(invocation: Any) -> None:
    tests = invocation.tests
    passed = sum(1 for t in tests if t.status == "pass")
    console.print(
        f"dbt build: {len(invocation.models)} models, {passed}/{len(tests)} tests passed, "
        f"{invocation.seconds:.1f} s"
    )
    for test in invocation.warnings:
        message = f"{test.name}: {test.message}"
        errors.print(f"[yellow]plausibility warning:[/] {escape(message)}")


@app.command()
def transform(lake_root: LakeRootOption = None) -> None:
    """Run the transform flow once: dbt build of new Bronze into Silver and Gold, then alerts."""
    settings = _settings(lake_root)
    _existing_lake(settings)
    _print_transform(_run_flow(settings, "flows.transform:transform", if_busy="wait"))


@app.command()
def maintenance(
    lake_root: LakeRootOption = None,
    retention_hours: Annotated[
        float | None,
        typer.Option(min=0, help="Keep snapshots younger than this (default: the setting)."),
    ] = None,
) -> None:
    """Run the maintenance flow: table upkeep, Bronze compaction, quarantine report."""
    settings = _settings(lake_root)
    _existing_lake(settings)
    report = _run_flow(settings, "flows.maintenance:maintenance", retention_hours=retention_hours)
    if report.tables:
        t = report.tables
        console.print(
            f"table files {t.data_files_before} -> {t.data_files_after}, "
            f"snapshots {t.snapshots_before} -> {t.snapshots_after}"
        )
    compacted = [c for c in report.compactions if c.files_after < c.files_before]
    console.print(f"Bronze days compacted: {len(compacted)}")
    for (source, day), records in report.quarantined.items():
        console.print(f"quarantined {source} {day}: {records:,}")


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{name} must be a date like 2026-11-21, got {value!r}") from None


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="A Gold model, e.g. daily_sales_by_region.")],
    lake_root: LakeRootOption = None,
    format: Annotated[str, typer.Option("--format", help="csv, json or parquet.")] = "csv",
    filter: Annotated[
        list[str] | None,
        typer.Option("--filter", help="column=value, repeatable; rows must match all."),
    ] = None,
    time_column: Annotated[str | None, typer.Option(help="Column the range applies to.")] = None,
    start: Annotated[str | None, typer.Option(help="First date, inclusive.")] = None,
    end: Annotated[str | None, typer.Option(help="Last date, inclusive.")] = None,
    file_name: Annotated[str | None, typer.Option(help="File name inside exports/.")] = None,
) -> None:
    """Export a Gold model, filtered, to CSV, JSON or Parquet under the lake's exports/."""
    if format not in EXPORT_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    filters = {}
    for item in filter or []:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise UsageError(f"--filter takes column=value, got {item!r}")
        filters[column.strip()] = value
    settings = _settings(lake_root)
    first, last = _date(start, "--start"), _date(end, "--end")
    # Before the names: checking them parses the project into the lake's folder.
    _existing_lake(settings)
    from flows.warehouse.manifest import check_column, gold_model  # noqa: PLC0415

    # Names checked before any server starts; the flow checks them again.
    checked = gold_model(settings, model)
    for column in [*filters, *([time_column] if time_column else [])]:
        check_column(checked, column)
    result = _run_flow(
        settings,
        "flows.export:export",
        model=model,
        format=format,
        filters=filters,
        time_column=time_column,
        start=first,
        end=last,
        file_name=file_name,
    )
    console.print(f"{result.rows:,} rows -> {result.location}")
    if result.url:
        console.print(f"download (expires within the hour): {result.url}")


@app.command()
def backfill(
    lake_root: LakeRootOption = None,
    start: Annotated[str | None, typer.Option(help="First Bronze date, inclusive.")] = None,
    end: Annotated[str | None, typer.Option(help="Last Bronze date (default: start).")] = None,
    full_refresh: Annotated[
        list[str] | None,
        typer.Option(
            "--full-refresh",
            help="Rebuild this model (or seed) and what follows it; repeatable.",
        ),
    ] = None,
) -> None:
    """Reprocess a range of Bronze dates, or fully rebuild chosen models."""
    settings = _settings(lake_root)
    # Before the names: checking them parses the project into the lake's folder.
    _existing_lake(settings)
    if full_refresh:
        from flows.warehouse.manifest import model_names  # noqa: PLC0415

        unknown = sorted(set(full_refresh) - model_names(settings))
        if unknown:
            raise UsageError(f"unknown model(s): {', '.join(unknown)}")
    first, last = _date(start, "--start"), _date(end, "--end")
    if not full_refresh and first is None:
        raise UsageError("backfill needs --start (a date) or --full-refresh MODEL")
    done = _run_flow(
        settings,
        "flows.backfill:backfill",
        start=first,
        end=last,
        full_refresh_models=full_refresh,
    )
    console.print(f"backfill done: {done} step(s)")


@app.command()
def serve(lake_root: LakeRootOption = None) -> None:
    """Serve every deployment on its schedule against the local Prefect server (Ctrl-C stops)."""
    settings = _settings(lake_root)
    # The served runs and the dbt worker read their settings from the environment.
    os.environ["STREAMLAKE_LAKE_ROOT"] = settings.lake_root
    with prefect_api(settings):
        from flows.deployments import deployments, serve_all  # noqa: PLC0415

        names = ", ".join(d.name for d in deployments(settings))
        console.print(
            f"serving {names}; Prefect: [bold]{external_api_url(settings) or ui_url(settings)}[/]"
        )
        serve_all(settings)


@app.command("dbt-worker")
def dbt_worker(
    lake_root: LakeRootOption = None,
    exit_with_parent: Annotated[
        bool,
        typer.Option(
            "--exit-with-parent", help="Stop when the process that started this one is gone."
        ),
    ] = False,
) -> None:
    """Keep dbt loaded and the project parsed for this lake: its dbt commands run in
    forks of this process, seconds sooner (Ctrl-C stops)."""
    from flows.warehouse import dbt_worker as worker  # noqa: PLC0415 (imports dbt)

    settings = _settings(lake_root)
    path = worker.socket_path(dbt_target_path(settings))
    parent = os.getppid() if exit_with_parent else None
    worker.preload()
    try:
        parsed = worker.warm_up(settings)
        worker.serve(
            path,
            worker.commands(parsed),
            ready=lambda: console.print(
                f"dbt worker for {settings.lake_root} listening at {path}", soft_wrap=True
            ),
            parent=parent,
        )
    except (worker.WorkerRunning, worker.WarmUpFailed) as error:
        raise UsageError(str(error)) from None


# dbt commands that change nothing in the catalog: they run without the writer lock.
READ_ONLY_DBT = frozenset(
    {"clean", "compile", "debug", "deps", "docs", "init", "list", "ls", "parse", "show", "test"}
    | {"source"}
)


@app.command("dbt", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def dbt(ctx: typer.Context, lake_root: LakeRootOption = None) -> None:
    """Any dbt command on this project with the settings' target and names, e.g.
    `streamlake --target aws dbt -- build`: on aws those the stack published in SSM
    (STREAMLAKE_SSM_PREFIX), in AWS_REGION. Commands that write hold the writer lock."""
    args = list(ctx.args)
    if not args:
        raise UsageError("give dbt's arguments after --, e.g. `streamlake dbt -- build`")
    # dbt's own --target picks the settings' target too, as the global option does.
    _choose_target(flag_value(args, "--target", "-t"))
    settings = _settings(lake_root)
    if settings.target == "aws":
        errors.print(
            f"dbt on aws in {settings.aws_region}: workgroup {settings.athena_workgroup}, "
            f"databases {settings.bronze_database}, {settings.silver_database}, "
            f"{settings.gold_database}; lake {settings.lake_root}"
        )
    if args[0] in READ_ONLY_DBT:
        raise typer.Exit(dbt_exit_code(settings, args))
    with catalog_writer(settings, f"dbt {args[0]}", announce=errors.print):
        code = dbt_exit_code(settings, args)
    raise typer.Exit(code)


@app.command("env")
def env(lake_root: LakeRootOption = None) -> None:
    """Print the settings as shell exports (on aws: the stack's, from SSM), for plain
    `dbt` and Grafana's compose file: `eval "$(streamlake --target aws env)"`."""
    settings = _settings(lake_root)
    for name, value in sorted(dbt_environment(settings).items()):
        if name.startswith("STREAMLAKE_") and name != "STREAMLAKE_TEST_SCOPE":
            console.print(f"export {name}={shlex.quote(value)}", highlight=False, soft_wrap=True)


@app.command()
def doctor(lake_root: LakeRootOption = None, target: TargetOption = None) -> None:
    """Check what a run needs, one line per check with what to do when it fails; exit 1
    on any failure. Locally: Python, packages, DuckDB extensions, the lake, dbt parse,
    Prefect, the writer lock. On aws: the deployed stack and every source it wired."""
    from flows.doctor import aws_checks, local_checks  # noqa: PLC0415

    _choose_target(target)
    settings = _settings(lake_root)
    checks = aws_checks(settings) if settings.target == "aws" else local_checks(settings)
    failures = 0
    for check in checks:
        failures += not check.ok
        style = "green" if check.ok else "red"
        console.print(f"[{style}]{escape(check.line())}[/]", soft_wrap=True, highlight=False)
    if failures:
        errors.print(f"[red]{failures} check(s) failed[/]")
        raise typer.Exit(1)


@app.command("server-stop")
def server_stop() -> None:
    """Stop the local Prefect server that `run` or `serve` started."""
    settings = Settings()
    console.print("stopped" if stop_server(settings) else "no Prefect server of ours was running")


@app.command("replay-quarantine")
def replay_quarantine(
    lake_root: LakeRootOption = None,
    source: Annotated[
        str | None, typer.Option(help="Only this source (events, orders, ...).")
    ] = None,
    day: Annotated[
        str | None, typer.Option(help="Only the records quarantined on this date.")
    ] = None,
) -> None:
    """Land quarantined records again after a fix (contract, limits, handler code): the
    valid ones go to Bronze, the rest back to quarantine with today's reason."""
    from flows.quarantine_replay import replay  # noqa: PLC0415

    settings = _settings(lake_root)
    store = _existing_lake(settings)
    wanted = _date(day, "--day")
    _handler_logs_into(store)
    report = replay(
        store,
        settings,
        source=source,
        day=wanted.isoformat() if wanted else None,
        on_file=lambda path, done, total: console.print(f"[{done}/{total}] {path}"),
    )
    if not report.files:
        console.print("nothing in quarantine to replay")
        return
    console.print(
        f"replayed {report.files} file(s), {report.records} record(s): {report.landed} landed "
        f"in Bronze, {report.quarantined_again} quarantined again; the files are kept under "
        "quarantine/<source>/_replayed/"
    )


@app.command("inventory")
def show_inventory(lake_root: LakeRootOption = None) -> None:
    """Show what the lake holds: files and rows per source, quarantined records by reason."""
    settings = _settings(lake_root)
    store = LakeStore.from_settings(settings)
    if store.is_local and not store.local_path().exists():
        raise UsageError(f"lake root {store.uri} does not exist: run `streamlake run` first")
    print_bronze(store)


@app.command()
def query(
    sql: Annotated[
        str,
        typer.Argument(
            help='SQL over the layers, e.g. "select * from gold.key_metrics": locally the '
            "schemas are bronze, silver and gold; on aws, the Glue databases (`streamlake env`)."
        ),
    ],
    lake_root: LakeRootOption = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows shown at most.")] = 40,
) -> None:
    """Query Silver and Gold: the local DuckLake catalog, or Athena with --target aws."""
    from flows.warehouse.gold_queries import AthenaQueryFailed, warehouse_for  # noqa: PLC0415

    settings = _settings(lake_root)
    if settings.target == "local":
        _existing_lake(settings)
    warehouse = warehouse_for(settings)
    try:
        result = warehouse.query(sql)  # a local lake is opened with `use lake` already
    except (duckdb.Error, AthenaQueryFailed) as error:
        raise UsageError(f"query failed: {str(error).splitlines()[0]}") from None
    table = Table(show_lines=False)
    for name in result.column_names:
        table.add_column(name)
    for row in result.slice(0, limit).to_pylist():
        table.add_row(*("" if value is None else escape(str(value)) for value in row.values()))
    console.print(table)
    shown = min(limit, result.num_rows)
    console.print(
        f"{result.num_rows:,} {'row' if result.num_rows == 1 else 'rows'}"
        + (f", the first {shown} shown" if shown < result.num_rows else "")
    )


@app.command()
def reset(
    lake_root: LakeRootOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Delete without asking (the lake's data is gone).")
    ] = False,
) -> None:
    """Delete the local lake folder (Bronze, quarantine, Silver, Gold, its state and logs) and
    nothing else: the installed tools, the project and the Prefect server's history stay."""
    settings = _settings(lake_root)
    store = LakeStore.from_settings(settings)
    if not store.is_local:
        raise UsageError("reset deletes a local lake folder only; an s3:// lake is not touched")
    folder = store.local_path()
    if not folder.is_dir():
        console.print(f"no lake at {folder}: nothing to delete")
        return
    if not yes and not typer.confirm(f"Delete {folder} and everything in it?"):
        raise typer.Exit(1)
    try:
        with catalog_writer(settings, "reset", wait_seconds=0):
            shutil.rmtree(folder / "catalog", ignore_errors=True)
    except WriterBusy as busy:
        raise UsageError(f"the lake is in use ({busy}); stop `streamlake serve` first") from None
    shutil.rmtree(folder)
    console.print(f"deleted {folder}; `make demo` or `streamlake run` lands and builds it again")


def main() -> None:
    """Console-script entry: known errors become one line on stderr and exit code 2."""
    try:
        app()
    except ValidationError as error:  # settings from the environment
        first = error.errors()[0]
        # pydantic prefixes a validator's own message with "Value error, ".
        setting = ".".join(map(str, first["loc"]))
        message = first["msg"].removeprefix("Value error, ")
        errors.print(f"[red]error:[/] setting {setting}: {escape(message)}")
        sys.exit(2)
    except DbtFailed as error:
        hint = "(dbt's output above names the model or test)"
        errors.print(f"[red]error:[/] {escape(str(error))} {hint}")
        sys.exit(1)
    except EmulationFailed as error:
        errors.print(f"[red]error:[/] {escape(str(error))}")
        sys.exit(1)
    except (
        UsageError,
        LakeRootError,
        ValueError,
        FileNotFoundError,
        EmulatorUnavailable,
        OutdatedEmulatorState,
    ) as error:
        errors.print(f"[red]error:[/] {escape(str(error))}")
        sys.exit(2)
    except (PrefectServerError, WriterBusy, LeaseLost, EmulatorBusy) as error:
        errors.print(f"[red]error:[/] {escape(str(error))}")
        sys.exit(1)


if __name__ == "__main__":
    main()
