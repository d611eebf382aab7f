"""The aws target executed: the same Bronze built on both targets gives the same
Silver and Gold, first, incrementally and after a full refresh.

One lake folder gets a small plan through the handlers: updates of old
orders, deletes, a customer moving region (the simulator's), late events up
to 40 days old, redelivered and out-of-order batches, and a few crafted
DynamoDB records: two orders placed weeks before the plan, one updated and
one deleted in the second step, so that a Gold group (its day and region)
empties. The same Bronze is built by dbt on DuckDB + DuckLake (the local
target) and by `streamlake emulate-athena` (dbt-athena against the Athena
emulator, which runs every statement on its DuckDB):

1. the first half landed: local `dbt seed` + `dbt run`; `streamlake
   emulate-athena build` (seed and a whole build with every test);
2. the second half landed: local `dbt run`; `streamlake emulate-athena
   transform` (the scheduled transform's selection and test scope), an
   incremental run on the Iceberg tables the first call left;
3. a full refresh on both (the aws side through the Python API).

After each step every Silver and Gold table the emulator wrote
(<lake>/_athena_emulated/tables/) must hold the same rows as the local table
in every column except the bookkeeping timestamps (tests/test_lakehouse.py
BOOKKEEPING: when a row was written, not what it holds).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from athena_emulator.emulate import KINDS, STATE_FOLDER, TB, emulated
from flows.demo_app.delivery import Delivery, DeliveryConfig, deliveries
from flows.demo_app.feed import feed
from flows.demo_app.lambda_events import dynamodb_record
from flows.demo_app.workload import WorkloadConfig, generate
from flows.warehouse.lakehouse import PROJECT_DIR, open_lake, run_dbt
from ingestion.settings import Settings
from tests.test_cli import streamlake
from tests.test_lakehouse import BOOKKEEPING, GOLD, SILVER

pytestmark = pytest.mark.slow

LANDED_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
WORKLOAD = WorkloadConfig(
    seed=11,
    customers=15,
    products=8,
    orders=120,
    events=800,
    days=6,
    end=LANDED_AT - timedelta(minutes=5),
    delete_fraction=0.1,
    late_fraction=0.05,
    # Late events of any age: far older than the plan's six days.
    late_days_max=40,
)
SEEDS = ["event_types", "order_statuses"]
# Tables the aws branches of the models build differently; each entry would be
# a bug in dbt_project, not in the emulator. None today.
KNOWN_DIFFERENCES: dict[str, str] = {}
STEPS = ("first", "incremental", "full refresh")
# Crafted orders placed weeks before the plan: each alone in its Gold groups.
EMPTIED, UPDATED = "o-old-emptied", "o-old-updated"


def _old_order(order_id: str, customer_id: str, product_id: str, days_ago: int) -> dict[str, Any]:
    placed = (WORKLOAD.end - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "product_id": product_id,
        "quantity": 2,
        "amount": Decimal("31.50"),
        "status": "placed",
        "created_at": placed,
        "updated_at": placed,
    }


def _crafted(workload: Any) -> tuple[Delivery, Delivery]:
    """The old orders (first step), then one updated and one deleted (second step)."""
    customer = workload.dynamodb["customers"][0]["dynamodb"]["Keys"]["customer_id"]["S"]
    product = workload.dynamodb["products"][0]["dynamodb"]["Keys"]["product_id"]["S"]
    emptied = _old_order(EMPTIED, customer, product, days_ago=30)
    updated = _old_order(UPDATED, customer, product, days_ago=45)
    # Far beyond the workload's sequence numbers: these come after it.
    sequence = 9 * 10**25

    def record(n: int, event: str, new: dict | None, old: dict | None) -> dict[str, Any]:
        order_id = (new or old or {})["order_id"]
        return dynamodb_record(
            table="orders",
            event_name=event,
            keys={"order_id": order_id},
            new_item=new,
            old_item=old,
            sequence_number=str(sequence + n),
            created=LANDED_AT - timedelta(minutes=30),
        )

    first = Delivery(
        "dynamodb_streams",
        "orders",
        {"Records": [record(1, "INSERT", emptied, None), record(2, "INSERT", updated, None)]},
    )
    shipped = {**updated, "status": "shipped", "quantity": 3, "amount": Decimal("47.25")}
    second = Delivery(
        "dynamodb_streams",
        "orders",
        {
            "Records": [
                record(3, "MODIFY", shipped, updated),
                record(4, "REMOVE", None, emptied),
            ]
        },
    )
    return first, second


def _landings() -> list[list[Delivery]]:
    """What lands before the first and the second step."""
    workload = generate(WORKLOAD)
    plan = deliveries(
        workload,
        DeliveryConfig(
            seed=4, dynamodb_batch_size=40, out_of_order_fraction=0.2, duplicate_fraction=0.1
        ),
    )
    first, second = _crafted(workload)
    # Half of each source's batches per step, in plan order (a source of one
    # batch has its records split in two batches): every source gets new Bronze
    # in both, so the scheduled transform (which runs what new Bronze reaches)
    # runs every model's incremental SQL in the second. (Not a redelivery: one
    # that crosses midnight is rightly taken as landed already, and lands nothing.)
    sources = sorted({delivery.source for delivery in plan})
    halves: list[list[Delivery]] = [[], []]
    for source in sources:
        batches = [delivery for delivery in plan if delivery.source == source]
        if len(batches) == 1:
            (batch,) = batches
            records = batch.event["Records"]
            batches = [
                replace(batch, event={**batch.event, "Records": part})
                for part in (records[: len(records) // 2], records[len(records) // 2 :])
            ]
        halves[0] += batches[: len(batches) // 2]
        halves[1] += batches[len(batches) // 2 :]
    # The second step redelivers the first step's crafted batch, as Lambda may.
    return [[*halves[0], first], [*halves[1], first, second]]


@dataclass
class Step:
    local: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
    aws: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
    cli: subprocess.CompletedProcess | None
    runs: list[dict[str, Any]]
    statement_log: str


@dataclass
class Built:
    lake: Path
    steps: dict[str, Step]


def _local_tables(
    settings: Settings, layers: dict[str, list[str]] | None = None
) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Each table of `layers` (layer -> names; the shop's Silver, seeds and Gold by default)
    as (its columns, its rows but the bookkeeping columns, in order)."""
    tables = {}
    with open_lake(settings) as con:
        for layer, names in (layers or {"silver": [*SILVER, *SEEDS], "gold": GOLD}).items():
            for name in names:
                columns = [
                    row[0]
                    for row in con.execute(
                        "select column_name from information_schema.columns "
                        "where table_catalog = 'lake' and table_schema = ? and table_name = ? "
                        "order by ordinal_position",
                        [layer, name],
                    ).fetchall()
                ]
                kept = ", ".join(f'"{c}"' for c in columns if c not in BOOKKEEPING)
                rows = con.execute(f'select {kept} from lake.{layer}."{name}" order by all')
                tables[f"{layer}.{name}"] = (columns, rows.fetchall())
    return tables


