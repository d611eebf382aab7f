from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

from flows.demo_app.lambda_events import dynamodb_record, kinesis_record
from ingestion.settings import Settings
from ingestion.store import LakeStore

ARRIVAL = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SHARD = "shardId-000000000000"
SEQUENCE_BASE = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898


def event_payload(n: int, **overrides: Any) -> dict[str, Any]:
    payload = {
        "event_id": f"evt-{n:06d}",
        "event_type": "page_view",
        "user_id": f"c-{n % 7:06d}",
        "session_id": f"s-{n // 5}",
        "event_time": "2026-11-20T11:59:58.250Z",
        "properties": {"page": "/home", "price": 12.5, "nested": {"a": [1, 2]}},
        "geo": {"country": "DE", "region": "Bavaria", "city": "Munich"},
        "device": {"type": "mobile", "os": "iOS", "browser": "Safari"},
    }
    payload.update(overrides)
    return payload


def kinesis_rec(
    n: int, data: bytes | None = None, shard: str = SHARD, stream: str = "events"
) -> dict[str, Any]:
    if data is None:
        data = json.dumps(event_payload(n), separators=(",", ":")).encode()
    return kinesis_record(
        data,
        stream=stream,
        shard_id=shard,
        sequence_number=str(SEQUENCE_BASE + n * 10),
        partition_key=f"c-{n % 7:06d}",
        arrival=ARRIVAL,
    )


def order_change(
    n: int, event_name: str = "INSERT", sequence: int | None = None, **item: Any
) -> dict[str, Any]:
    keys = {"order_id": f"o-{n:05d}"}
    new = None if event_name == "REMOVE" else {**keys, "status": "placed", "amount": 10, **item}
    old = None if event_name == "INSERT" else {**keys, "status": "placed", "amount": 10}
    return dynamodb_record(
        table="orders",
        event_name=event_name,
        keys=keys,
        new_item=new,
        old_item=old,
        sequence_number=str(10**20 + (sequence if sequence is not None else n) * 100),
        created=ARRIVAL,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(lake_root=str(tmp_path / "lake"))


@pytest.fixture
def store(settings: Settings) -> LakeStore:
    return LakeStore.from_settings(settings)


def read_area(store: LakeStore, area: str, source: str) -> pa.Table | None:
    paths = store.list_files(f"{area}/{source}", suffix=".parquet")
    if not paths:
        return None
    tables = []
    for path in paths:
        with store.filesystem.open_input_file(store.full_path(path)) as handle:
            tables.append(pq.read_table(handle))
    return pa.concat_tables(tables)


@pytest.fixture
def read(store: LakeStore) -> Callable[[str, str], pa.Table | None]:
    return lambda area, source: read_area(store, area, source)


@pytest.fixture(scope="session")
def prefect_api():
    """The session's one Prefect test server (it takes ~20 s to start); its API URL."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield PREFECT_API_URL.value()


# The DynamoDB attribute names of an application in the PascalCase shape of
# many reference designs, as the var dynamodb_attributes (dbt_project.yml)
# takes them. Three names are not plain identifiers (a space; a dot; double
# quotes, two backslashes and an apostrophe), so that the JSON paths are
# quoted and escaped too (DuckDB reads a lone backslash as itself, two only
# when escaped).
PASCAL_CASE_ATTRIBUTES: dict[str, dict[str, str]] = {
    "customers": {
        "customer_id": "CustomerID",
        "customer_name": "Full Name",
        "email": "Contact.Email",
        "region": "Region",
        "created_at": "CreatedAt",
    },
    "products": {
        "product_id": "ProductID",
        "product_name": "ProductName",
        "category": 'Category "Main" \\\\ Shop\'s',
        "price": "Price",
        "stock": "Stock",
    },
    "orders": {
        "order_id": "OrderID",
        "customer_id": "CustomerID",
        "product_id": "ProductID",
        "quantity": "Quantity",
        "amount": "TotalAmount",
        "status": "Status",
        "created_at": "OrderDate",
        "updated_at": "UpdatedAt",
    },
}


def dynamodb_attributes_vars(attributes: dict[str, dict[str, str]]) -> str:
    """dbt's --vars argument that sets dynamodb_attributes (JSON is YAML)."""
    return json.dumps({"dynamodb_attributes": attributes})
