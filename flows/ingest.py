"""The ingest flow (local target): the simulator as a continuous source.

Every few seconds it lands a small slice of the simulated application through
the real Lambda handlers, so that a served local pipeline behaves like
production with Lambda. Each scheduled run carries on where the last one left
off (flows/demo_app/slices.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prefect import flow, get_run_logger

from flows.demo_app.slices import land_slice, read_state
from ingestion.settings import Settings
from ingestion.store import LakeStore


@dataclass
class IngestReport:
    batches: int = 0
    records: int = 0
    next_slice: int = 0


@flow(name="ingest", log_prints=True)
def ingest(
    duration_seconds: float = 55,
    interval_seconds: float | None = None,
    events_per_batch: int = 500,
    orders_per_batch: int = 20,
) -> IngestReport:
    """Land a slice every `interval_seconds` for `duration_seconds`."""
    settings = Settings()
    if settings.target != "local":
        raise ValueError("the ingest flow simulates Lambda locally; on aws the Lambdas land Bronze")
    logger = get_run_logger()
    interval = settings.ingest_interval_seconds if interval_seconds is None else interval_seconds
    store = LakeStore.from_settings(settings)
    store.check_writable()
    report = IngestReport(next_slice=read_state(store))
    deadline = time.monotonic() + duration_seconds
    while True:
        started = time.monotonic()
        report.records += land_slice(
            settings, store, report.next_slice, events_per_batch, orders_per_batch
        )
        report.batches += 1
        report.next_slice += 1
        if time.monotonic() + interval > deadline:
            break
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
    logger.info("landed %d slices, %d records", report.batches, report.records)
    return report