def _aws_tables(lake: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """What `emulate-athena` wrote: tables/<layer>/<table>.parquet."""
    tables = {}
    con = duckdb.connect()
    for path in sorted((lake / STATE_FOLDER / "tables").glob("*/*.parquet")):
        relation = con.read_parquet(str(path))
        columns = list(relation.columns)
        kept = ", ".join(f'"{c}"' for c in columns if c not in BOOKKEEPING)
        rows = con.execute(f"select {kept} from read_parquet('{path}') order by all").fetchall()
        tables[f"{path.parent.name}.{path.stem}"] = (columns, rows)
    con.close()
    return tables


def _runs(lake: Path) -> list[dict[str, Any]]:
    path = lake / STATE_FOLDER / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    lake = tmp_path_factory.mktemp("execution") / "lake"
    settings = Settings(lake_root=str(lake))
    steps: dict[str, Step] = {}
    clocks = [lambda: LANDED_AT - timedelta(minutes=30), lambda: LANDED_AT]
    for number, (landing, clock) in enumerate(zip(_landings(), clocks, strict=True)):
        feed(landing, settings, clock=clock)
        if number == 0:
            run_dbt(settings, ["seed", "--quiet"])
            command = "build"
        else:
            command = "transform"
        run_dbt(settings, ["run", "--quiet"])
        cli = streamlake("emulate-athena", command, "--lake-root", str(lake), timeout=900)
        if cli.returncode != 0:
            pytest.fail(f"emulate-athena {command} failed:\n{cli.stdout[-4000:]}{cli.stderr}")
        steps[STEPS[number]] = Step(
            _local_tables(settings),
            _aws_tables(lake),
            cli,
            _runs(lake),
            (lake / STATE_FOLDER / "statements.log").read_text(),
        )
    run_dbt(settings, ["run", "--full-refresh", "--quiet"])
    with emulated(lake) as athena:
        athena.dbt(["run", "--full-refresh"])
    steps["full refresh"] = Step(
        _local_tables(settings),
        _aws_tables(lake),
        None,
        _runs(lake),
        (lake / STATE_FOLDER / "statements.log").read_text(),
    )
    return Built(lake, steps)


TABLES = [f"silver.{n}" for n in [*SILVER, *SEEDS]] + [f"gold.{n}" for n in GOLD]


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize(
    "table",
    [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[name])]
            if name in KNOWN_DIFFERENCES
            else [],
        )
        for name in TABLES
    ],
)
def test_the_aws_build_equals_the_local_build(table: str, step: str, built: Built) -> None:
    local_columns, local_rows = built.steps[step].local[table]
    assert local_rows, f"{table} is empty locally: the plan is too small to compare it"
    assert table in built.steps[step].aws, f"emulate-athena wrote no {table}"
    aws_columns, aws_rows = built.steps[step].aws[table]
    assert sorted(aws_columns) == sorted(local_columns)
    missing = sorted(set(local_rows) - set(aws_rows))[:5]
    extra = sorted(set(aws_rows) - set(local_rows))[:5]
    assert aws_rows == local_rows, (
        f"{table} after the {step} step: {len(local_rows)} rows locally, {len(aws_rows)} "
        f"on aws\nonly local: {missing}\nonly aws: {extra}"
    )


