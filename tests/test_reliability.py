"""Reliability under faults: a faulted lake must end equal to a clean one.

Two lakes receive the very same application (slice times pinned): the
reference lands everything and builds once; the faulted lake goes through one
run after another with a fault injected at each step, by killing real
processes (dbt, Bronze compaction, DuckLake upkeep) where they hurt most. Its
final Silver and Gold, and its Bronze rows, must equal the reference's.

Every fault test is declared with `@fault(...)`; the "Reliability" table of
docs/reliability.md is generated from these declarations (tests/reliability_faults.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from flows.bronze_check import check_bronze, problem, quarantined_files
from flows.demo_app.delivery import DeliveryConfig, deliveries
from flows.demo_app.feed import FeedReport, feed
from flows.demo_app.lambda_events import dynamodb_record, kinesis_record
from flows.demo_app.slices import land_slice, slice_workload
from flows.demo_app.workload import DYNAMODB_SEQUENCE_BASE, ORDER_FLOW, generate
from flows.warehouse.duckdb_connect import connect
from flows.warehouse.lakehouse import PROJECT_DIR, catalog_path, dbt_environment, open_lake, run_dbt
from flows.warehouse.writer_lock import catalog_writer
from ingestion import dynamodb_streams, kinesis
from ingestion.landing import to_parquet_bytes
from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.conftest import event_payload, read_area
from tests.reliability_faults import fault
from tests.test_lakehouse import snapshot

pytestmark = pytest.mark.slow

SLICE_EVENTS, SLICE_ORDERS = 1_500, 120
SLICE_END = datetime.now(UTC).replace(second=0, microsecond=0)
# A "today" far enough ahead that every landed day counts as closed for compaction.
FUTURE = (SLICE_END + timedelta(days=30)).date().isoformat()
LATE_SHARD = "shardId-000000000007"
LATE_EVENTS = 25
EXTRA_SEQUENCE = 90_000_000  # above every slice's sequence space


# --- the input: slices through the handlers, plus changes across runs -------------------


def _orders_inserted_once(store: LakeStore) -> list[dict[str, Any]]:
    """Slice 0's orders that were inserted and never changed, as their images."""
    table = read_area(store, "bronze", "orders")
    assert table is not None
    changes = Counter(table.column("keys").to_pylist())
    images = [
        json.loads(row["new_image"], parse_float=Decimal)
        for row in table.select(["keys", "event_name", "new_image"]).to_pylist()
        if row["event_name"] == "INSERT" and changes[row["keys"]] == 1
    ]
    return sorted(images, key=lambda image: image["order_id"])[:8]


def _order_change(
    event_name: str, new: dict | None, old: dict | None, sequence: int
) -> dict[str, Any]:
    image = new or old
    assert image is not None
    return dynamodb_record(
        table="orders",
        event_name=event_name,
        keys={"order_id": image["order_id"]},
        new_item=new,
        old_item=old,
        sequence_number=str(DYNAMODB_SEQUENCE_BASE + (EXTRA_SEQUENCE + sequence) * 100),
        created=SLICE_END,
    )


def changes_across_runs(store: LakeStore) -> tuple[list[dict], list[dict]]:
    """Versions of slice 0's orders for two later runs: updates, then deletes and updates."""
    orders = _orders_inserted_once(store)
    assert len(orders) == 8
    paid = [{**o, "status": ORDER_FLOW[1]} for o in orders[:6]]
    shipped = [{**o, "status": ORDER_FLOW[2]} for o in paid[3:6]]
    first = [
        _order_change("MODIFY", new, old, i)
        for i, (new, old) in enumerate(zip(paid, orders[:6], strict=True))
    ]
    second = [_order_change("REMOVE", None, old, 10 + i) for i, old in enumerate(paid[:3])]
    second += [
        _order_change("MODIFY", new, old, 20 + i)
        for i, (new, old) in enumerate(zip(shipped, paid[3:6], strict=True))
    ]
    second += [_order_change("REMOVE", None, old, 30 + i) for i, old in enumerate(orders[6:8])]
    return first, second


