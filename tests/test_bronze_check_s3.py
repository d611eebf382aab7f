"""The Bronze check on s3:// (moto's S3 server): a bad object moves to quarantine, whole."""

from __future__ import annotations

from flows.bronze_check import check_bronze, quarantined_files
from ingestion import kinesis
from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.conftest import kinesis_rec, read_area
from tests.test_s3_landing import s3_endpoint, s3_settings  # noqa: F401  (fixtures)


def test_an_unreadable_object_on_s3_is_quarantined_and_the_rest_kept(s3_settings: Settings):  # noqa: F811
    kinesis.handler({"Records": [kinesis_rec(n) for n in range(10)]}, None, settings=s3_settings)
    store = LakeStore.from_settings(s3_settings)
    good = store.list_files("bronze/events", ".parquet")[0]
    bad = good.replace(".parquet", "-truncated.parquet")
    store.write_atomic(bad, store.read_bytes(good)[:300])

    result = check_bronze(store)

    assert [q.bronze_path for q in result.quarantined] == [bad]
    assert result.quarantined[0].reason.startswith("unreadable Parquet")
    assert not store.exists(bad)
    assert store.read_bytes(result.quarantined[0].quarantine_path) == store.read_bytes(good)[:300]
    assert quarantined_files(store) == result.quarantined
    assert read_area(store, "bronze", "events").num_rows == 10
    assert check_bronze(store).skipped == 1, "the good object is not read again"