def test_the_workload_holds_what_the_comparison_must_cover(built: Built) -> None:
    """Old orders updated and deleted, a Gold group emptied, events 40 days late:
    without them the equality would not cover the aws branches that handle them."""
    first = built.steps["first"].local
    second = built.steps["incremental"].local
    live = {
        o
        for o, deleted in _values(second, "silver.orders", "order_id", "is_deleted")
        if not deleted
    }
    assert EMPTIED in {o for o, _ in _values(first, "silver.orders", "order_id", "status")}
    assert EMPTIED not in live and UPDATED in live
    assert (UPDATED, "shipped") in _values(second, "silver.orders", "order_id", "status")
    emptied_day = (WORKLOAD.end - timedelta(days=30)).date()
    days = {d for d, _ in _values(first, "gold.daily_sales_by_region", "order_date", "region")}
    after = {d for d, _ in _values(second, "gold.daily_sales_by_region", "order_date", "region")}
    assert emptied_day in days and emptied_day not in after
    event_dates = [d for d, _ in _values(second, "silver.events", "event_date", "event_type")]
    assert min(event_dates) < (WORKLOAD.start - timedelta(days=20)).date()
    # The simulator's customers who move region: MODIFYs of the region.
    changes = generate(WORKLOAD).dynamodb["customers"]
    assert any(r["eventName"] == "MODIFY" for r in changes)


def _values(
    tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]], table: str, *names: str
) -> list[tuple[Any, ...]]:
    columns, rows = tables[table]
    kept = [c for c in columns if c not in BOOKKEEPING]
    return [tuple(row[kept.index(n)] for n in names) for row in rows]


def test_the_incremental_step_merged_into_every_table(built: Built) -> None:
    """What makes the comparison cover the aws target's incremental SQL."""
    log = built.steps["incremental"].statement_log
    merged = set(re.findall(r"SUCCEEDED DML/MERGE_INTO \w+\.(\w+)\n", log))
    assert set(SILVER) | set(GOLD) <= merged
    assert " FAILED " not in log
    full = built.steps["full refresh"].statement_log
    assert "MERGE_INTO" not in full and "CREATE_TABLE_AS_SELECT" in full


def test_emulate_athena_records_every_dbt_invocation(built: Built) -> None:
    runs = built.steps["full refresh"].runs
    assert [run["command"] for run in runs] == [
        "dbt seed",
        "dbt build",
        # The scheduled build: what every source's new Bronze reaches.
        "dbt build --exclude-resource-type unit_test --exclude tag:full_audit --select "
        "source:bronze.customers+ source:bronze.events+ source:bronze.orders+ "
        "source:bronze.products+",
        "dbt run --full-refresh",
    ]
    for run in runs:
        assert set(run) >= {
            "command",
            "statements",
            "statements_by_kind",
            "bytes_scanned",
            "billed_bytes",
            "cost_usd",
            "wall_s",
        }
        assert list(run["statements_by_kind"]) == list(KINDS)
        assert run["statements"] == sum(run["statements_by_kind"].values())
        assert run["succeeded"] and run["wall_s"] > 0
        billed_queries = run["statements"] - run["statements_by_kind"]["DDL"]
        assert run["billed_bytes"] >= billed_queries * 10 * 2**20
        assert run["cost_usd"] == pytest.approx(run["billed_bytes"] / TB * 5, rel=1e-6)
    build, scheduled = runs[1], runs[2]
    # A whole build runs the unit tests (a CTAS and a SELECT each) and every data test.
    assert build["statements_by_kind"]["SELECT"] > 50
    assert scheduled["statements_by_kind"]["MERGE"] >= len(SILVER) + len(GOLD)
    assert scheduled["bytes_scanned"] > 0


def test_emulate_athena_reports_in_a_few_lines(built: Built) -> None:
    first, second = built.steps["first"].cli, built.steps["incremental"].cli
    assert first is not None and second is not None
    assert "dbt against the Athena emulator" in first.stdout
    assert "Gold tables" in first.stdout and "a month" not in first.stdout
    # The scheduled run's monthly cost at the transform's cadence.
    assert re.search(r"run every 300 s .* \$[\d,.]+\s+a month", second.stdout.replace("\n", " "))
    assert "new since the last call" in second.stdout