def weeks_old_events() -> list[dict[str, Any]]:
    records = []
    for n in range(LATE_EVENTS):
        when = SLICE_END - timedelta(days=14 + n % 14, hours=n)
        payload = event_payload(
            n, event_id=f"late-{n:04d}", event_time=when.isoformat().replace("+00:00", "Z")
        )
        records.append(
            kinesis_record(
                json.dumps(payload).encode(),
                stream="events",
                shard_id=LATE_SHARD,
                sequence_number=str(10**40 + n),
                partition_key=payload["user_id"],
                arrival=SLICE_END,
            )
        )
    return records


def land_records(settings: Settings, store: LakeStore, kind: str, records: list[dict]) -> None:
    if kind == "orders":
        response = dynamodb_streams.handler({"Records": records}, None, settings=settings)
    else:
        response = kinesis.handler({"Records": records}, None, settings=settings, store=store)
    assert not (response or {}).get("batchItemFailures"), response


@dataclass(frozen=True)
class FlakyStore(LakeStore):
    """An object store that refuses every fifth Bronze write, as S3 does on a bad day."""

    writes: list[str] = field(default_factory=list)

    def write_atomic(self, relative: str, data: bytes | pa.Buffer) -> None:
        self.writes.append(relative)
        if relative.startswith("bronze/") and len(self.writes) % 5 == 2:
            raise OSError("injected: the object store refused the write")
        super().write_atomic(relative, data)


def land_badly(settings: Settings, store: LakeStore, index: int) -> FeedReport:
    """Slice `index` in small batches, some delivered twice or swapped, through a flaky store."""
    workload = generate(slice_workload(index, SLICE_EVENTS, SLICE_ORDERS, SLICE_END))
    delivery = DeliveryConfig(
        seed=index,
        kinesis_batch_size=200,
        dynamodb_batch_size=25,
        duplicate_fraction=0.3,
        out_of_order_fraction=0.3,
    )
    flaky = FlakyStore(store.filesystem, store.base, store.uri)
    report = feed(deliveries(workload, delivery), settings, store=flaky)
    assert not report.unlanded_batches, report.unlanded_batches
    return report


def land(
    settings: Settings, store: LakeStore, step: int, extra: tuple[list, list], badly: bool = False
) -> FeedReport | None:
    """Step 0: slice 0. Step 1: updates of slice 0's orders. Step 2: slice 1, deletes, late events.

    `badly`: slice 1 arrives redelivered, out of order and through a store failing writes.
    """
    report = None
    if step == 0:
        land_slice(settings, store, 0, SLICE_EVENTS, SLICE_ORDERS, SLICE_END)
    elif step == 1:
        land_records(settings, store, "orders", extra[0])
    else:
        if badly:
            report = land_badly(settings, store, 1)
        else:
            land_slice(settings, store, 1, SLICE_EVENTS, SLICE_ORDERS, SLICE_END)
        land_records(settings, store, "orders", extra[1])
        land_records(settings, store, "events", weeks_old_events())
    return report


# --- killing real processes -----------------------------------------------------------------


