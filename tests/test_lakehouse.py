"""The lakehouse end to end, through the real handlers and dbt on DuckLake.

The key property: building incrementally over many small runs gives exactly
the Silver and Gold of one build over the same Bronze, and redelivered batches
change nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pytest

from flows.demo_app.delivery import Delivery, DeliveryConfig, deliveries
from flows.demo_app.feed import feed
from flows.demo_app.lambda_events import kinesis_record
from flows.demo_app.workload import WorkloadConfig, generate
from flows.inventory import inventory
from flows.warehouse.lakehouse import (
    PROJECT_DIR,
    dbt_environment,
    dbt_target_path,
    open_lake,
    run_dbt,
)
from flows.warehouse.manifest import layer_models
from ingestion.invocation import utc_now
from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.conftest import SEQUENCE_BASE, event_payload, read_area
from tests.test_dbt_worker import dbt_worker_for

pytestmark = pytest.mark.slow

WORKLOAD = WorkloadConfig(
    seed=21,
    customers=40,
    products=15,
    orders=400,
    events=4_000,
    days=12,
    end=datetime.now(UTC).replace(second=0, microsecond=0),
    delete_fraction=0.08,
    late_fraction=0.05,
)
# Columns that say when a row was written, not what it holds.
BOOKKEEPING = {
    "_processed_at",
    "_first_processed_at",
    "_ingested_at",
    "previous_order_date",
    "previous_region",
}
# Every Silver and Gold model of the project, from its manifest (the platform's
# pipeline_health and data_quality aside: they count what the others hold).
SILVER = layer_models("silver")
GOLD = layer_models("gold")


def snapshot(settings: Settings, keep_bookkeeping: bool = False) -> dict[str, list[tuple]]:
    tables = {}
    with open_lake(settings) as con:
        for layer, names in (("silver", SILVER), ("gold", GOLD)):
            for name in names:
                columns = [
                    row[0]
                    for row in con.execute(
                        "select column_name from information_schema.columns "
                        "where table_catalog = 'lake' and table_schema = ? and table_name = ? "
                        "order by ordinal_position",
                        [layer, name],
                    ).fetchall()
                    if keep_bookkeeping or row[0] not in BOOKKEEPING
                ]
                query = f'select {", ".join(columns)} from lake.{layer}."{name}" order by all'
                tables[f"{layer}.{name}"] = con.execute(query).fetchall()
    return tables


@pytest.fixture(scope="module")
def plan():
    workload = generate(WORKLOAD)
    return deliveries(
        workload,
        DeliveryConfig(
            seed=5,
            kinesis_batch_size=500,
            dynamodb_batch_size=60,
            out_of_order_fraction=0.2,
            duplicate_fraction=0.1,
            malformed_fraction=0.01,
        ),
    )


@pytest.fixture(scope="module")
def built_in_one_go(plan, tmp_path_factory) -> Settings:
    settings = Settings(lake_root=str(tmp_path_factory.mktemp("once") / "lake"))
    feed(plan, settings)
    run_dbt(settings, ["build", "--quiet"])
    return settings


@pytest.fixture(scope="module")
def built_in_steps(plan, tmp_path_factory) -> Settings:
    """The plan landed and built in three steps, the first two days ago (so
    Bronze spans two dt partitions, as a running pipeline's does). The
    incremental steps run in a dbt worker for the lake, on its parse of the
    project (flows/warehouse/dbt_worker.py), so that the equality tests below hold for
    that path too."""
    settings = Settings(lake_root=str(tmp_path_factory.mktemp("steps") / "lake"))
    steps = 3
    size = -(-len(plan) // steps)
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    feed(plan[:size], settings, clock=lambda: two_days_ago)
    run_dbt(settings, ["build", "--quiet"])
    with dbt_worker_for(settings) as served:
        for start in range(size, len(plan), size):
            feed(plan[start : start + size], settings)
            run_dbt(settings, ["build", "--quiet"])
    assert len(served) == steps - 1
    assert all("the worker's parse" in line for line in served), served
    return settings


def test_incremental_runs_equal_one_full_build(built_in_one_go, built_in_steps) -> None:
    once, steps = snapshot(built_in_one_go), snapshot(built_in_steps)
    for table in once:
        assert steps[table] == once[table], f"{table} differs between step-wise and one-go builds"
    assert len(once["gold.daily_sales_by_region"]) > 10
    assert any(row for row in once["silver.orders"] if True in row), "some orders are tombstones"


def test_every_table_model_declares_exactly_the_columns_it_builds(built_in_one_go) -> None:
    # The aws target's incremental runs merge the columns a model's YAML declares
    # (dbt_project/macros/materializations/incremental_athena.sql): a column the
    # query builds but the YAML leaves out would never reach the Athena table.
    manifest = json.loads((dbt_target_path(built_in_one_go) / "manifest.json").read_text())
    models = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
    ]
    assert len(models) == len(SILVER) + len(GOLD) + 2  # with data_quality, pipeline_health
    with open_lake(built_in_one_go) as con:
        for node in models:
            built = [
                row[0]
                for row in con.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = ? and table_name = ? order by ordinal_position",
                    [node["schema"], node["alias"]],
                ).fetchall()
            ]
            assert built, f"{node['name']} was not built"
            assert list(node["columns"]) == built, f"{node['name']}: YAML columns != built"


def test_a_full_refresh_gives_the_same_tables(built_in_steps) -> None:
    before = snapshot(built_in_steps)
    run_dbt(built_in_steps, ["build", "--quiet", "--full-refresh"])
    assert snapshot(built_in_steps) == before


def test_redelivery_and_a_rerun_change_nothing(plan, built_in_one_go) -> None:
    before = snapshot(built_in_one_go, keep_bookkeeping=True)
    feed(plan[: len(plan) // 2], built_in_one_go)  # Lambda delivers half the batches again
    run_dbt(built_in_one_go, ["build", "--quiet"])
    run_dbt(built_in_one_go, ["build", "--quiet"])  # and a run with nothing new
    after = snapshot(built_in_one_go, keep_bookkeeping=True)
    for table in before:
        assert after[table] == before[table], f"{table} changed"


def test_deletes_and_late_changes_reach_gold(built_in_one_go, tmp_path: Path) -> None:
    with open_lake(built_in_one_go) as con:
        deleted = con.execute(
            "select count(*) from lake.silver.orders where is_deleted"
        ).fetchone()[0]
        # Revenue: live orders whose status counts as revenue (the order_statuses seed).
        live_revenue = con.execute(
            "select sum(orders.amount) from lake.silver.orders as orders "
            "inner join lake.silver.order_statuses as statuses "
            "on orders.status = statuses.status and statuses.counts_as_revenue "
            "where not orders.is_deleted"
        ).fetchone()[0]
        gold_revenue = con.execute(
            "select sum(total_revenue) from lake.gold.daily_sales_by_region"
        ).fetchone()[0]
        oldest_event_day = con.execute(
            "select min(event_date) from lake.gold.top_events"
        ).fetchone()[0]
    assert deleted > 0
    assert gold_revenue == live_revenue
    assert oldest_event_day < WORKLOAD.start.date(), "late events are counted in their own old days"


def test_a_scheduled_run_tests_only_the_rows_it_changed(built_in_one_go) -> None:
    from flows.transform import SCHEDULED_BUILD, SCHEDULED_TEST_SCOPE
    from flows.warehouse.lakehouse import dbt_target_path

    compiled_test = (
        dbt_target_path(built_in_one_go)
        / "run/streamlake/dbt_project/models/silver"
        / "orders.yml/unique_orders_order_id.sql"
    )
    audit = dbt_target_path(built_in_one_go) / "run/streamlake/dbt_project/tests"
    shutil.rmtree(audit, ignore_errors=True)
    scheduled = [*SCHEDULED_BUILD, "--quiet", "--select", "orders"]
    run_dbt(built_in_one_go, scheduled, SCHEDULED_TEST_SCOPE)
    assert "_processed_at >= timestamp" in compiled_test.read_text()
    assert not audit.exists(), "a scheduled run leaves the whole-table audits out"

    run_dbt(built_in_one_go, ["build", "--quiet", "--select", "orders"])  # a full audit
    assert "_processed_at" not in compiled_test.read_text()


def _view_changes_after(settings: Settings, snapshot_id: int) -> list[dict]:
    with open_lake(settings) as con:
        changes = con.execute(
            "select changes from lake.snapshots() where snapshot_id > ?", [snapshot_id]
        ).fetchall()
    return [change for (change,) in changes if any("view" in kind for kind in change)]


def test_staging_views_are_replaced_only_when_their_definition_changes(built_in_one_go) -> None:
    views = ["run", "--quiet", "--select", "config.materialized:view"]
    with open_lake(built_in_one_go) as con:
        latest = con.execute("select max(snapshot_id) from lake.snapshots()").fetchone()[0]
        rows = con.execute("select count(*) from lake.bronze.stg_events").fetchone()[0]
    run_dbt(built_in_one_go, views)
    assert _view_changes_after(built_in_one_go, latest) == [], "unchanged views were replaced"

    # A view whose recorded definition is not the project's (an older release of it).
    with open_lake(built_in_one_go, read_only=False) as con:
        con.execute("comment on view lake.bronze.stg_events is 'an older definition'")
        latest = con.execute("select max(snapshot_id) from lake.snapshots()").fetchone()[0]
    run_dbt(built_in_one_go, views)
    assert len(_view_changes_after(built_in_one_go, latest)) == 1, "only stg_events is replaced"
    with open_lake(built_in_one_go) as con:
        assert con.execute("select count(*) from lake.bronze.stg_events").fetchone()[0] == rows
        comment = con.execute(
            "select comment from duckdb_views() where view_name = 'stg_events'"
        ).fetchone()[0]
    assert comment.startswith("streamlake view definition ")


@pytest.fixture(scope="module")
def half_built(plan, tmp_path_factory) -> Settings:
    """A lake built from the first half of the plan, for tests that change it."""
    settings = Settings(lake_root=str(tmp_path_factory.mktemp("half") / "lake"))
    feed(plan[: len(plan) // 2], settings)
    run_dbt(settings, ["seed", "--quiet"])  # orders_enriched reads order_statuses
    run_dbt(settings, ["run", "--quiet", "--select", "+daily_sales_by_region"])
    return settings


def test_an_incremental_run_adds_the_models_new_columns(plan, half_built) -> None:
    # The table as an older release of the model built it, without `amount`.
    with open_lake(half_built, read_only=False) as con:
        con.execute("alter table lake.silver.orders drop column amount")
    feed(plan[len(plan) // 2 :], half_built)
    run_dbt(half_built, ["run", "--quiet", "--select", "orders"])
    with open_lake(half_built) as con:
        amount_type = con.execute(
            "select data_type from information_schema.columns where table_catalog = 'lake' "
            "and table_schema = 'silver' and table_name = 'orders' and column_name = 'amount'"
        ).fetchone()
        merged, with_amount = con.execute(
            "select count(*), count(amount) from lake.silver.orders "
            "where _processed_at = (select max(_processed_at) from lake.silver.orders)"
        ).fetchone()
    assert amount_type == ("DECIMAL(18,2)",)
    assert merged > 0
    assert with_amount > 0, "the rows this run merged carry the new column"


def test_an_incremental_run_holds_a_gold_model_to_its_contract(half_built, tmp_path) -> None:
    # A release whose daily_sales_by_region gives order_count as text.
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / "dbt_project", project / "dbt_project")
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    model = project / "dbt_project/models/gold/shop/daily_sales_by_region.sql"
    counted = "count(live_orders.order_id) as order_count"
    assert counted in model.read_text()
    model.write_text(
        model.read_text().replace(
            counted, "cast(count(live_orders.order_id) as varchar) as order_count"
        )
    )
    with open_lake(half_built) as con:
        before = con.execute(
            "select * from lake.gold.daily_sales_by_region order by all"
        ).fetchall()

    dbt = str(Path(sys.executable).with_name("dbt"))
    completed = subprocess.run(
        [
            dbt,
            "run",
            "--select",
            "daily_sales_by_region",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
        ],
        env={**os.environ, **dbt_environment(half_built)},
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode != 0
    assert "contract" in completed.stdout and "order_count" in completed.stdout
    with open_lake(half_built) as con:
        after = con.execute("select * from lake.gold.daily_sales_by_region order by all").fetchall()
    assert after == before


def test_pipeline_health_counts_what_bronze_holds(built_in_steps) -> None:
    """Rows and files landed come from the Bronze footers and the newest
    ingestion time from the newest day's partition: checked against the files."""
    store = LakeStore.from_settings(built_in_steps)
    landed = [entry for entry in inventory(store) if entry.area == "bronze"]
    assert [len(entry.days) for entry in landed if entry.source == "events"] == [2]
    expected = {}
    for entry in landed:
        stamps = read_area(store, "bronze", entry.source).column("ingestion_time")
        newest = pc.max(stamps).as_py().replace(tzinfo=None)
        expected[entry.source] = (entry.rows, entry.files, newest)
    with open_lake(built_in_steps) as con:
        found = con.execute(
            "select bronze_source, rows_landed, files_landed, newest_ingestion_time "
            "from lake.gold.pipeline_health"
        ).fetchall()
    assert {source: tuple(figures) for source, *figures in found} == expected


def _land_session_events(
    settings: Settings, first: int, events: list[tuple[str, str, str]]
) -> None:
    """Land (session_id, event_type, event_time) events through the Kinesis
    handler, on a shard of their own so that no simulated batch's file is
    rewritten."""
    shard = "shardId-000000000077"
    records = [
        kinesis_record(
            json.dumps(
                event_payload(
                    n,
                    event_id=f"evt-funnel-{n:03d}",
                    session_id=session_id,
                    event_type=event_type,
                    event_time=event_time,
                )
            ).encode(),
            stream="events",
            shard_id=shard,
            sequence_number=str(SEQUENCE_BASE + 10**40 + n * 10),
            partition_key=session_id,
            arrival=utc_now(),
        )
        for n, (session_id, event_type, event_time) in enumerate(events, start=first)
    ]
    feed([Delivery("kinesis", "events", {"Records": records})], settings)


def _funnel_daily(settings: Settings) -> list[tuple]:
    with open_lake(settings) as con:
        return con.execute(
            "select * exclude (_processed_at) from lake.gold.funnel_daily order by event_date"
        ).fetchall()


def _sessions_in_june_2025(rows: list[tuple]) -> list[tuple]:
    """Day and sessions per step of the rows of the test's own days."""
    return [row[:5] for row in rows if row[0].year == 2025]


def test_late_events_move_a_funnel_to_the_right_day(built_in_one_go) -> None:
    """Late events that complete a session's funnel, or move its entry to the
    day before, update the session's funnel day (not the late event's) and
    remove a day left without sessions: the increments give exactly the
    funnel_daily of one build over the same events. Days long before the
    workload's, so that the sessions below are theirs alone."""
    just_funnel = ["run", "--quiet", "--select", "events", "funnel_daily"]
    _land_session_events(
        built_in_one_go,
        0,
        [
            ("s-completed-late", "product_view", "2025-06-10T23:55:00.000Z"),
            ("s-completed-late", "add_to_cart", "2025-06-10T23:58:00.000Z"),
            ("s-completed-late", "checkout_start", "2025-06-11T00:02:00.000Z"),
            ("s-entered-earlier", "product_view", "2025-06-12T00:10:00.000Z"),
            ("s-entered-earlier", "add_to_cart", "2025-06-12T00:20:00.000Z"),
            ("s-untouched", "product_view", "2025-06-14T10:00:00.000Z"),
        ],
    )
    run_dbt(built_in_one_go, just_funnel)
    assert _sessions_in_june_2025(_funnel_daily(built_in_one_go)) == [
        (date(2025, 6, 10), 1, 1, 1, 0),
        (date(2025, 6, 12), 1, 1, 0, 0),
        (date(2025, 6, 14), 1, 0, 0, 0),
    ]

    _land_session_events(
        built_in_one_go,
        100,
        [
            # the purchase happens on the 11th; the session entered on the 10th
            ("s-completed-late", "purchase", "2025-06-11T00:05:00.000Z"),
            # an earlier view: the session entered on the 11th, and the 12th is left empty
            ("s-entered-earlier", "product_view", "2025-06-11T23:50:00.000Z"),
        ],
    )
    run_dbt(built_in_one_go, just_funnel)
    incremental = _funnel_daily(built_in_one_go)
    assert _sessions_in_june_2025(incremental) == [
        (date(2025, 6, 10), 1, 1, 1, 1),
        (date(2025, 6, 11), 1, 1, 0, 0),
        (date(2025, 6, 14), 1, 0, 0, 0),
    ]

    run_dbt(built_in_one_go, ["run", "--quiet", "--select", "funnel_daily", "--full-refresh"])
    assert _funnel_daily(built_in_one_go) == incremental
