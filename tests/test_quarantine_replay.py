"""Replaying quarantine after a fix: the records land, nothing is lost or landed twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from flows.demo_app.lambda_events import dynamodb_record
from flows.quarantine_replay import REPLAYED, REPLAYING, quarantine_files, replay
from ingestion import dynamodb_streams, kinesis
from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.conftest import kinesis_rec, read_area
from tests.test_cli import streamlake
from tests.test_event_contract import camel, record, sequence

ARRIVED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _settings(tmp_path, **overrides) -> Settings:
    return Settings(lake_root=str(tmp_path / "lake"), **overrides)


def _table(store: LakeStore, path: str) -> pa.Table:
    return pq.read_table(pa.BufferReader(store.read_bytes(path)))


def test_camel_case_events_land_once_the_contract_names_their_fields(tmp_path) -> None:
    default = _settings(tmp_path)
    store = LakeStore.from_settings(default)
    # One batch: two well-formed events, three camelCase ones the default contract refuses.
    good = [
        {
            "event_id": f"e-{n}",
            "event_type": "page_view",
            "user_id": "u-1",
            "event_time": "2026-12-01T09:00:00Z",
        }
        for n in range(2)
    ]
    records = [record(n, payload) for n, payload in enumerate(good)]
    records += [record(n, camel(n)) for n in range(2, 5)]
    assert kinesis.handler({"Records": records}, None, settings=default) == {
        "batchItemFailures": []
    }
    (original_bronze,) = store.list_files("bronze/events")
    before = _table(store, original_bronze)
    assert before.num_rows == 2
    assert read_area(store, "quarantine", "events").num_rows == 3

    fixed = _settings(tmp_path, event_contract="camel_case")
    report = replay(store, fixed, source="events")
    assert (report.files, report.records, report.landed, report.quarantined_again) == (1, 3, 3, 0)

    # The original batch's Bronze file is untouched; the replayed one sits beside it.
    assert _table(store, original_bronze).equals(before)
    replayed = [p for p in store.list_files("bronze/events") if p != original_bronze]
    assert len(replayed) == 1 and "-replayed-" in replayed[0]
    landed = _table(store, replayed[0])
    assert sorted(landed.column("sequence_number").to_pylist()) == [sequence(n) for n in (2, 3, 4)]
    assert set(landed.column("user_id").to_pylist()) == {"u-2", "u-3", "u-4"}
    # The quarantine file left the quarantine table for _replayed/, bytes and all.
    assert quarantine_files(store) == []
    (kept,) = store.list_files(f"quarantine/events/{REPLAYED}")
    assert _table(store, kept).num_rows == 3

    # A second replay finds nothing to do.
    assert replay(store, fixed).files == 0
    assert len(store.list_files("bronze/events")) == 2


def test_records_still_invalid_go_back_to_quarantine_with_todays_reason(tmp_path) -> None:
    settings = _settings(tmp_path)
    store = LakeStore.from_settings(settings)
    records = [record(0, camel(0)), record(1, b"not json at all")]
    kinesis.handler({"Records": records}, None, settings=settings)
    report = replay(store, _settings(tmp_path, event_contract="camel_case"))
    assert (report.landed, report.quarantined_again) == (1, 1)
    again = [row for path in quarantine_files(store) for row in _table(store, path).to_pylist()]
    assert [row["sequence_number"] for row in again] == [sequence(1)]
    assert again[0]["original_bytes"] == b"not json at all"
    assert "json" in again[0]["reason"].lower()


def test_an_oversize_dynamodb_change_lands_once_the_limit_is_raised(tmp_path) -> None:
    tight = _settings(tmp_path, max_record_bytes=300)
    store = LakeStore.from_settings(tight)
    item = {
        "order_id": "o-1",
        "customer_id": "c-1",
        "product_id": "p-1",
        "quantity": 2,
        "amount": Decimal("31.50"),
        "status": "placed",
        "note": "x" * 400,
        "created_at": "2026-12-01T09:00:00Z",
        "updated_at": "2026-12-01T09:00:00Z",
    }
    change = dynamodb_record(
        table="orders",
        event_name="INSERT",
        keys={"order_id": "o-1"},
        new_item=item,
        old_item=None,
        sequence_number="1000",
        created=ARRIVED,
    )
    dynamodb_streams.handler({"Records": [change]}, None, settings=tight)
    (bad,) = read_area(store, "quarantine", "orders").to_pylist()
    assert "oversize" in bad["reason"]
    assert json.loads(bad["original_bytes"]) == json.loads(json.dumps(change, default=str))

    report = replay(store, _settings(tmp_path), source="orders")
    assert (report.landed, report.quarantined_again) == (1, 0)
    (row,) = read_area(store, "bronze", "orders").to_pylist()
    assert row["sequence_number"] == "1000" and row["event_name"] == "INSERT"
    assert json.loads(row["new_image"])["note"] == "x" * 400


def test_a_replay_killed_half_way_is_taken_up_by_the_next(tmp_path) -> None:
    settings = _settings(tmp_path)
    store = LakeStore.from_settings(settings)
    kinesis.handler({"Records": [record(0, camel(0))]}, None, settings=settings)
    (waiting,) = quarantine_files(store)
    # What a replay killed after its first move leaves behind.
    source, day_folder, name = waiting.split("/")[1], waiting.split("/")[2], waiting.split("/")[3]
    store.move(waiting, f"quarantine/{source}/{REPLAYING}/{day_folder}/{name}")
    assert quarantine_files(store) == [f"quarantine/{source}/{REPLAYING}/{day_folder}/{name}"]
    report = replay(store, _settings(tmp_path, event_contract="camel_case"))
    assert (report.files, report.landed) == (1, 1)
    assert store.list_files(f"quarantine/events/{REPLAYING}") == []
    assert len(store.list_files(f"quarantine/events/{REPLAYED}")) == 1


def test_only_the_named_source_and_day_are_replayed(tmp_path) -> None:
    settings = _settings(tmp_path)
    store = LakeStore.from_settings(settings)
    kinesis.handler({"Records": [kinesis_rec(0, b"{}")]}, None, settings=settings)
    (waiting,) = quarantine_files(store)
    day = waiting.split("/")[2].removeprefix("dt=")
    other_day = (datetime.fromisoformat(day) - timedelta(days=1)).date().isoformat()
    assert replay(store, settings, source="orders").files == 0
    assert replay(store, settings, day=other_day).files == 0
    assert quarantine_files(store, "events", day) == [waiting]


def test_the_command_replays_and_says_what_it_did(tmp_path) -> None:
    settings = _settings(tmp_path)
    kinesis.handler({"Records": [record(0, camel(0))]}, None, settings=settings)
    root = str(tmp_path / "lake")
    refused = streamlake("replay-quarantine", "--lake-root", root, "--day", "yesterday")
    assert refused.returncode == 2 and "--day must be a date" in refused.stderr
    done = streamlake(
        "replay-quarantine", "--lake-root", root, env={"STREAMLAKE_EVENT_CONTRACT": "camel_case"}
    )
    assert done.returncode == 0, done.stderr
    assert "replayed 1 file(s), 1 record(s): 1 landed in Bronze, 0 quarantined again" in done.stdout
    again = streamlake("replay-quarantine", "--lake-root", root)
    assert again.returncode == 0 and "nothing in quarantine to replay" in again.stdout
