"""The DynamoDB Streams handler: inserts, updates and deletes land; bad records are quarantined."""

from __future__ import annotations

import json
from decimal import Decimal

from ingestion import dynamodb_streams
from ingestion.schemas import DYNAMODB_CHANGES
from tests.conftest import order_change


def land(records: list, settings) -> dict:
    return dynamodb_streams.handler({"Records": records}, None, settings=settings)


def test_insert_modify_and_remove_all_land(settings, read) -> None:
    records = [
        order_change(1, "INSERT"),
        order_change(1, "MODIFY", sequence=2, status="paid"),
        order_change(1, "REMOVE", sequence=3),
    ]
    assert land(records, settings) == {"batchItemFailures": []}

    bronze = read("bronze", "orders")
    assert bronze.schema.equals(DYNAMODB_CHANGES, check_metadata=False)
    rows = sorted(bronze.to_pylist(), key=lambda r: int(r["sequence_number"]))
    assert [r["event_name"] for r in rows] == ["INSERT", "MODIFY", "REMOVE"]
    assert [r["is_delete"] for r in rows] == [False, False, True]
    remove = rows[2]
    assert json.loads(remove["keys"]) == {"order_id": "o-00001"}
    assert remove["new_image"] is None
    assert json.loads(remove["old_image"])["status"] == "placed"
    assert json.loads(rows[1]["new_image"])["status"] == "paid"
    assert rows[0]["table_name"] == "orders"
    assert rows[0]["approximate_creation_time"].isoformat() == "2026-11-20T12:00:00+00:00"


def test_numbers_land_exactly(settings, read) -> None:
    land([order_change(1, amount=Decimal("12345678901234567890.0123456789"))], settings)
    (row,) = read("bronze", "orders").to_pylist()
    image = json.loads(row["new_image"], parse_float=Decimal)
    assert image["amount"] == Decimal("12345678901234567890.0123456789")


def test_a_new_attribute_lands_without_breaking_anything(settings, read) -> None:
    land([order_change(1)], settings)
    land([order_change(2, gift_wrap=True, tags={"rush", "fragile"}, notes=None)], settings)

    rows = {json.loads(r["keys"])["order_id"]: r for r in read("bronze", "orders").to_pylist()}
    newer = json.loads(rows["o-00002"]["new_image"])
    assert newer["gift_wrap"] is True
    assert sorted(newer["tags"]) == ["fragile", "rush"]
    assert "gift_wrap" not in json.loads(rows["o-00001"]["new_image"])


def test_each_table_lands_under_its_own_source(settings, read) -> None:
    customer = order_change(5)
    customer["eventSourceARN"] = customer["eventSourceARN"].replace(
        "table/orders", "table/customers"
    )
    land([order_change(1), customer], settings)
    assert read("bronze", "orders").num_rows == 1
    assert read("bronze", "customers").num_rows == 1


def test_a_table_named_in_punctuation_only_gets_a_folder_of_its_own(settings, store, read) -> None:
    dashes = order_change(6)
    dashes["eventSourceARN"] = dashes["eventSourceARN"].replace("table/orders", "table/---")
    assert land([dashes], settings) == {"batchItemFailures": []}
    assert read("bronze", "source_2d2d2d").num_rows == 1
    assert all("//" not in path for path in store.list_files("bronze"))


def test_ttl_expiry_is_marked_by_its_principal(settings, read) -> None:
    expired = order_change(1, "REMOVE")
    expired["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    land([expired], settings)
    (row,) = read("bronze", "orders").to_pylist()
    assert row["user_identity"] == "dynamodb.amazonaws.com"
    assert row["is_delete"] is True


def test_bad_records_are_quarantined_with_reasons_and_the_rest_lands(settings, read) -> None:
    unknown_type = order_change(10)
    unknown_type["dynamodb"]["NewImage"]["weird"] = {"X": "1"}
    remove_without_keys = order_change(11, "REMOVE")
    del remove_without_keys["dynamodb"]["Keys"]
    bad_number = order_change(12)
    bad_number["dynamodb"]["NewImage"]["amount"] = {"N": "ten"}
    unknown_event = order_change(13)
    unknown_event["eventName"] = "UPSERT"
    no_sequence = order_change(14)
    del no_sequence["dynamodb"]["SequenceNumber"]
    bad_time = order_change(15)
    bad_time["dynamodb"]["ApproximateCreationDateTime"] = "yesterday"
    no_table = order_change(16)
    no_table["eventSourceARN"] = "arn:aws:sqs:us-east-1:1:queue"
    records = [
        order_change(1),
        unknown_type,
        remove_without_keys,
        bad_number,
        unknown_event,
        no_sequence,
        bad_time,
        no_table,
        order_change(2),
    ]

    assert land(records, settings) == {"batchItemFailures": []}

    assert sorted(
        json.loads(k)["order_id"] for k in read("bronze", "orders").column("keys").to_pylist()
    ) == ["o-00001", "o-00002"]
    reasons = sorted(read("quarantine", "orders").column("reason").to_pylist())
    assert reasons == sorted(
        [
            "unknown DynamoDB type descriptor 'X' at NewImage.weird",
            "REMOVE without keys",
            "invalid number 'ten' at NewImage.amount",
            "unknown eventName 'UPSERT'",
            "dynamodb.SequenceNumber missing or not a decimal number",
            "unparseable ApproximateCreationDateTime 'yesterday'",
        ]
    )
    (unknown,) = read("quarantine", "unknown").to_pylist()
    assert unknown["reason"] == "eventSourceARN names no DynamoDB table stream"
    assert json.loads(unknown["original_bytes"]) == no_table  # the original record, whole


def test_redelivery_rewrites_the_same_file(settings, store, read) -> None:
    batch = [order_change(n) for n in range(5)]
    land(batch, settings)
    land(batch, settings)
    assert len(store.list_files("bronze/orders")) == 1
    assert read("bronze", "orders").num_rows == 5
