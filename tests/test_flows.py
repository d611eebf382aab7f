"""The Prefect flows, run for real against a Prefect test server and DuckLake.

One lake is built through the transform flow with two transforms triggered at
once; it must equal a lake built by one plain `dbt build` over the same Bronze.
The same lake then goes through maintenance, an export of every format, a
backfill and the alerts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import boto3
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from flows.alerts import AlertRule, evaluate, load_rules, notify, record
from flows.demo_app.slices import land_slice
from flows.export import ExportRequest, _to_s3, export_path, export_query, run_export
from flows.maintenance import warehouse_files
from flows.prefect_server import free_port
from flows.warehouse.gold_queries import LocalWarehouse
from flows.warehouse.lakehouse import PROJECT_DIR, open_lake, run_dbt
from flows.warehouse.writer_lock import WriterBusy, catalog_writer
from ingestion.landing import BatchIdentity, land_batch
from ingestion.schemas import EVENTS
from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.reliability_faults import fault
from tests.test_lakehouse import snapshot

pytestmark = pytest.mark.slow

SLICE_EVENTS, SLICE_ORDERS = 1_500, 120
# Both lakes get the very same application: slice times pinned, not "now".
SLICE_END = datetime.now(UTC).replace(second=0, microsecond=0)


def _land(settings: Settings, *slices: int) -> None:
    store = LakeStore.from_settings(settings)
    for index in slices:
        land_slice(settings, store, index, SLICE_EVENTS, SLICE_ORDERS, SLICE_END)


def _streamlake(
    settings: Settings, api_url: str, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen:
    port = api_url.rsplit(":", maxsplit=1)[-1].split("/", maxsplit=1)[0]
    env = {
        **os.environ,
        "STREAMLAKE_LAKE_ROOT": settings.lake_root,
        "STREAMLAKE_PREFECT_PORT": port,
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **(extra_env or {}),
    }
    command = [str(Path(sys.executable).with_name("streamlake")), *args]
    return subprocess.Popen(
        command, env=env, cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Settings:
    """Slices 0 and 1 built by one plain dbt build."""
    settings = Settings(lake_root=str(tmp_path_factory.mktemp("reference") / "lake"))
    _land(settings, 0, 1)
    run_dbt(settings, ["build", "--quiet"])
    return settings


@pytest.fixture(scope="module")
def served(prefect_api, tmp_path_factory, monkeypatch_module) -> Settings:
    """Slice 0 under two transforms triggered at once, then slice 1 and a transform."""
    settings = Settings(lake_root=str(tmp_path_factory.mktemp("served") / "lake"))
    monkeypatch_module.setenv("STREAMLAKE_LAKE_ROOT", settings.lake_root)
    # As on the aws target: a transform builds what new Bronze reaches (the first,
    # everything; the one that waited for it, nothing).
    monkeypatch_module.setenv("STREAMLAKE_TRANSFORM_CHANGED_SOURCES_ONLY", "true")
    _land(settings, 0)
    first, second = (_streamlake(settings, prefect_api, "transform") for _ in range(2))
    outputs = [p.communicate(timeout=600)[0].decode() for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], "\n".join(outputs)
    assert any("waiting for the catalog writer" in out for out in outputs), outputs
    assert sorted("nothing to build" in out for out in outputs) == [False, True], outputs
    _land(settings, 1)
    from flows.transform import transform

    environment = dict(os.environ)
    report = transform(if_busy="wait")
    assert dict(os.environ) == environment, "a transform must leave the environment as it was"
    assert report.status == "succeeded"
    assert report.rows_changed["events"] == SLICE_EVENTS  # slice 1's events, nothing more
    return settings


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@fault(
    "two transforms triggered at once (two `streamlake transform` processes)",
    "one waits for the writer lock, saying for whom; Silver and Gold equal one plain build's",
)
def test_overlapping_transforms_leave_what_one_build_leaves(served, reference) -> None:
    assert snapshot(served) == snapshot(reference)


def test_the_transform_run_shows_its_dbt_task_node_lines_and_report(served) -> None:
    """What the Prefect UI shows of a transform: one task per dbt invocation (not
    one per node), dbt's line for each node in the run's log, and the report."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)
    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["transform"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
        this_run = FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        tasks = client.read_task_runs(flow_run_filter=this_run)
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        (report,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["transform-report"])),
            flow_run_filter=this_run,
        )
    assert [t.name.rsplit("-", 1)[0] for t in tasks] == ["dbt build"]
    assert all(t.state is not None and t.state.is_completed() for t in tasks)
    messages = "\n".join(log.message for log in logs)
    # One result line per node, e.g. "3 of 118 OK created sql incremental model silver.events".
    assert re.search(r"\d+ of \d+ OK created sql incremental model silver\.events\b", messages)
    assert re.search(
        r"\d+ of \d+ PASS not_null_columns_events_event_id__user_id__event_time\b", messages
    ), messages[-2000:]
    assert "Task run None" not in messages
    assert "| events | success |" in report.data


