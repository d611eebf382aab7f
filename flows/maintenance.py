"""The maintenance flow: table upkeep, Bronze compaction and the quarantine report.

Daily by default. On the local target it asks DuckLake to merge adjacent small
files, expire snapshots older than the retention setting and delete the files no
snapshot needs any more; on aws it runs the OPTIMIZE and VACUUM statements of the
`iceberg_maintenance` dbt operation. On both, closed days of Bronze are compacted.
It holds the catalog's writer lock throughout, so no transform runs meanwhile.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.bronze_check import check_bronze
from flows.bronze_compaction import DayCompaction, compact_closed_days
from flows.warehouse.lakehouse import open_lake, run_dbt
from flows.warehouse.writer_lock import catalog_writer
from ingestion.settings import Settings
from ingestion.store import LakeStore


@dataclass
class TableUpkeep:
    data_files_before: int
    data_files_after: int
    snapshots_before: int
    snapshots_after: int


@dataclass
class MaintenanceReport:
    tables: TableUpkeep | None = None
    compactions: list[DayCompaction] = field(default_factory=list)
    quarantined: dict[tuple[str, str], int] = field(default_factory=dict)


def warehouse_files(settings: Settings) -> int:
    """Parquet files under the local warehouse, as they lie on disk."""
    return sum(1 for _ in (Path(settings.lake_root) / "warehouse").rglob("*.parquet"))


def ducklake_upkeep(settings: Settings, retention_hours: float) -> TableUpkeep:
    """Merge small files, expire old snapshots, delete the files nothing needs.

    Each step is a DuckLake transaction: killed anywhere, the lake holds what it
    held, and the next upkeep finishes the work (tests/test_reliability.py).
    """
    cutoff = datetime.now(UTC) - timedelta(hours=retention_hours)
    files_before = warehouse_files(settings)
    with open_lake(settings, read_only=False) as con:
        (snapshots_before,) = con.execute("select count(*) from lake.snapshots()").fetchone()
        con.execute("call ducklake_merge_adjacent_files('lake')")
        con.execute("call ducklake_expire_snapshots('lake', older_than => ?)", [cutoff])
        # Files of expired snapshots are needed by no snapshot that remains: they
        # go now, including those the merge above has just replaced.
        con.execute("call ducklake_cleanup_old_files('lake', older_than => ?)", [datetime.now(UTC)])
        # Files no snapshot ever listed: what a writer killed before its commit left
        # behind (a dbt build, or this upkeep's merge). The writer lock keeps every
        # other writer out meanwhile, so none of them can be a file still being written.
        con.execute(
            "call ducklake_delete_orphaned_files('lake', older_than => ?)", [datetime.now(UTC)]
        )
        (snapshots_after,) = con.execute("select count(*) from lake.snapshots()").fetchone()
    return TableUpkeep(files_before, warehouse_files(settings), snapshots_before, snapshots_after)


@task(name="table upkeep")
def table_upkeep(settings: Settings, retention_hours: float) -> TableUpkeep | None:
    if settings.target == "aws":
        # OPTIMIZE ... REWRITE DATA USING BIN_PACK and VACUUM per Iceberg table;
        # the tables' snapshot-age properties set what VACUUM may expire.
        run_dbt(settings, ["run-operation", "iceberg_maintenance"])
        return None
    return ducklake_upkeep(settings, retention_hours)


@task(name="bronze compaction")
def compact_bronze(settings: Settings, today: str | None = None) -> list[DayCompaction]:
    logger = get_run_logger()
    store = LakeStore.from_settings(settings)
    day = datetime.fromisoformat(today).date() if today else datetime.now(UTC).date()
    # An unreadable file would fail its whole day's compaction: quarantine it first.
    for entry in check_bronze(store).quarantined:
        logger.warning("Bronze file quarantined: %s", entry.message)
    done = []
    for result in compact_closed_days(store, day, settings.parquet_compression):
        logger.info(
            "bronze %s dt=%s: %d files -> %d (%d rows)",
            result.source,
            result.day,
            result.files_before,
            result.files_after,
            result.rows,
        )
        done.append(result)
    return done


@task(name="quarantine report")
def quarantine_report(settings: Settings) -> dict[tuple[str, str], int]:
    """Quarantined records per source and landing day."""
    store = LakeStore.from_settings(settings)
    counts: Counter[tuple[str, str]] = Counter()
    for path in store.list_files("quarantine", ".parquet"):
        parts = path.split("/")
        source, day = parts[1], parts[2].removeprefix("dt=")
        counts[(source, day)] += pq.read_metadata(
            store.filesystem.open_input_file(store.full_path(path))
        ).num_rows
    return dict(sorted(counts.items()))


@flow(name="maintenance", log_prints=True)
def maintenance(
    retention_hours: float | None = None, today: str | None = None
) -> MaintenanceReport:
    """Table upkeep and Bronze compaction under the writer lock, then the quarantine report."""
    settings = Settings()
    retention = settings.snapshot_retention_hours if retention_hours is None else retention_hours
    report = MaintenanceReport()
    with catalog_writer(settings, "maintenance", announce=get_run_logger().info):
        report.compactions = compact_bronze(settings, today)
        report.tables = table_upkeep(settings, retention)
    report.quarantined = quarantine_report(settings)
    create_table_artifact(
        key="quarantine-by-source-and-day",
        table=[
            {"source": source, "day": day, "records": records}
            for (source, day), records in report.quarantined.items()
        ],
        description="Records quarantined per source and landing day",
    )
    create_markdown_artifact(key="maintenance-report", markdown=_markdown(report))
    return report


def _markdown(report: MaintenanceReport) -> str:
    lines = ["# Maintenance", ""]
    if report.tables:
        t = report.tables
        lines += [
            f"- table data files: {t.data_files_before} -> {t.data_files_after}",
            f"- snapshots: {t.snapshots_before} -> {t.snapshots_after}",
        ]
    compacted = [c for c in report.compactions if c.files_after < c.files_before]
    lines.append(f"- Bronze days compacted: {len(compacted)}")
    lines += [f"  - {c.source} {c.day}: {c.files_before} -> {c.files_after}" for c in compacted]
    return "\n".join(lines)
