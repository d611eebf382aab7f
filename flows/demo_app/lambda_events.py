"""Lambda event payloads exactly as AWS delivers them for Kinesis and DynamoDB Streams."""

from __future__ import annotations

import base64
from datetime import datetime
from decimal import Decimal
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"


def kinesis_stream_arn(stream: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}"


def dynamodb_stream_arn(table: str, label: str = "2026-01-01T00:00:00.000") -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}/stream/{label}"


def kinesis_record(
    data: bytes,
    *,
    stream: str,
    shard_id: str,
    sequence_number: str,
    partition_key: str,
    arrival: datetime,
) -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(data).decode("ascii"),
            "approximateArrivalTimestamp": round(arrival.timestamp(), 3),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/streamlake-ingestion",
        "awsRegion": REGION,
        "eventSourceARN": kinesis_stream_arn(stream),
    }


def to_attribute(value: Any) -> dict[str, Any]:
    """A Python value in DynamoDB's typed JSON, the way the stream shows it."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | Decimal):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes):
        return {"B": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {"M": {key: to_attribute(item) for key, item in value.items()}}
    if isinstance(value, list):
        return {"L": [to_attribute(item) for item in value]}
    if isinstance(value, set | frozenset):
        items = sorted(value)
        if all(isinstance(item, str) for item in items):
            return {"SS": items}
        return {"NS": [str(item) for item in items]}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")


def to_image(item: dict[str, Any]) -> dict[str, Any]:
    return {key: to_attribute(value) for key, value in item.items()}


def dynamodb_record(
    *,
    table: str,
    event_name: str,
    keys: dict[str, Any],
    new_item: dict[str, Any] | None,
    old_item: dict[str, Any] | None,
    sequence_number: str,
    created: datetime,
    ttl_expiry: bool = False,
) -> dict[str, Any]:
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": int(created.timestamp()),
        "Keys": to_image(keys),
        "SequenceNumber": sequence_number,
        "SizeBytes": 0,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new_item is not None:
        change["NewImage"] = to_image(new_item)
    if old_item is not None:
        change["OldImage"] = to_image(old_item)
    change["SizeBytes"] = len(str(change))
    record = {
        "eventID": f"{table}-{sequence_number}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": change,
        "eventSourceARN": dynamodb_stream_arn(table),
    }
    if ttl_expiry:
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return record