def test_maintenance_merges_files_expires_snapshots_and_changes_no_row(served) -> None:
    from flows.maintenance import maintenance

    before = snapshot(served, keep_bookkeeping=True)
    with open_lake(served) as con:
        (snapshots,) = con.execute("select count(*) from lake.snapshots()").fetchone()
    files = warehouse_files(served)

    report = maintenance(retention_hours=0)

    assert report.tables.snapshots_before == snapshots
    assert report.tables.snapshots_after < snapshots
    assert report.tables.data_files_after < files == report.tables.data_files_before
    assert warehouse_files(served) == report.tables.data_files_after
    assert snapshot(served, keep_bookkeeping=True) == before
    assert sum(report.quarantined.values()) >= 0


def test_bronze_compaction_keeps_every_row_and_recovers_when_interrupted(tmp_path) -> None:
    from flows.bronze_compaction import closed_days, compact_day

    settings = Settings(lake_root=str(tmp_path / "lake"))
    store = LakeStore.from_settings(settings)
    old_day = datetime.now(UTC) - timedelta(days=3)
    for batch in range(6):
        rows = _events(batch * 10, 10)
        identity = BatchIdentity.of("events", "shard-0", rows.column("sequence_number"))
        land_batch(store, identity, rows, _no_rows(), old_day, "zstd")
    # A file landed yesterday stays: a retry crossing midnight may still look for it.
    yesterday = datetime.now(UTC) - timedelta(days=1)
    rows = _events(100, 5)
    identity = BatchIdentity.of("events", "shard-0", rows.column("sequence_number"))
    land_batch(store, identity, rows, _no_rows(), yesterday, "zstd")

    def bronze_rows() -> list[tuple]:
        table = pq.read_table(store.local_path("bronze/events"))
        return sorted(table.drop_columns(["dt"]).to_pylist(), key=lambda r: r["event_id"])

    before = bronze_rows()
    day = old_day.date().isoformat()
    assert closed_days(store, "events", datetime.now(UTC).date()) == [day]

    result = compact_day(store, "events", day, "zstd")
    assert (result.files_before, result.files_after, result.rows) == (6, 1, 60)
    assert bronze_rows() == before
    assert closed_days(store, "events", datetime.now(UTC).date()) == []

    # A run killed after writing its compacted file leaves the members behind:
    # the next run deletes them, and no row is counted twice afterwards.
    compacted = store.list_files(f"bronze/events/dt={day}")[0]
    member = f"bronze/events/dt={day}/shard-0-0-9.parquet"
    old = pq.read_table(store.local_path(compacted)).slice(0, 10)
    pq.write_table(old.replace_schema_metadata(None), store.local_path(member))
    recovered = compact_day(store, "events", day, "zstd")
    assert recovered.recovered == 1
    assert bronze_rows() == before


def _events(first: int, count: int) -> pa.Table:
    now = datetime.now(UTC)
    columns = {
        "event_id": [f"evt-{first + n}" for n in range(count)],
        "event_type": ["page_view"] * count,
        "user_id": ["c-1"] * count,
        "event_time": [now] * count,
        "stream": ["events"] * count,
        "shard_id": ["shard-0"] * count,
        "sequence_number": [str(first + n) for n in range(count)],
        "ingestion_time": [now] * count,
    }
    return pa.table(
        {f.name: pa.array(columns.get(f.name, [None] * count), f.type) for f in EVENTS},
        schema=EVENTS,
    )


def _no_rows() -> pa.Table:
    from ingestion.schemas import QUARANTINE

    return QUARANTINE.empty_table()


