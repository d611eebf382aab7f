"""What a scheduled build selects: the sources with Bronze its last build did not see."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest

from flows.bronze_changes import BuildRecord, BuildSelection, landed_files, selection
from flows.bronze_check import bronze_files
from flows.warehouse.lakehouse import PROJECT_DIR, dbt_environment
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
    chosen = selection(record, _listing(store), TODAY)
    assert chosen.sources == ("events", "orders") and not chosen.new_day
    assert chosen.dbt_args() == ["--select", "source:bronze.events+", "source:bronze.orders+"]


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
