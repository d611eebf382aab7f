"""Landing: atomic writes, retries after a failing store, and the partial batch response."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from ingestion import dynamodb_streams, kinesis
from ingestion.landing import BatchIdentity, land_batch, sequence_key
from ingestion.schemas import EVENTS, QUARANTINE
from ingestion.store import LakeStore
from tests.conftest import SEQUENCE_BASE, kinesis_rec, order_change


class FailingStore(LakeStore):
    """A store whose writes fail for paths that contain `fail_on`, a given number of times."""

    def __init__(self, inner: LakeStore, fail_on: str = "", failures: int = 10**9) -> None:
        object.__setattr__(self, "filesystem", inner.filesystem)
        object.__setattr__(self, "base", inner.base)
        object.__setattr__(self, "uri", inner.uri)
        object.__setattr__(self, "fail_on", fail_on)
        object.__setattr__(self, "remaining", [failures])

    def write_atomic(self, relative: str, data) -> None:
        if self.fail_on in relative and self.remaining[0] > 0:
            self.remaining[0] -= 1
            raise OSError(f"simulated S3 503 SlowDown writing {relative}")
        super().write_atomic(relative, data)


def test_a_failing_store_reports_the_first_sequence_number_for_retry(settings, store, read) -> None:
    records = [kinesis_rec(n) for n in range(5)]
    failing = FailingStore(store)

    response = kinesis.handler({"Records": records}, None, settings=settings, store=failing)

    assert response == {"batchItemFailures": [{"itemIdentifier": str(SEQUENCE_BASE)}]}
    assert store.list_files("bronze") == []

    # Lambda retries from there; this time the store works, and every record lands once.
    assert kinesis.handler({"Records": records}, None, settings=settings, store=store) == {
        "batchItemFailures": []
    }
    assert read("bronze", "events").num_rows == 5


def test_bronze_failing_after_quarantine_landed_is_retried_without_doubling(
    settings, store, read
) -> None:
    broken = kinesis_rec(9, b"not json")
    records = [kinesis_rec(1), broken, kinesis_rec(2)]
    failing = FailingStore(store, fail_on="bronze/", failures=1)

    first = kinesis.handler({"Records": records}, None, settings=settings, store=failing)
    assert first["batchItemFailures"]
    second = kinesis.handler({"Records": records}, None, settings=settings, store=failing)
    assert second == {"batchItemFailures": []}

    assert read("bronze", "events").num_rows == 2
    assert read("quarantine", "events").num_rows == 1  # rewritten, not added


def test_dynamodb_partial_failure_names_the_first_sequence(settings, store) -> None:
    records = [order_change(n) for n in range(3)]
    response = dynamodb_streams.handler(
        {"Records": records}, None, settings=settings, store=FailingStore(store)
    )
    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]
    }


def test_writes_are_atomic_and_leave_no_temporary_files(store, tmp_path) -> None:
    store.write_atomic("bronze/x/dt=2026-11-20/a.parquet", b"first")
    store.write_atomic("bronze/x/dt=2026-11-20/a.parquet", b"second")
    folder = tmp_path / "lake" / "bronze" / "x" / "dt=2026-11-20"
    assert [p.name for p in folder.iterdir()] == ["a.parquet"]
    assert (folder / "a.parquet").read_bytes() == b"second"


def test_a_failed_local_write_leaves_the_old_file_whole(store, tmp_path, monkeypatch) -> None:
    store.write_atomic("bronze/x/dt=2026-11-20/a.parquet", b"complete")

    def broken_replace(*_args) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("ingestion.store.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.write_atomic("bronze/x/dt=2026-11-20/a.parquet", b"half")
    folder = tmp_path / "lake" / "bronze" / "x" / "dt=2026-11-20"
    assert [p.name for p in folder.iterdir()] == ["a.parquet"]
    assert (folder / "a.parquet").read_bytes() == b"complete"


def _one_event_table(ingestion_time: datetime) -> pa.Table:
    row = dict.fromkeys(EVENTS.names)
    row.update(
        event_id="e",
        event_type="t",
        user_id="u",
        event_time=ingestion_time,
        stream="events",
        shard_id="s",
        sequence_number="1",
        ingestion_time=ingestion_time,
    )
    return pa.Table.from_pylist([row], schema=EVENTS)


def test_a_retry_after_midnight_does_not_land_the_batch_again(store) -> None:
    identity = BatchIdentity("events", "shardId-1", "1", "9")
    before = datetime(2026, 11, 20, 23, 59, 50, tzinfo=UTC)
    after = before + timedelta(seconds=20)
    land_batch(store, identity, _one_event_table(before), QUARANTINE.empty_table(), before, "zstd")
    result = land_batch(
        store, identity, _one_event_table(after), QUARANTINE.empty_table(), after, "zstd"
    )
    assert result.skipped_as_already_landed
    assert store.list_files("bronze") == [f"bronze/events/dt=2026-11-20/{identity.file_name}"]


def test_batch_identity_orders_sequence_numbers_numerically() -> None:
    identity = BatchIdentity.of("events", "shardId-000000000001", ["100", "99", "1000", "0099"])
    assert (identity.first_sequence, identity.last_sequence) == ("99", "1000")
    assert identity.file_name == "shardId-000000000001-99-1000.parquet"
    assert sorted(["100", "99", "1000"], key=sequence_key) == ["99", "100", "1000"]