def test_a_scheduled_transform_builds_only_what_new_bronze_reaches(
    served, prefect_api, tmp_path
) -> None:
    """With transform_changed_sources_only (the aws target's default): nothing new,
    no dbt; new events only, the models downstream of events only. (The last test
    of the served lake: it lands more events there.)

    As the runner on ECS does, the command reports to the Prefect API that
    PREFECT_API_URL names (here the test server under another name) and starts
    no local server (none answers on the local port it would have used)."""
    elsewhere = prefect_api.replace("127.0.0.1", "localhost")
    assert elsewhere != prefect_api
    env = {
        "PREFECT_API_URL": elsewhere,
        "STREAMLAKE_PREFECT_PORT": str(free_port()),
        "STREAMLAKE_PREFECT_HOME": str(tmp_path / "prefect"),
    }

    def transform_output() -> str:
        process = _streamlake(served, prefect_api, "transform", extra_env=env)
        output = process.communicate(timeout=600)[0].decode()
        assert process.returncode == 0, output
        return output

    idle = transform_output()
    assert f"flows report to the Prefect API at {elsewhere}" in idle
    assert "started the Prefect server" not in idle
    assert not (tmp_path / "prefect").exists()
    assert "nothing to build" in idle
    assert "streamlake-transform-finished" in idle  # the runner's alarm counts these
    assert "dbt build" not in idle.split("nothing to build", 1)[1]

    store = LakeStore.from_settings(served)
    rows = _events(700_000, 5)
    identity = BatchIdentity.of("events", "events-shard", rows.column("sequence_number"))
    land_batch(store, identity, rows, _no_rows(), datetime.now(UTC), "zstd")
    events_only = transform_output()
    assert "new Bronze in events" in events_only
    assert "streamlake-transform-finished" in events_only
    assert "incremental model silver.events" in events_only
    assert "incremental model gold.funnel_daily" in events_only
    assert "silver.orders" not in events_only and "daily_sales_by_region" not in events_only
    with open_lake(served) as con:
        landed = con.execute(
            "select count(*) from lake.silver.events where event_id like 'evt-7000%'"
        ).fetchone()[0]
    assert landed == 5


@pytest.mark.parametrize("export_format", ["csv", "json", "parquet"])
def test_each_export_format_round_trips(reference, export_format) -> None:
    with open_lake(reference) as con:
        region, last_day = con.execute(
            "select region, max(order_date) from lake.gold.daily_sales_by_region "
            "group by region order by count(*) desc limit 1"
        ).fetchone()
        expected = con.execute(
            "select * from lake.gold.daily_sales_by_region "
            "where region = ? and order_date <= ? order by all",
            [region, last_day],
        ).to_arrow_table()
    assert expected.num_rows > 0
    request = ExportRequest(
        model="daily_sales_by_region",
        format=export_format,
        filters=(("region", region),),
        time_column="order_date",
        end=last_day,
        file_name=f"sales.{export_format}",
    )
    result = run_export(request, reference)
    path = Path(result.location)
    assert path == Path(reference.lake_root).resolve() / "exports" / f"sales.{export_format}"
    if export_format == "parquet":
        got = pq.read_table(path)
    elif export_format == "csv":
        got = pacsv.read_csv(path)
    else:
        lines = path.read_text().splitlines()
        got = pa.Table.from_pylist([json.loads(line) for line in lines])
    assert result.rows == got.num_rows == expected.num_rows
    got_rows = sorted(tuple(str(v) for v in row.values()) for row in got.to_pylist())
    want_rows = sorted(tuple(str(v) for v in row.values()) for row in expected.to_pylist())
    if export_format == "parquet":
        assert got_rows == want_rows
    else:  # text formats: same values, numbers and dates as text
        assert [row[:2] for row in got_rows] == [row[:2] for row in want_rows]
        assert {len(row) for row in got_rows} == {len(expected.column_names)}


def test_an_export_flow_run_writes_under_exports(prefect_api, reference, monkeypatch) -> None:
    from flows.export import export

    monkeypatch.setenv("STREAMLAKE_LAKE_ROOT", reference.lake_root)
    result = export(model="key_metrics", format="json", file_name="metrics.json")
    assert result.rows == 5
    assert Path(result.location).parent.name == "exports"