def _project_copy(tmp_path: Path, plant: tuple[str, str, str] | None = None) -> Path:
    """A copy of the dbt project; `plant` (model file, text, replacement) edits a model."""
    project = tmp_path / "project"
    shutil.copytree(
        PROJECT_DIR / "dbt_project",
        project / "dbt_project",
        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
    )
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    if plant is not None:
        relative, text, replacement = plant
        model = project / "dbt_project" / "models" / relative
        assert text in model.read_text()
        model.write_text(model.read_text().replace(text, replacement))
    return project


def _emulate_build(
    built: Built, tmp_path: Path, select: str, sources: tuple[str, ...], project: Path
) -> subprocess.CompletedProcess[str]:
    """`emulate-athena build --select` on a lake of these sources' Bronze alone:
    the emulator uploads all it is given."""
    lake = tmp_path / "lake"
    for source in sources:
        shutil.copytree(built.lake / "bronze" / source, lake / "bronze" / source)
    return streamlake(
        "emulate-athena",
        "build",
        "--lake-root",
        str(lake),
        "--project-dir",
        str(project),
        "--select",
        select,
        timeout=900,
    )


def test_a_planted_dialect_error_fails_emulate_athena_build(built: Built, tmp_path: Path) -> None:
    """A DuckDB-only cast in a model fails the aws build with one line: the model,
    then Athena's own words."""
    # `x::varchar` is DuckDB's (and Postgres's) cast; Trino has no such operator.
    project = _project_copy(
        tmp_path,
        (
            "silver/customers.sql",
            "select\n    customer_id,\n",
            "select\n    customer_id::varchar as customer_id,\n",
        ),
    )
    # The model and what it reads: the failure needs nothing else built.
    result = _emulate_build(built, tmp_path, "+customers", ("customers",), project)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    error = result.stderr.strip()
    assert error.startswith(
        "error: dbt build --select +customers --indirect-selection buildable failed on the "
        "Athena emulator: model customers: SYNTAX_ERROR: line "
    ), error
    # Trino's lexer has no `::` token: the grammar stops at its first colon.
    assert "mismatched input ':'" in error, error
    assert len(error.splitlines()) == 1


def test_a_planted_error_in_a_gold_model_names_it(built: Built, tmp_path: Path) -> None:
    """The same in a Gold model with unit tests: dbt build runs a model's unit
    tests first, so the line names the model's unit test (or the model), then
    Athena's SYNTAX_ERROR."""
    project = _project_copy(
        tmp_path,
        (
            "gold/shop/daily_sales_by_region.sql",
            "count(distinct live_orders.customer_id) as unique_customers,",
            "count(distinct live_orders.customer_id)::bigint as unique_customers,",
        ),
    )
    result = _emulate_build(
        built, tmp_path, "+daily_sales_by_region", ("customers", "orders", "products"), project
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1, error
    assert re.search(
        r"failed on the Athena emulator: (unit test|model) daily_sales_by_region\b[^:]*: "
        r"SYNTAX_ERROR: line \d+:\d+: mismatched input ':'",
        error,
    ), error


def test_a_selection_builds_without_the_tests_of_unselected_tables(
    built: Built, tmp_path: Path
) -> None:
    """`--select +customers` on a fresh state, with only customers' Bronze: the
    model, its parents and their tests build; a singular test that also reads
    other Silver tables (silver_keys_exist_in_bronze) is not run, as dbt's
    default (eager) indirect selection would, failing on tables never built."""
    result = _emulate_build(built, tmp_path, "+customers", ("customers",), _project_copy(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    log = (tmp_path / "lake" / STATE_FOLDER / "statements.log").read_text()
    assert "silver_keys_exist_in_bronze" not in log
    assert re.search(r"SUCCEEDED DDL/CREATE_TABLE_AS_SELECT \w+\.customers\n", log), log[-2000:]


def test_an_earlier_emulators_state_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """An emulator state from before Iceberg tables were DuckLake tables cannot
    be carried over: the command says so and what to run, and changes nothing."""
    (tmp_path / "lake" / "bronze").mkdir(parents=True)
    state = tmp_path / "lake" / STATE_FOLDER
    state.mkdir()
    (state / "iceberg.duckdb").write_bytes(b"an earlier emulator's tables")
    result = streamlake("emulate-athena", "transform", "--lake-root", str(tmp_path / "lake"))
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr
    error = " ".join(result.stderr.split())
    assert "holds an earlier emulator's Iceberg tables (iceberg.duckdb)" in error, error
    assert "streamlake emulate-athena build" in error
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in state.iterdir()) == ["iceberg.duckdb"]
