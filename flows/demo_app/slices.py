"""Slices of the simulated application, landed one after another through the handlers.

The ingest flow lands one every few seconds; benchmarks and tests use the same
slices without Prefect. Where the stream left off is kept in the lake, so each
run carries on from the last one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from flows.demo_app.delivery import DeliveryConfig, deliveries
from flows.demo_app.feed import feed
from flows.demo_app.workload import WorkloadConfig, generate
from ingestion.settings import Settings
from ingestion.store import LakeStore

STATE_PATH = "_simulator/state.json"
# Slices number their records far apart, so no two slices share a sequence
# number or an order id (the initial demo workload is slice 0's space).
SEQUENCES_PER_SLICE = 10_000_000
ORDERS_PER_SLICE = 100_000


def slice_workload(
    index: int, events: int, orders: int, end: datetime | None = None
) -> WorkloadConfig:
    """Slice `index` of the application; its times end now unless `end` pins them."""
    return WorkloadConfig(
        end=end or datetime.now(UTC).replace(second=0, microsecond=0),
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


def read_state(store: LakeStore) -> int:
    if not store.exists(STATE_PATH):
        return 0
    return int(json.loads(store.read_bytes(STATE_PATH))["next_slice"])


def land_slice(
    settings: Settings,
    store: LakeStore,
    index: int,
    events: int,
    orders: int,
    end: datetime | None = None,
) -> int:
    """Land one slice through the handlers; returns the records sent."""
    planned = deliveries(
        generate(slice_workload(index, events, orders, end)), DeliveryConfig(seed=index)
    )
    report = feed(planned, settings, store=store)
    if report.unlanded_batches:
        raise RuntimeError(f"slice {index}: batches not landed: {report.unlanded_batches}")
    store.write_atomic(STATE_PATH, json.dumps({"next_slice": index + 1}).encode())
    return report.records_sent
