"""The Kinesis handler: every good record lands typed, every bad one is quarantined with its reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ingestion import kinesis
from ingestion.invocation import InvalidEventError
from ingestion.schemas import EVENTS, QUARANTINE
from ingestion.settings import Settings
from tests.conftest import SEQUENCE_BASE, event_payload, kinesis_rec, read_area


def land(records: list, settings: Settings, store=None) -> dict:
    return kinesis.handler({"Records": records}, None, settings=settings, store=store)


def test_a_clean_batch_lands_whole_with_typed_columns_and_metadata(settings, store, read) -> None:
    response = land([kinesis_rec(n) for n in range(50)], settings)

    assert response == {"batchItemFailures": []}
    bronze = read("bronze", "events")
    assert bronze.schema.equals(EVENTS, check_metadata=False)
    assert bronze.num_rows == 50
    assert read("quarantine", "events") is None
    first = bronze.sort_by("event_id").slice(0, 1).to_pylist()[0]
    assert first["event_id"] == "evt-000000"
    assert first["event_time"] == datetime(2026, 11, 20, 11, 59, 58, 250000, tzinfo=UTC)
    assert json.loads(first["properties"]) == {
        "page": "/home",
        "price": 12.5,
        "nested": {"a": [1, 2]},
    }
    assert (first["geo_country"], first["geo_city"], first["device_os"]) == ("DE", "Munich", "iOS")
    assert first["stream"] == "events"
    assert first["shard_id"] == "shardId-000000000000"
    assert first["sequence_number"] == str(SEQUENCE_BASE)
    assert first["partition_key"] == "c-000000"
    assert first["arrival_time"] == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert first["extra_fields"] is None
    assert first["ingestion_time"].date() == datetime.now(UTC).date()


def test_file_is_named_for_its_batch_and_partitioned_by_ingestion_date(settings, store) -> None:
    land([kinesis_rec(n) for n in range(3)], settings)
    (path,) = store.list_files("bronze")
    today = datetime.now(UTC).date().isoformat()
    assert path == (
        f"bronze/events/dt={today}/shardId-000000000000-{SEQUENCE_BASE}-{SEQUENCE_BASE + 20}.parquet"
    )


def test_redelivering_a_batch_rewrites_the_same_file(settings, store, read) -> None:
    batch = [kinesis_rec(n) for n in range(20)]
    land(batch, settings)
    land(batch, settings)
    land(list(reversed(batch)), settings)  # the same records in another order: same identity

    assert len(store.list_files("bronze")) == 1
    assert read("bronze", "events").num_rows == 20


def bad_records() -> dict[str, dict]:
    """One broken record for every kind of bad input the handler knows, with its reason."""

    def payload(**overrides) -> bytes:
        return json.dumps(event_payload(900, **overrides)).encode()

    without_user = {k: v for k, v in event_payload(901).items() if k != "user_id"}
    broken = {
        "invalid base64 in kinesis.data": kinesis_rec(100),
        "invalid UTF-8 in payload": kinesis_rec(101, b'{"event_id": "\xff"}'),
        "invalid JSON in payload": kinesis_rec(102, b'{"event_id": "e-1",'),
        "payload is JSON array, not an object": kinesis_rec(103, b"[1, 2]"),
        "payload is JSON varchar, not an object": kinesis_rec(104, b'"just text"'),
        "missing required field user_id": kinesis_rec(105, json.dumps(without_user).encode()),
        "missing required field event_id": kinesis_rec(106, payload(event_id="")),
        "missing required field event_type": kinesis_rec(107, payload(event_type=None)),
        "field event_id must be a string, got ubigint": kinesis_rec(108, payload(event_id=42)),
        "field user_id must be a string, got object": kinesis_rec(109, payload(user_id={"a": 1})),
        "field event_time must be a string, got ubigint": kinesis_rec(
            110, payload(event_time=1732000000)
        ),
        'unparseable event_time "last tuesday"': kinesis_rec(
            111, payload(event_time="last tuesday")
        ),
        "field properties must be an object, got array": kinesis_rec(112, payload(properties=[1])),
        "field geo must be an object, got varchar": kinesis_rec(113, payload(geo="DE")),
        "field session_id must be a string, got boolean": kinesis_rec(
            114, payload(session_id=True)
        ),
        "oversize record": kinesis_rec(115, payload(properties={"blob": "x" * 5000})),
    }
    broken["invalid base64 in kinesis.data"]["kinesis"]["data"] = "%%% not base64 %%%"
    return broken


def test_every_kind_of_bad_record_is_quarantined_with_its_reason_and_the_rest_lands(
    tmp_path, read
) -> None:
    settings = Settings(lake_root=str(tmp_path / "lake"), max_record_bytes=4096)
    broken = bad_records()
    good = [kinesis_rec(n) for n in range(10)]
    records = good[:5] + list(broken.values()) + good[5:]

    response = land(records, settings)

    assert response == {"batchItemFailures": []}
    from ingestion.store import LakeStore

    store = LakeStore.from_settings(settings)
    bronze = read_area(store, "bronze", "events")
    quarantine = read_area(store, "quarantine", "events")
    assert sorted(bronze.column("event_id").to_pylist()) == [f"evt-{n:06d}" for n in range(10)]
    assert quarantine.schema.equals(QUARANTINE, check_metadata=False)
    by_sequence = {row["sequence_number"]: row for row in quarantine.to_pylist()}
    assert len(by_sequence) == len(broken)
    for expected_reason, record in broken.items():
        row = by_sequence[record["kinesis"]["sequenceNumber"]]
        assert row["reason"].startswith(expected_reason), (expected_reason, row["reason"])
        assert row["source"] == "events"
        assert row["shard_id"] == "shardId-000000000000"
    # The original bytes are kept: decoded payload where base64 was valid, else the text.
    utf8_row = by_sequence[broken["invalid UTF-8 in payload"]["kinesis"]["sequenceNumber"]]
    assert utf8_row["original_bytes"] == b'{"event_id": "\xff"}'
    b64_row = by_sequence[broken["invalid base64 in kinesis.data"]["kinesis"]["sequenceNumber"]]
    assert b64_row["original_bytes"] == b"%%% not base64 %%%"


def test_unknown_top_level_fields_are_kept_not_dropped(settings, read) -> None:
    payload = event_payload(1, app_version="4.2.0", experiment={"arm": "b"})
    land([kinesis_rec(1, json.dumps(payload).encode()), kinesis_rec(2)], settings)

    rows = {row["event_id"]: row for row in read("bronze", "events").to_pylist()}
    assert json.loads(rows["evt-000001"]["extra_fields"]) == {
        "app_version": "4.2.0",
        "experiment": {"arm": "b"},
    }
    assert rows["evt-000002"]["extra_fields"] is None


def test_optional_fields_may_be_absent_or_null(settings, read) -> None:
    minimal = {
        "event_id": "e-min",
        "event_type": "signup",
        "user_id": "u-1",
        "event_time": "2026-11-20T10:00:00Z",
    }
    nulls = {**minimal, "event_id": "e-null", "session_id": None, "geo": None, "properties": None}
    land(
        [kinesis_rec(1, json.dumps(minimal).encode()), kinesis_rec(2, json.dumps(nulls).encode())],
        settings,
    )
    rows = read("bronze", "events").to_pylist()
    assert sorted(r["event_id"] for r in rows) == ["e-min", "e-null"]
    assert all(r["geo_country"] is None and r["session_id"] is None for r in rows)


def test_escaped_strings_and_timezones_decode(settings, read) -> None:
    payload = event_payload(3, event_type='say "hi"\n', event_time="2026-11-20T13:00:00+01:00")
    land([kinesis_rec(3, json.dumps(payload, ensure_ascii=True).encode())], settings)
    (row,) = read("bronze", "events").to_pylist()
    assert row["event_type"] == 'say "hi"\n'
    assert row["event_time"] == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_records_of_two_shards_land_as_two_files(settings, store, read) -> None:
    records = [kinesis_rec(n, shard=f"shardId-00000000000{n % 2}") for n in range(10)]
    land(records, settings)
    assert len(store.list_files("bronze")) == 2
    assert read("bronze", "events").num_rows == 10


def test_a_malformed_envelope_is_quarantined_whole(settings, read) -> None:
    no_data = kinesis_rec(5)
    del no_data["kinesis"]["data"]
    not_a_record = "surprise"
    land([kinesis_rec(1), no_data, not_a_record, kinesis_rec(2)], settings)

    assert read("bronze", "events").num_rows == 2
    reasons = sorted(read("quarantine", "events").column("reason").to_pylist())
    assert reasons == [
        "malformed Kinesis record: kinesis.data missing or not a string",
        "malformed Kinesis record: record is str, not an object",
    ]


def test_stream_names_map_to_sources_through_settings(tmp_path, read) -> None:
    settings = Settings(
        lake_root=str(tmp_path / "lake"), source_aliases={"Prod-Clickstream": "events"}
    )
    from ingestion.store import LakeStore

    kinesis.handler(
        {"Records": [kinesis_rec(1, stream="Prod-Clickstream")]}, None, settings=settings
    )
    bronze = read_area(LakeStore.from_settings(settings), "bronze", "events")
    assert bronze.column("stream").to_pylist() == ["Prod-Clickstream"]


def test_an_empty_batch_lands_nothing(settings, store) -> None:
    assert land([], settings) == {"batchItemFailures": []}
    assert store.list_files("") == []


def test_an_event_that_is_not_a_stream_batch_is_a_clear_error(settings) -> None:
    with pytest.raises(InvalidEventError, match="expected a Lambda stream event"):
        kinesis.handler({"detail": {}}, None, settings=settings)


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.binary(max_size=300) | st.text(max_size=300).map(str.encode), max_size=12))
def test_fuzzed_payloads_never_crash_and_nothing_is_lost(tmp_path_factory, payloads) -> None:
    settings = Settings(lake_root=str(tmp_path_factory.mktemp("fuzz") / "lake"))
    good = [kinesis_rec(n) for n in range(3)]
    fuzzed = [kinesis_rec(10 + i, data) for i, data in enumerate(payloads)]
    land(good + fuzzed, settings)

    from ingestion.store import LakeStore

    store = LakeStore.from_settings(settings)
    bronze = read_area(store, "bronze", "events")
    quarantine = read_area(store, "quarantine", "events")
    landed = bronze.num_rows if bronze is not None else 0
    quarantined = quarantine.num_rows if quarantine is not None else 0
    assert landed + quarantined == len(good) + len(fuzzed)
    assert {f"evt-{n:06d}" for n in range(3)} <= set(bronze.column("event_id").to_pylist())
    if quarantine is not None:
        assert all(quarantine.column("reason").to_pylist())


def test_written_schema_is_the_declared_schema(settings, read) -> None:
    land([kinesis_rec(1)], settings)
    table = read("bronze", "events")
    assert [f.name for f in table.schema] == [f.name for f in EVENTS]
    assert table.schema.field("event_time").type == pa.timestamp("us", tz="UTC")


def test_each_invocation_logs_one_structured_summary(settings) -> None:
    import io
    import sys

    from ingestion.observability import send_logs_to

    captured = io.StringIO()
    send_logs_to(captured)
    try:
        land([kinesis_rec(1), kinesis_rec(2, b"[]")], settings)
    finally:
        send_logs_to(sys.stdout)
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    (summary,) = [line for line in lines if line.get("message") == "batch processed"]
    assert summary["level"] == "INFO"
    assert summary["service"] == "streamlake-ingestion"
    assert (summary["received"], summary["landed"], summary["quarantined"]) == (2, 1, 1)
    assert summary["bytes"] > 0
    assert summary["duration_ms"] >= 0
    assert len(summary["files"]) == 2