def dbt_killed_at(settings: Settings, args: list[str], pattern: str) -> list[str]:
    """Run dbt and SIGKILL it as soon as a line of its log matches; the lines it printed."""
    command = [str(Path(sys.executable).with_name("dbt")), *args]
    command += ["--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    process = subprocess.Popen(
        command,
        env={**os.environ, **dbt_environment(settings)},
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if re.search(pattern, line):
            process.kill()
            break
    process.wait(timeout=60)
    assert process.returncode == -9, "dbt finished before the kill point:\n" + "".join(lines)
    return lines


def python_killed(script: str, lake_root: str) -> subprocess.CompletedProcess:
    """Run `script` in a fresh interpreter that SIGKILLs itself where the script says."""
    prelude = "import os, signal\ndef die():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script)],
        env={**os.environ, "STREAMLAKE_LAKE_ROOT": lake_root},
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


COMPACTION_KILLED_AFTER_DELETES = """
    from ingestion.settings import Settings
    from ingestion.store import LakeStore
    from flows.bronze_compaction import closed_days, compact_day, sources
    from datetime import date

    deletes = 0
    real_delete = LakeStore.delete
    def delete(self, path):
        global deletes
        if deletes >= {kill_after}:
            die()  # the compacted file is written; its members are not all gone
        deletes += 1
        real_delete(self, path)
    LakeStore.delete = delete
    store = LakeStore.from_settings(Settings())
    for source in sources(store):
        for day in closed_days(store, source, date.fromisoformat("{today}")):
            compact_day(store, source, day, "zstd")
"""

UPKEEP_KILLED_AFTER = """
    from contextlib import contextmanager
    import flows.maintenance as maintenance
    from ingestion.settings import Settings

    real_open = maintenance.open_lake
    class Dying:
        def __init__(self, con):
            self.con = con
        def execute(self, sql, *args):
            result = self.con.execute(sql, *args)
            if "{statement}" in sql:
                die()
            return result
    @contextmanager
    def open_lake(settings, read_only=True):
        with real_open(settings, read_only) as con:
            yield Dying(con)
    maintenance.open_lake = open_lake
    maintenance.ducklake_upkeep(Settings(), 0)
"""


# --- bad Bronze files ------------------------------------------------------------------------


def write_bad_files(store: LakeStore) -> dict[str, str]:
    """A truncated file, a garbage file and a file missing a required column: path -> reason."""
    events = store.list_files("bronze/events", ".parquet")
    day_folder = events[-1].rsplit("/", 1)[0]
    good = store.read_bytes(events[-1])
    truncated = f"{day_folder}/shardId-000000000099-1-2.parquet"
    store.write_atomic(truncated, good[: len(good) // 2])
    orders_day = store.list_files("bronze/orders", ".parquet")[-1].rsplit("/", 1)[0]
    garbage = f"{orders_day}/shardId-000000000099-1-2.parquet"
    store.write_atomic(garbage, b"PAR1" + os.urandom(3_000))
    orders = pq.read_table(store.local_path(store.list_files("bronze/orders", ".parquet")[0]))
    no_keys = f"{orders_day}/shardId-000000000099-3-4.parquet"
    store.write_atomic(no_keys, to_parquet_bytes(orders.drop_columns(["keys"]), "zstd"))
    return {
        truncated: "unreadable Parquet",
        garbage: "unreadable Parquet",
        no_keys: "required column 'keys' missing",
    }


def bronze_rows(store: LakeStore) -> dict[str, Counter]:
    """Each Bronze source's rows by identity, with how often each appears."""
    identity = {"events": ["event_id", "sequence_number"]}
    rows = {}
    for source in ("customers", "products", "orders", "events"):
        table = read_area(store, "bronze", source)
        assert table is not None
        columns = identity.get(source, ["sequence_number"])
        rows[source] = Counter(zip(*(table.column(c).to_pylist() for c in columns), strict=True))
    return rows


# --- the two lakes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Settings:
    settings = Settings(lake_root=str(tmp_path_factory.mktemp("clean") / "lake"))
    store = LakeStore.from_settings(settings)
    land(settings, store, 0, ([], []))
    extra = changes_across_runs(store)
    land(settings, store, 1, extra)
    land(settings, store, 2, extra)
    run_dbt(settings, ["build", "--quiet"])
    return settings


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def faulted(prefect_api, reference, tmp_path_factory, monkeypatch_module) -> dict[str, Any]:
    """The same input as the reference, with a fault at every step; what each step left."""
    from flows.maintenance import maintenance
    from flows.transform import transform

    settings = Settings(lake_root=str(tmp_path_factory.mktemp("faulted") / "lake"))
    monkeypatch_module.setenv("STREAMLAKE_LAKE_ROOT", settings.lake_root)
    store = LakeStore.from_settings(settings)
    seen: dict[str, Any] = {}

    # Run 1: landed, then the process dies before any transform; then a dbt
    # build killed as soon as the first Silver model is written.
    land(settings, store, 0, ([], []))
    extra = changes_across_runs(store)
    seen["extra"] = extra
    seen["silver_log"] = dbt_killed_at(
        settings, ["build"], r"OK created sql \w+ model \w*silver\w*\."
    )
    # Run 2: updates of run 1's orders land; Silver builds, the run dies before Gold.
    land(settings, store, 1, extra)
    run_dbt(
        settings,
        ["build", "--quiet", "--select", "bronze", "silver", "--indirect-selection", "cautious"],
    )
    with open_lake(settings) as con:
        seen["gold_tables_before_gold"] = con.execute(
            "select count(*) from information_schema.tables "
            "where table_catalog = 'lake' and table_schema = 'gold'"
        ).fetchone()[0]
    # Run 3: deletes and late events land; a Bronze compaction dies mid-way.
    seen["bad_delivery"] = land(settings, store, 2, extra, badly=True)
    seen["bronze_before_compaction"] = bronze_rows(store)
    killed = python_killed(
        COMPACTION_KILLED_AFTER_DELETES.format(kill_after=1, today=FUTURE), settings.lake_root
    )
    assert killed.returncode == -9, killed.stderr
    seen["bronze_after_killed_compaction"] = bronze_rows(store)
    seen["bad_files"] = write_bad_files(store)
    # A transform triggered while maintenance holds the lock skips and changes nothing.
    files_before = store.list_files("bronze")
    with catalog_writer(settings, "maintenance"):
        seen["transform_during_maintenance"] = transform(if_busy="skip").status
    seen["skipped_transform_left_bronze_alone"] = store.list_files("bronze") == files_before
    # The next transform: bad files quarantined, duplicates of the killed compaction absorbed.
    report = transform(if_busy="wait")
    seen["transform_status"] = report.status
    seen["after_transform"] = snapshot(settings)
    seen["quarantined"] = quarantined_files(store)
    # Maintenance's DuckLake upkeep dies between expiring snapshots and deleting files;
    # the next maintenance finishes both it and the compaction.
    for statement in ("ducklake_merge_adjacent_files", "ducklake_expire_snapshots"):
        killed = python_killed(UPKEEP_KILLED_AFTER.format(statement=statement), settings.lake_root)
        assert killed.returncode == -9, killed.stderr
        seen.setdefault("after_killed_upkeep", []).append(snapshot(settings))
    seen["maintenance"] = maintenance(retention_hours=0, today=FUTURE)
    run_dbt(settings, ["build", "--quiet"])
    seen["final"] = snapshot(settings)
    seen["bronze_final"] = bronze_rows(store)
    seen["settings"] = settings
    return seen


# --- the faults ------------------------------------------------------------------------------


@fault(
    "process killed after landing, before any transform; then a dbt build killed (SIGKILL) "
    "right after its first Silver model was written",
    "the next runs build Silver and Gold equal to a clean build",
)
def test_killed_after_landing_and_during_the_silver_build(faulted, reference) -> None:
    assert any("silver" in line for line in faulted["silver_log"])
    assert faulted["final"] == snapshot(reference)


@fault(
    "a run's batches delivered twice, out of order, in small pieces, through an object store "
    "refusing every fifth write (partial-batch retries)",
    "Silver and Gold equal a clean build's; nothing lost or counted twice",
)
def test_redelivered_reordered_batches_through_a_failing_store(faulted, reference) -> None:
    report = faulted["bad_delivery"]
    assert report.redeliveries > 0 and report.out_of_order > 0 and report.retries > 0
    assert faulted["final"] == snapshot(reference)


@fault(
    "killed between Silver and Gold (Silver built, Gold not)",
    "the next run builds Gold from Silver; nothing lost or counted twice",
)
def test_killed_between_silver_and_gold(faulted, reference) -> None:
    assert faulted["gold_tables_before_gold"] < 10, "gold was not supposed to be built yet"
    assert faulted["after_transform"] == snapshot(reference)


@fault(
    "Bronze compaction killed (SIGKILL) after writing the compacted file, before deleting "
    "all its members",
    "a transform in between counts no row twice; the next maintenance finishes the deletes",
)
def test_killed_during_bronze_compaction(faulted, reference) -> None:
    before = faulted["bronze_before_compaction"]
    interrupted = faulted["bronze_after_killed_compaction"]
    assert any(interrupted[s] != before[s] for s in before), "the kill left duplicates in Bronze"
    assert faulted["after_transform"] == snapshot(reference)
    assert sum(c.recovered for c in faulted["maintenance"].compactions) > 0
    assert faulted["bronze_final"] == before, "every Bronze row exactly once after recovery"


@fault(
    "maintenance killed (SIGKILL) after merging files, and again after expiring snapshots "
    "before deleting old files",
    "no row changes meanwhile; the next maintenance completes",
)
def test_killed_during_maintenance(faulted, reference) -> None:
    clean = snapshot(reference)
    assert all(tables == clean for tables in faulted["after_killed_upkeep"])
    assert faulted["maintenance"].tables is not None
    assert faulted["final"] == snapshot(reference)


@fault(
    "transform triggered while maintenance holds the writer lock",
    "the transform skips, saying so, and touches nothing; the next one runs",
)
def test_transform_during_maintenance_skips(faulted) -> None:
    assert faulted["transform_during_maintenance"] == "skipped"
    assert faulted["skipped_transform_left_bronze_alone"], "not even the Bronze check ran"
    assert faulted["transform_status"] == "succeeded"


@fault(
    "a truncated, a garbage and a wrong-schema Parquet file in Bronze",
    "each moved to `quarantine/<source>/_unreadable/` with its reason; the rest builds",
)
def test_bad_bronze_files_are_quarantined_and_the_rest_builds(faulted, reference) -> None:
    store = LakeStore.from_settings(faulted["settings"])
    quarantined = {q.bronze_path: q for q in faulted["quarantined"]}
    assert set(quarantined) == set(faulted["bad_files"])
    for path, reason in faulted["bad_files"].items():
        entry = quarantined[path]
        assert entry.reason.startswith(reason), entry.reason
        assert not store.exists(path)
        assert store.exists(entry.quarantine_path), "the original bytes are kept"
        assert entry.size_bytes == len(store.read_bytes(entry.quarantine_path))
    assert faulted["after_transform"] == snapshot(reference)


@fault(
    "versions of one key split across runs; deletes of items created in earlier runs; "
    "events two to four weeks late",
    "Silver holds the latest version or a tombstone; Gold counts the late days",
)
def test_changes_across_runs_and_late_events(faulted) -> None:
    first, second = faulted["extra"]
    ids = {r["eventName"]: set() for r in second}
    for record in second:
        ids[record["eventName"]].add(record["dynamodb"]["Keys"]["order_id"]["S"])
    with open_lake(faulted["settings"]) as con:
        orders = dict(
            con.execute(
                "select order_id, case when is_deleted then 'deleted' else status end "
                "from lake.silver.orders"
            ).fetchall()
        )
        late = con.execute(
            "select count(*) from lake.silver.events where event_id like 'late-%'"
        ).fetchone()[0]
        oldest = con.execute("select min(event_date) from lake.gold.top_events").fetchone()[0]
    assert len(first) == 6 and len(ids["REMOVE"]) == 5 and len(ids["MODIFY"]) == 3
    assert {orders[i] for i in ids["REMOVE"]} == {"deleted"}
    assert {orders[i] for i in ids["MODIFY"]} == {ORDER_FLOW[2]}
    assert late == LATE_EVENTS
    assert oldest <= (SLICE_END - timedelta(days=14)).date()


# --- Bronze compaction killed anywhere (no dbt) --------------------------------------------


@fault(
    "Bronze compaction killed after any number of its member deletes (hypothesis)",
    "the next compaction leaves every Bronze row exactly once",
)
@hypothesis_settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kill_after=st.integers(0, 4))  # five members: killed before the last delete
def test_compaction_killed_after_any_delete_recovers(tmp_path, kill_after: int) -> None:
    from flows.bronze_compaction import compact_day

    settings = Settings(lake_root=str(tmp_path / f"lake-{kill_after}-{os.urandom(4).hex()}"))
    store = LakeStore.from_settings(settings)
    events = weeks_old_events()
    for start in range(0, LATE_EVENTS, 5):  # five batch files in one day
        land_records(settings, store, "events", events[start : start + 5])
    before = Counter(read_area(store, "bronze", "events").column("event_id").to_pylist())
    killed = python_killed(
        COMPACTION_KILLED_AFTER_DELETES.format(kill_after=kill_after, today=FUTURE),
        settings.lake_root,
    )
    assert killed.returncode == -9, killed.stderr
    day = store.list_files("bronze/events")[0].split("/")[2].removeprefix("dt=")
    compact_day(store, "events", day, "zstd")
    after = Counter(read_area(store, "bronze", "events").column("event_id").to_pylist())
    assert after == before
    assert len(store.list_files("bronze/events", ".parquet")) == 1


# --- DuckLake upkeep killed at any moment (no dbt) --------------------------------------------

UPKEEP_KILLED_AT = """
    import threading, time
    from flows.maintenance import ducklake_upkeep
    from ingestion.settings import Settings

    settings = Settings()
    threading.Timer({delay}, die).start()
    started = time.monotonic()
    ducklake_upkeep(settings, 0)
    print("upkeep finished in", time.monotonic() - started)
    os._exit(0)  # the timer thread is not waited for
"""


def small_file_lake(root: Path) -> Settings:
    """A DuckLake with work for every upkeep step: many small files of one table in
    as many snapshots, deletes and an update (old files to expire and remove), and a
    file no snapshot lists (what a writer killed before its commit leaves)."""
    settings = Settings(lake_root=str(root / "lake"))
    catalog = catalog_path(settings)
    catalog.parent.mkdir(parents=True)
    con = connect(extension_dir=settings.duckdb_extension_dir)
    con.execute(
        f"attach 'ducklake:{catalog}' as lake (data_path '{Path(settings.lake_root)}/warehouse/')"
    )
    con.execute("create schema lake.gold")
    con.execute("create table lake.gold.counts (id integer, day date, amount decimal(18, 2))")
    for batch in range(40):
        con.execute(
            "insert into lake.gold.counts select i, date '2026-11-01' + cast(i % 9 as integer), i * 1.25 "
            f"from range({batch * 50}, {(batch + 1) * 50}) t(i)"
        )
    con.execute("delete from lake.gold.counts where id % 7 = 0")
    con.execute("update lake.gold.counts set amount = amount + 1 where id % 11 = 0")
    con.close()
    orphan = Path(settings.lake_root) / "warehouse" / "gold" / "counts" / "ducklake-orphan.parquet"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": [1]}), orphan)
    return settings


def lake_state(settings: Settings) -> tuple[list[tuple], int, int, int]:
    """The table's rows, its snapshots, the files no snapshot needs any more, and the
    files nothing lists."""
    now = datetime.now(UTC)
    with open_lake(settings, read_only=False) as con:
        rows = con.execute("select * from lake.gold.counts order by id").fetchall()
        (snapshots,) = con.execute("select count(*) from lake.snapshots()").fetchone()
        old = con.execute(
            "call ducklake_cleanup_old_files('lake', dry_run => true, older_than => ?)", [now]
        ).fetchall()
        orphans = con.execute(
            "call ducklake_delete_orphaned_files('lake', dry_run => true, older_than => ?)", [now]
        ).fetchall()
    return rows, snapshots, len(old), len(orphans)


@pytest.fixture(scope="module")
def upkeep_seconds(tmp_path_factory) -> float:
    """How long an upkeep of the small-file lake takes here, once its imports are done."""
    settings = small_file_lake(tmp_path_factory.mktemp("timed"))
    finished = python_killed(UPKEEP_KILLED_AT.format(delay=600), settings.lake_root)
    assert finished.returncode == 0, finished.stderr
    return float(finished.stdout.split("upkeep finished in")[1])


@fault(
    "DuckLake upkeep (merge, snapshot expiry, old and orphaned file deletion) killed "
    "(SIGKILL) at a random moment (hypothesis)",
    "no row changes; the next upkeep leaves no old or orphaned file",
)
@hypothesis_settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Moments spread over the whole upkeep, in tenths of the time it takes here; a late
# one may find it finished, which must be fine too.
@given(moment=st.sampled_from([tenth / 10 for tenth in range(12)]))
def test_upkeep_killed_at_any_moment_recovers(tmp_path, upkeep_seconds, moment: float) -> None:
    from flows.maintenance import ducklake_upkeep

    settings = small_file_lake(tmp_path / os.urandom(4).hex())
    rows, snapshots, _, orphans = lake_state(settings)
    assert snapshots > 40 and orphans == 1, "the lake gives every upkeep step work"
    killed = python_killed(
        UPKEEP_KILLED_AT.format(delay=moment * upkeep_seconds), settings.lake_root
    )
    assert killed.returncode in (-9, 0), killed.stderr
    assert lake_state(settings)[0] == rows, "a killed upkeep changed no row"

    ducklake_upkeep(settings, 0)
    assert lake_state(settings) == (rows, 1, 0, 0)


# --- the Bronze check on its own (no dbt) ---------------------------------------------------


def _good_file(store: LakeStore, settings: Settings) -> str:
    land_records(settings, store, "events", weeks_old_events()[:5])
    return store.list_files("bronze/events", ".parquet")[0]


@fault(
    "a Bronze file cut at any byte, or replaced by random bytes (hypothesis)",
    "never a crash: the file is either whole or quarantined with its reason",
)
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.floats(0, 1), garbage=st.binary(max_size=200))
def test_any_cut_or_garbage_is_caught(tmp_path, cut: float, garbage: bytes) -> None:
    settings = Settings(lake_root=str(tmp_path / f"lake-{os.urandom(4).hex()}"))
    store = LakeStore.from_settings(settings)
    path = _good_file(store, settings)
    data = store.read_bytes(path)
    store.write_atomic(path, data[: int(len(data) * cut)] if cut < 1 else data)
    assert (problem(store, path) is None) == (cut == 1)
    store.write_atomic(path, garbage)
    assert problem(store, path) is not None


def test_the_check_reads_each_file_once_and_finishes_an_interrupted_move(tmp_path) -> None:
    settings = Settings(lake_root=str(tmp_path / "lake"))
    store = LakeStore.from_settings(settings)
    good = _good_file(store, settings)
    first = check_bronze(store)
    assert (first.checked, first.skipped, first.quarantined) == (1, 0, [])
    assert check_bronze(store).skipped == 1, "an unchanged file is not read again"

    bad = good.replace(".parquet", "-x.parquet")
    store.write_atomic(bad, b"not parquet")
    # A run killed after writing the reason but before the move: the next one finishes it.
    from flows import bronze_check

    real_move = LakeStore.move
    LakeStore.move = lambda self, a, b: (_ for _ in ()).throw(KeyboardInterrupt)  # type: ignore[method-assign]
    try:
        with pytest.raises(KeyboardInterrupt):
            check_bronze(store)
    finally:
        LakeStore.move = real_move  # type: ignore[method-assign]
    assert store.exists(bad)
    result = check_bronze(store)
    assert [q.bronze_path for q in result.quarantined] == [bad]
    assert not store.exists(bad) and store.exists(result.quarantined[0].quarantine_path)
    assert bronze_check.quarantined_files(store) == result.quarantined
    assert read_area(store, "bronze", "events").num_rows == 5


def test_a_second_bad_file_of_the_same_name_never_replaces_the_first(tmp_path) -> None:
    store = LakeStore.from_settings(Settings(lake_root=str(tmp_path / "lake")))
    path = "bronze/orders/dt=2026-11-20/shard-1-2.parquet"
    for content in (b"first", b"second"):
        store.write_atomic(path, content)
        check_bronze(store)
    kept = sorted(store.read_bytes(q.quarantine_path) for q in quarantined_files(store))
    assert kept == [b"first", b"second"]
