"""The ingest flow (local target): the simulator as a continuous source.

Every few seconds it lands a small slice of the simulated application through
the real Lambda handlers, so that a served local pipeline behaves like
production with Lambda. Where the stream left off is kept in the lake, so each
scheduled run carries on from the last one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from prefect import flow, get_run_logger

from flows.simulator.delivery import DeliveryConfig, deliveries
from flows.simulator.feed import feed
from flows.simulator.workload import WorkloadConfig, generate
from ingestion.settings import Settings
from ingestion.store import LakeStore

STATE_PATH = "_simulator/state.json"
# Slices number their records far apart, so no two slices share a sequence
# number or an order id (the initial demo workload is slice 0's space).
SEQUENCES_PER_SLICE = 10_000_000
ORDERS_PER_SLICE = 100_000


@dataclass
class IngestReport:
    batches: int = 0
    records: int = 0
    next_slice: int = 0


def slice_workload(index: int, events: int, orders: int) -> WorkloadConfig:
    return WorkloadConfig(
        seed=10_000 + index,
        orders=orders,
        events=events,
        days=1,
        late_fraction=0.01,
        sequence_start=(index + 1) * SEQUENCES_PER_SLICE,
        order_offset=(index + 1) * ORDERS_PER_SLICE,
        # The first slice brings customers and products, for a lake that starts
        # empty; after a demo run they arrive again as harmless newer versions.
        emit_reference_data=index == 0,
    )


def _read_state(store: LakeStore) -> int:
    if not store.exists(STATE_PATH):
        return 0
    return int(json.loads(store.read_bytes(STATE_PATH))["next_slice"])


def land_slice(settings: Settings, store: LakeStore, index: int, events: int, orders: int) -> int:
    """Land one slice through the handlers; returns the records sent."""
    planned = deliveries(
        generate(slice_workload(index, events, orders)), DeliveryConfig(seed=index)
    )
    report = feed(planned, settings, store=store)
    if report.unlanded_batches:
        raise RuntimeError(f"slice {index}: batches not landed: {report.unlanded_batches}")
    store.write_atomic(STATE_PATH, json.dumps({"next_slice": index + 1}).encode())
    return report.records_sent


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
    report = IngestReport(next_slice=_read_state(store))
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