def test_export_refuses_injection_and_paths_outside_exports(reference) -> None:
    warehouse = LocalWarehouse(reference)
    hostile = ExportRequest(
        model="daily_sales_by_region", filters=(("region", "x' or '1'='1"),), file_name="h.csv"
    )
    sql, parameters = export_query(hostile, reference, warehouse)
    assert "x' or" not in sql and parameters == ["x' or '1'='1"]
    assert run_export(hostile, reference).rows == 0  # bound as a value, it matches nothing

    refused = [
        ExportRequest(model="daily_sales_by_region; drop table lake.gold.key_metrics"),
        ExportRequest(model="daily_sales_by_region", filters=(("region = region --", "x"),)),
        ExportRequest(model="daily_sales_by_region", time_column="1=1", start=date(2026, 1, 1)),
        ExportRequest(model="daily_sales_by_region", file_name="../../etc/passwd.csv"),
        ExportRequest(model="daily_sales_by_region", file_name="/tmp/out.csv"),
        ExportRequest(model="daily_sales_by_region", file_name="sub/out.csv"),
        ExportRequest(model="daily_sales_by_region", format="xlsx"),
    ]
    for request in refused:
        with pytest.raises(ValueError):
            export_path(request)
            export_query(request, reference, warehouse)
    with open_lake(reference) as con:
        (metrics,) = con.execute("select count(*) from lake.gold.key_metrics").fetchone()
    assert metrics == 5
    assert not (Path(reference.lake_root).parent / "etc").exists()


def test_export_to_s3_is_encrypted_with_a_link_that_expires_within_the_hour() -> None:
    settings = Settings(lake_root="s3://streamlake-exports-test/lake", target="aws")
    with mock_aws():
        s3 = boto3.client("s3", region_name=settings.aws_region)
        s3.create_bucket(Bucket="streamlake-exports-test")
        result = _to_s3(settings, "exports/sales.csv", b"a,b\n1,2\n", 1)
        head = s3.head_object(Bucket="streamlake-exports-test", Key="lake/exports/sales.csv")
    assert result.location == "s3://streamlake-exports-test/lake/exports/sales.csv"
    assert head["ServerSideEncryption"] == "aws:kms"
    assert "X-Amz-Expires=3600" in result.url


def test_a_backfill_picks_up_bronze_the_watermark_passed_by(prefect_api, reference, monkeypatch):
    """A file whose rows were stamped before the last run's watermark is missed by
    the incremental read; reprocessing its date brings it in, and only it."""
    from flows.backfill import backfill

    monkeypatch.setenv("STREAMLAKE_LAKE_ROOT", reference.lake_root)
    store = LakeStore.from_settings(reference)
    stamped = datetime.now(UTC) - timedelta(hours=1)
    rows = _events(900_000, 7).set_column(
        EVENTS.get_field_index("ingestion_time"),
        EVENTS.field("ingestion_time"),
        pa.array([stamped] * 7, EVENTS.field("ingestion_time").type),
    )
    identity = BatchIdentity.of("events", "late-shard", rows.column("sequence_number"))
    land_batch(store, identity, rows, _no_rows(), stamped, "zstd")
    run_dbt(reference, ["build", "--quiet", "--select", "silver.events"])

    def late_events() -> int:
        with open_lake(reference) as con:
            return con.execute(
                "select count(*) from lake.silver.events where event_id like 'evt-9000%'"
            ).fetchone()[0]

    assert late_events() == 0
    before = snapshot(reference)
    assert backfill(start=stamped.date()) == 1
    assert late_events() == 7
    after = snapshot(reference)
    assert len(after["silver.events"]) == len(before["silver.events"]) + 7
    assert after["silver.orders"] == before["silver.orders"]


def test_backfill_refuses_bad_ranges(prefect_api) -> None:
    from flows.backfill import backfill_days

    with pytest.raises(ValueError, match="after it ends"):
        backfill_days(date(2026, 11, 2), date(2026, 11, 1))
    with pytest.raises(ValueError, match="at most"):
        backfill_days(date(2024, 1, 1), date(2026, 1, 1))
    assert len(backfill_days(date(2026, 2, 27), date(2026, 3, 2))) == 4


class _Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Webhook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _crafted_gold(tmp_path: Path, revenue: float) -> Settings:
    """A lake whose Gold holds only the key metrics we write into it."""
    settings = Settings(lake_root=str(tmp_path / "lake"))
    catalog = Path(settings.lake_root) / "catalog"
    catalog.mkdir(parents=True)
    from flows.warehouse.duckdb_connect import connect

    con = connect(extension_dir=settings.duckdb_extension_dir)
    con.execute(
        f"attach 'ducklake:{catalog}/streamlake.ducklake' as lake "
        f"(data_path '{Path(settings.lake_root).resolve()}/warehouse')"
    )
    con.execute("create schema lake.gold")
    con.execute(
        "create table lake.gold.key_metrics as select * from (values "
        "('revenue_30d', ?::double, 30, now()::timestamp), "
        "('orders_30d', 12.0, 30, now()::timestamp)) "
        "as t(metric_name, metric_value, window_days, _processed_at)",
        [revenue],
    )
    con.close()
    return settings


