"""The same handlers against s3:// (moto's S3 in server mode on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from ingestion import dynamodb_streams, kinesis
from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.conftest import kinesis_rec, order_change, read_area

BUCKET = "streamlake-test-lake"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_settings(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    return Settings(lake_root=f"s3://{BUCKET}/lake", s3_endpoint_url=s3_endpoint)


def _keys(settings: Settings) -> list[str]:
    client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name="us-east-1")
    return sorted(i["Key"] for i in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_kinesis_batch_lands_on_s3_and_redelivery_keeps_one_object(s3_settings) -> None:
    batch = [kinesis_rec(n) for n in range(25)] + [kinesis_rec(99, b"{broken")]
    for _ in range(2):
        assert kinesis.handler({"Records": batch}, None, settings=s3_settings) == {
            "batchItemFailures": []
        }

    keys = _keys(s3_settings)
    assert len(keys) == 2
    assert keys[0].startswith("lake/bronze/events/dt=")
    assert keys[1].startswith("lake/quarantine/events/dt=")
    store = LakeStore.from_settings(s3_settings)
    assert read_area(store, "bronze", "events").num_rows == 25
    assert read_area(store, "quarantine", "events").column("reason").to_pylist() == [
        "invalid JSON in payload"
    ]


def test_dynamodb_changes_land_on_s3(s3_settings) -> None:
    records = [order_change(1), order_change(1, "REMOVE", sequence=2)]
    dynamodb_streams.handler({"Records": records}, None, settings=s3_settings)
    store = LakeStore.from_settings(s3_settings)
    assert read_area(store, "bronze", "orders").column("is_delete").to_pylist() == [False, True]


def test_a_missing_bucket_is_reported_for_retry_not_lost(s3_settings) -> None:
    settings = s3_settings.model_copy(update={"lake_root": "s3://no-such-bucket/lake"})
    response = kinesis.handler({"Records": [kinesis_rec(1)]}, None, settings=settings)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": kinesis_rec(1)["kinesis"]["sequenceNumber"]}]
    }
