"""The simulator: a repeatable workload in Lambda's shapes, landed whole through the handlers."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from flows.demo_app.delivery import DeliveryConfig, deliveries
from flows.demo_app.feed import feed
from flows.demo_app.workload import WorkloadConfig, generate
from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.conftest import read_area

END = datetime(2026, 11, 20, tzinfo=UTC)
SMALL = WorkloadConfig(
    seed=3, customers=30, products=12, orders=300, events=3_000, days=10, end=END
)


def test_same_seed_same_workload_and_another_seed_another() -> None:
    assert generate(SMALL) == generate(SMALL)
    other = generate(WorkloadConfig(**{**SMALL.__dict__, "seed": 4}))
    assert other.kinesis != generate(SMALL).kinesis


def test_the_workload_looks_like_the_application() -> None:
    workload = generate(SMALL)
    orders = workload.dynamodb["orders"]
    names = Counter(r["eventName"] for r in orders)
    assert names["INSERT"] == 300
    assert names["MODIFY"] > 0
    assert names["REMOVE"] > 0
    statuses = {
        r["dynamodb"]["NewImage"]["status"]["S"] for r in orders if r["eventName"] == "MODIFY"
    }
    assert statuses <= {"paid", "shipped", "delivered", "cancelled"}
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in orders]
    assert sequences == sorted(sequences)

    events = [
        json.loads(__import__("base64").b64decode(r["kinesis"]["data"]))
        for shard in workload.kinesis.values()
        for r in shard
    ]
    assert len(events) == 3_000
    types = Counter(e["event_type"] for e in events)
    # A funnel: every step is reached less often than the one before it.
    assert (
        types["product_view"] > types["add_to_cart"] > types["checkout_start"] > types["purchase"]
    )
    late = [e for e in events if e["event_time"] < "2026-11-10"]
    assert late, "some events should arrive days after they happened"


def test_batches_respect_lambda_limits() -> None:
    planned = deliveries(
        generate(SMALL), DeliveryConfig(kinesis_batch_size=500, dynamodb_batch_size=100)
    )
    for delivery in planned:
        limit = 500 if delivery.kind == "kinesis" else 100
        assert 1 <= delivery.size <= limit
        if delivery.kind == "kinesis":
            shards = {r["eventID"].split(":")[0] for r in delivery.event["Records"]}
            assert len(shards) == 1


@pytest.mark.parametrize(
    "bad_config",
    [
        {"kinesis_batch_size": 10_001},
        {"dynamodb_batch_size": 0},
        {"malformed_fraction": 1.5},
    ],
)
def test_bad_delivery_settings_are_refused(bad_config) -> None:
    with pytest.raises(ValueError, match="must lie"):
        DeliveryConfig(**bad_config)


def _landed(settings: Settings) -> dict[str, Counter]:
    store = LakeStore.from_settings(settings)
    out = {}
    for source in ("customers", "products", "orders", "events"):
        table = read_area(store, "bronze", source)
        shard = "shard_id" if source == "events" else "table_name"
        out[source] = Counter(
            zip(
                table.column(shard).to_pylist(),
                table.column("sequence_number").to_pylist(),
                strict=True,
            )
        )
    return out


def test_faulty_delivery_lands_exactly_what_clean_delivery_lands(tmp_path) -> None:
    workload = generate(SMALL)
    clean = Settings(lake_root=str(tmp_path / "clean"))
    faulty = Settings(lake_root=str(tmp_path / "faulty"))
    feed(
        deliveries(workload, DeliveryConfig(kinesis_batch_size=400, dynamodb_batch_size=50)), clean
    )
    faulty_plan = deliveries(
        workload,
        DeliveryConfig(
            seed=11,
            kinesis_batch_size=400,
            dynamodb_batch_size=50,
            duplicate_fraction=0.3,
            out_of_order_fraction=0.3,
            malformed_fraction=0.02,
        ),
    )
    report = feed(faulty_plan, faulty)

    assert report.redeliveries > 0 and report.out_of_order > 0
    clean_rows, faulty_rows = _landed(clean), _landed(faulty)
    assert faulty_rows == clean_rows
    expected = workload.counts()
    for source, sequences in clean_rows.items():
        assert sum(sequences.values()) == expected[source]
        assert max(sequences.values()) == 1  # every record exactly once
    injected = sum(len(d.event["Records"]) for d in faulty_plan if d.note != "redelivery") - sum(
        expected.values()
    )
    store = LakeStore.from_settings(faulty)
    quarantined = sum(
        read_area(store, "quarantine", source).num_rows
        for source in ("customers", "products", "orders", "events")
        if read_area(store, "quarantine", source) is not None
    )
    assert injected > 0
    assert quarantined == injected


def test_history_lands_under_the_time_it_is_landed_at(tmp_path) -> None:
    """A simulated history lands as a running pipeline would have landed it:
    each slice in its own day's partition, stamped with that time."""
    settings = Settings(lake_root=str(tmp_path / "lake"))
    landed_at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    plan = deliveries(generate(SMALL), DeliveryConfig(malformed_fraction=0.02))
    feed(plan, settings, clock=lambda: landed_at)

    store = LakeStore.from_settings(settings)
    for area, source in (("bronze", "events"), ("bronze", "orders"), ("quarantine", "events")):
        paths = store.list_files(f"{area}/{source}", suffix=".parquet")
        assert paths and all("/dt=2026-03-04/" in path for path in paths), (area, source)
        stamps = read_area(store, area, source).column("ingestion_time").to_pylist()
        assert set(stamps) == {landed_at}, (area, source)