REVENUE_RULE = AlertRule(
    name="revenue_30d_low",
    model="key_metrics",
    value="metric_value",
    aggregate="sum",
    where={"metric_name": "revenue_30d"},
    condition="below",
    threshold=1000,
    severity="critical",
)


def test_an_alert_fires_on_crafted_data_and_stays_quiet_otherwise(tmp_path) -> None:
    quiet = _crafted_gold(tmp_path / "quiet", revenue=5_000)
    [result] = evaluate([REVENUE_RULE], LocalWarehouse(quiet), quiet)
    assert (result.observed, result.firing) == (5_000, False)

    loud = _crafted_gold(tmp_path / "loud", revenue=250)
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = loud.model_copy(
        update={"alert_webhook_url": f"http://127.0.0.1:{server.server_port}/hook"}
    )
    warehouse = LocalWarehouse(settings)
    [result] = evaluate([REVENUE_RULE], warehouse, settings)
    assert (result.observed, result.firing) == (250, True)
    record([result], warehouse)
    notify([result], settings)
    server.shutdown()
    with open_lake(settings) as con:
        recorded = con.execute(
            "select rule_name, severity, observed, threshold from lake.ops.alert_events"
        ).fetchall()
    assert recorded == [("revenue_30d_low", "critical", 250.0, 1000.0)]
    [payload] = _Webhook.received
    assert payload["alerts"][0]["rule"] == "revenue_30d_low"


def test_the_shipped_rules_load_and_name_real_gold_columns(reference) -> None:
    rules = load_rules(PROJECT_DIR / "flows" / "alert_rules.yml")
    assert {r.name for r in rules} >= {"revenue_30d_low", "quarantine_growing"}
    results = evaluate(rules, LocalWarehouse(reference), reference)
    assert len(results) == len(rules)
    assert all(isinstance(r.observed, float) for r in results)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{name: x, model: key_metrics}]", "value"),
        (
            "rules:\n  - {name: Bad Name, model: m, value: v, condition: above, threshold: 1}",
            "name",
        ),
        (
            "rules:\n  - {name: a, model: m, value: v, condition: sideways, threshold: 1}",
            "condition",
        ),
        ("rules: [", "not valid YAML"),
        (
            "rules:\n  - {name: a, model: m, value: v, condition: above, threshold: 1,"
            " time_column: d}",
            "go together",
        ),
    ],
)
def test_bad_rule_files_get_a_clear_error(tmp_path, text, message) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_rules(path)


def test_a_rule_naming_an_unknown_column_is_refused(reference) -> None:
    bad = REVENUE_RULE.model_copy(update={"value": "metric_value_typo"})
    with pytest.raises(ValueError, match="no value column 'metric_value_typo'"):
        evaluate([bad], LocalWarehouse(reference), reference)


def test_a_rule_of_a_gold_model_the_project_lacks_is_skipped_and_said(reference) -> None:
    """An application brought in place of the demo shop keeps the shop's rules until the
    user deletes them: they are skipped with a line, the others still evaluated."""
    gone = REVENUE_RULE.model_copy(update={"name": "refunds_high", "model": "refunds"})
    said: list[str] = []
    results = evaluate(
        [gone, REVENUE_RULE], LocalWarehouse(reference), reference, on_skipped=said.append
    )
    assert [r.rule.name for r in results] == ["revenue_30d_low"]
    assert said == [
        "alert rule refunds_high reads the Gold model refunds, which the project does not "
        "have: skipped (delete it from flows/alert_rules.yml)"
    ]


def test_the_writer_lock_refuses_a_second_writer_and_frees_on_death(tmp_path) -> None:
    settings = Settings(lake_root=str(tmp_path / "lake"))
    with (
        catalog_writer(settings, "transform"),
        pytest.raises(WriterBusy, match="transform"),
        catalog_writer(settings, "maintenance", wait_seconds=0.2),
    ):
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from flows.warehouse.writer_lock import catalog_writer\n"
            "from ingestion.settings import Settings\n"
            f"with catalog_writer(Settings(lake_root={settings.lake_root!r}), 'backfill'):\n"
            "    print('held', flush=True); time.sleep(60)\n",
        ],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
    )
    assert holder.stdout.readline().strip() == b"held"
    with (
        pytest.raises(WriterBusy, match="backfill"),
        catalog_writer(settings, "transform", wait_seconds=0),
    ):
        pass
    holder.kill()
    holder.wait()
    with catalog_writer(settings, "transform", wait_seconds=5):
        pass  # the kernel released the dead holder's lock


