"""What a scheduled build selects: the sources with Bronze its last build did not see."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from flows.bronze_changes import BuildRecord, BuildSelection, landed_files, selection
from flows.bronze_check import bronze_files
from flows.demo_app.slices import land_slice
from flows.warehouse.lakehouse import (
    PROJECT_DIR,
    dbt_environment,
    environment_set,
    new_bronze_files_environment,
    open_lake,
    run_dbt,
)
from ingestion.landing import BatchIdentity, land_batch
from ingestion.schemas import EVENTS, QUARANTINE
from ingestion.settings import Settings
from ingestion.store import LakeStore

TODAY = date(2026, 12, 2)


@pytest.fixture
def store(tmp_path) -> LakeStore:
    return LakeStore.from_settings(Settings(lake_root=str(tmp_path / "lake")))


def _put(store: LakeStore, path: str, data: bytes = b"PAR1") -> None:
    store.write_atomic(path, data)


def _listing(store: LakeStore) -> dict[str, str]:
    return landed_files(store, bronze_files(store))


def test_a_first_build_takes_everything_and_a_second_with_nothing_new_takes_nothing(store):
    _put(store, "bronze/events/dt=2026-12-02/s-1-9.parquet")
    first = selection(None, _listing(store), TODAY)
    assert first.everything and first.dbt_args() == []
    record = BuildRecord(_listing(store), TODAY.isoformat())
    again = selection(record, _listing(store), TODAY)
    assert again.is_empty and again.dbt_args() == []
    assert again.describe() == "no new Bronze since the last build: nothing to build"


def test_new_and_rewritten_files_select_their_sources(store):
    _put(store, "bronze/events/dt=2026-12-02/s-1-9.parquet")
    _put(store, "bronze/orders/dt=2026-12-02/s-1-9.parquet")
    record = BuildRecord(_listing(store), TODAY.isoformat())
    _put(store, "bronze/events/dt=2026-12-02/s-10-19.parquet")  # a new batch
    _put(store, "bronze/orders/dt=2026-12-02/s-1-9.parquet", b"PAR1 rewritten")  # redelivered
    _put(store, "quarantine/events/dt=2026-12-02/s-1-9.parquet")  # counts, is no Bronze file
    chosen = selection(record, _listing(store), TODAY)
    assert chosen.sources == ("events", "orders", "quarantine") and not chosen.new_day
    assert chosen.dbt_args() == [
        "--select",
        "source:bronze.events+",
        "source:bronze.orders+",
        "source:bronze.quarantine+",
    ]
    # What the Silver merges read locally: the Bronze files that build did not see.
    assert chosen.new_files == (
        "bronze/events/dt=2026-12-02/s-10-19.parquet",
        "bronze/orders/dt=2026-12-02/s-1-9.parquet",
    )


def test_quarantine_files_count_but_files_moved_aside_and_hidden_ones_do_not(store):
    record = BuildRecord(_listing(store), TODAY.isoformat())
    _put(store, "quarantine/events/_unreadable/dt=2026-12-02/s-1-9.parquet.ab12.unreadable")
    _put(store, "bronze/events/dt=2026-12-02/.s-1-9.parquet.tmp")  # a handler's file in the making
    assert selection(record, _listing(store), TODAY).is_empty
    _put(store, "quarantine/orders/dt=2026-12-02/s-1-9.parquet")
    assert selection(record, _listing(store), TODAY).sources == ("quarantine",)


def test_the_first_run_of_a_day_rolls_the_date_relative_models(store):
    record = BuildRecord(_listing(store), "2026-12-01")
    chosen = selection(record, _listing(store), TODAY)
    assert chosen.new_day and not chosen.sources
    assert chosen.dbt_args() == ["--select", "tag:rolls_daily+"]


def test_the_record_round_trips_and_a_damaged_one_means_everything(store):
    _put(store, "bronze/events/dt=2026-12-02/s-1-9.parquet")
    path = "_state/scheduled_build_aws.json"
    assert BuildRecord.load(store, path) is None
    BuildRecord(_listing(store), TODAY.isoformat()).save(store, path)
    assert BuildRecord.load(store, path) == BuildRecord(_listing(store), TODAY.isoformat())
    _put(store, path, b"{not json")
    assert BuildRecord.load(store, path) is None


def test_the_selectors_name_the_projects_sources_and_tag(tmp_path):
    """dbt resolves what BuildSelection asks for: events reach Silver events and
    the event Gold models, not the orders; the tag reaches key_metrics and what
    reads it."""
    args = BuildSelection(("events",), new_day=True).dbt_args()
    settings = Settings(lake_root=str(tmp_path / "lake"))
    env = {**os.environ, **dbt_environment(settings), "DBT_TARGET_PATH": str(tmp_path / "target")}
    command = ["ls", "--quiet", "--resource-type", "model", *args]
    listed = subprocess.run(
        [sys.executable, "-m", "flows.warehouse.dbt_command", *command],
        check=False,
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    models = {line.rsplit(".", 1)[-1] for line in listed.stdout.split()}
    assert {"events", "funnel_daily", "key_metrics", "metric_trends"} <= models
    assert not {"orders", "customers", "daily_sales_by_region"} & models


@pytest.mark.slow
def test_silver_reads_only_the_bronze_files_a_scheduled_build_names(tmp_path):
    """Locally a scheduled build names the Bronze files its last build did not see
    (lakehouse.new_bronze_files_environment): Silver events reads those and no
    other, though another file's rows lie within its watermark's lookback; a
    build that names none reads by the watermark alone."""
    settings = Settings(lake_root=str(tmp_path / "lake"))
    store = LakeStore.from_settings(settings)
    land_slice(settings, store, 0, 200, 10)
    run_dbt(settings, ["run", "--quiet", "--select", "+events"])
    named = _events_file(store, "named-", 0)
    _events_file(store, "unnamed-", 10)  # landed as well, not named

    with environment_set(new_bronze_files_environment([named])):
        run_dbt(settings, ["run", "--quiet", "--select", "events"])
    assert _silver_event_ids(settings) == {"named-"}
    run_dbt(settings, ["run", "--quiet", "--select", "events"])
    assert _silver_event_ids(settings) == {"named-", "unnamed-"}


def _events_file(store: LakeStore, prefix: str, first: int) -> str:
    """A batch of three events landed now; its lake-relative path."""
    now = datetime.now(UTC)
    values = {
        "event_id": [f"{prefix}{n}" for n in range(3)],
        "event_type": ["page_view"] * 3,
        "user_id": ["c-1"] * 3,
        "event_time": [now] * 3,
        "stream": ["events"] * 3,
        "shard_id": [f"{prefix}shard"] * 3,
        "sequence_number": [str(10**30 + first + n) for n in range(3)],
        "ingestion_time": [now] * 3,
    }
    rows = pa.table(
        {f.name: pa.array(values.get(f.name, [None] * 3), f.type) for f in EVENTS}, schema=EVENTS
    )
    identity = BatchIdentity.of("events", f"{prefix}shard", rows.column("sequence_number"))
    before = set(store.list_files("bronze/events", ".parquet"))
    land_batch(store, identity, rows, QUARANTINE.empty_table(), now, "zstd")
    (path,) = set(store.list_files("bronze/events", ".parquet")) - before
    return path


def _silver_event_ids(settings: Settings) -> set[str]:
    """The prefixes of this test's events in Silver."""
    with open_lake(settings) as con:
        rows = con.execute(
            "select distinct split_part(event_id, '-', 1) || '-' from lake.silver.events "
            "where event_id like 'named-%' or event_id like 'unnamed-%'"
        ).fetchall()
    return {prefix for (prefix,) in rows}