def test_retries_cover_transient_failures_only(monkeypatch) -> None:
    from flows import transform as transform_module
    from flows.warehouse.dbt_invocation import (
        DbtInvocation,
        DbtTestsFailed,
        DbtTransientError,
        NodeResult,
    )

    def failing(kind: str, message: str) -> DbtInvocation:
        node = NodeResult("x.y", "orders", kind, "fail" if kind == "test" else "error", 0, message)
        return DbtInvocation(["build"], False, 0.1, [node])

    ok = DbtInvocation(["build"], True, 0.1, [])
    throttled = failing("model", "ThrottlingException: Rate exceeded")
    test_failed = failing("test", "Got 3 results, configured to fail if != 0")
    with pytest.raises(DbtTransientError):
        throttled.raise_for_failure()
    with pytest.raises(DbtTestsFailed):
        test_failed.raise_for_failure()

    calls: list[int] = []

    def fake_invoke(settings, args, sequence):
        calls.append(1)
        return sequence[len(calls) - 1]

    monkeypatch.setattr(transform_module.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(
        transform_module, "get_run_logger", lambda: __import__("logging").getLogger()
    )
    for sequence, attempts in (([throttled, throttled, ok], 3), ([test_failed, ok], 1)):
        calls.clear()
        monkeypatch.setattr(
            transform_module, "invoke_dbt", lambda s, a, scope, seq=sequence: fake_invoke(s, a, seq)
        )
        invocation, used = transform_module.build_with_retries(Settings(), ["build"])
        assert (used, len(calls), invocation) == (attempts, attempts, sequence[attempts - 1])


def test_deployments_and_their_schedules_come_from_the_settings() -> None:
    from flows.deployments import deployments

    local = {d.name: d for d in deployments(Settings(transform_interval_seconds=60))}
    assert set(local) == {"transform", "maintenance", "backfill", "export", "ingest"}
    assert local["transform"].schedules[0].schedule.interval == timedelta(seconds=60)
    assert local["maintenance"].schedules[0].schedule.cron == "0 3 * * *"
    assert local["transform"].parameters == {"if_busy": "skip"}
    aws = {d.name for d in deployments(Settings(target="aws", lake_root="s3://b/l"))}
    assert "ingest" not in aws

    # A served flow run loads its flow from the file, with flows/ on sys.path: every
    # entrypoint must load that way (a module of ours once hid a PyPI package).
    entrypoints = [d.entrypoint for d in local.values()]
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from prefect.flows import load_flow_from_entrypoint\n"
            "for entrypoint in sys.argv[1:]:\n"
            "    print(load_flow_from_entrypoint(entrypoint).name)\n",
            *entrypoints,
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert set(loaded.stdout.split()) == set(local)


def test_ingest_carries_on_where_it_left_off(prefect_api, tmp_path, monkeypatch) -> None:
    from flows.ingest import ingest

    monkeypatch.setenv("STREAMLAKE_LAKE_ROOT", str(tmp_path / "lake"))
    first = ingest(duration_seconds=0, interval_seconds=0, events_per_batch=50, orders_per_batch=3)
    second = ingest(duration_seconds=0, interval_seconds=0, events_per_batch=50, orders_per_batch=3)
    assert (first.next_slice, second.next_slice) == (1, 2)
    events = pq.read_table(tmp_path / "lake" / "bronze" / "events")
    assert events.num_rows == 100
    assert len(set(events.column("sequence_number").to_pylist())) == 100


def test_the_lake_root_option_reaches_the_flow(prefect_api, reference, tmp_path) -> None:
    """`--lake-root` wins over STREAMLAKE_LAKE_ROOT inside the flow run, not only in the CLI."""
    elsewhere = Settings(lake_root=str(tmp_path / "elsewhere"))
    process = _streamlake(
        elsewhere,
        prefect_api,
        "export",
        "key_metrics",
        "--lake-root",
        reference.lake_root,
        "--format",
        "json",
        "--file-name",
        "via-option.json",
    )
    output = process.communicate(timeout=300)[0].decode()
    assert process.returncode == 0, output[-3000:]
    assert (
        len((Path(reference.lake_root) / "exports" / "via-option.json").read_text().splitlines())
        == 5
    )
    assert not (tmp_path / "elsewhere").exists()
