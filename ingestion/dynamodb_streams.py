"""Lambda entry point for DynamoDB Streams: item changes to Bronze Parquet.

Entry point: ``ingestion.dynamodb_streams.handler(event, context)``.

Every change lands, REMOVE included (flagged is_delete, with its keys and old
image), so that deletes reach Silver and Gold. Batches hold at most 1,000
records, so decoding record by record is cheap next to the Parquet write.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from ingestion.dynamodb_decode import DynamoDecodeError, image_to_json
from ingestion.invocation import Clock, LandingGroup, run_handler, utc_now
from ingestion.landing import BatchIdentity, content_digest, is_decimal, quarantine_table
from ingestion.schemas import DYNAMODB_CHANGES
from ingestion.settings import Settings
from ingestion.store import LakeStore

_TABLE_IN_ARN = re.compile(r":table/([^/]+)/stream/([^/]+)$")
EVENT_NAMES = ("INSERT", "MODIFY", "REMOVE")
UNKNOWN_SOURCE = "unknown"


def handler(
    event: dict[str, Any],
    context: Any,
    *,
    settings: Settings | None = None,
    store: LakeStore | None = None,
    clock: Clock = utc_now,
) -> dict[str, list[dict[str, str]]]:
    return run_handler("dynamodb_streams", event, context, build_groups, settings, store, clock)


def table_and_stream_label(event_source_arn: Any) -> tuple[str, str] | None:
    if not isinstance(event_source_arn, str):
        return None
    match = _TABLE_IN_ARN.search(event_source_arn)
    return (match.group(1), match.group(2)) if match else None


def _text(value: Any) -> str | None:
    """Optional metadata of the wrong type is left out rather than failing the batch."""
    return value if isinstance(value, str) else None


def _int64(value: Any) -> int | None:
    in_range = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
    return value if in_range else None


class BadRecord(ValueError):
    """A record that goes to quarantine, with the reason as its message."""


def _creation_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRecord(f"unparseable ApproximateCreationDateTime {value!r:.40}")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise BadRecord(f"unparseable ApproximateCreationDateTime {value!r:.40}") from None


def decode_record(
    record: Any, table_name: str, ingestion_time: datetime, max_record_bytes: int, size: int
) -> dict[str, Any]:
    """One stream record as a Bronze row; raises BadRecord with the reason."""
    if size > max_record_bytes:
        raise BadRecord(f"oversize record: {size} bytes, limit {max_record_bytes}")
    event_name = record.get("eventName")
    if event_name not in EVENT_NAMES:
        raise BadRecord(f"unknown eventName {event_name!r:.40}")
    change = record.get("dynamodb")
    if not isinstance(change, dict):
        raise BadRecord("record has no dynamodb object")
    sequence = change.get("SequenceNumber")
    if not is_decimal(sequence):
        raise BadRecord("dynamodb.SequenceNumber missing or not a decimal number")
    keys = change.get("Keys")
    if not isinstance(keys, dict) or not keys:
        raise BadRecord(f"{event_name} without keys")
    try:
        keys_json = image_to_json(keys, "Keys")
        new_image = image_to_json(change["NewImage"], "NewImage") if "NewImage" in change else None
        old_image = image_to_json(change["OldImage"], "OldImage") if "OldImage" in change else None
    except DynamoDecodeError as error:
        raise BadRecord(str(error)) from None
    identity = record.get("userIdentity")
    return {
        "table_name": table_name,
        "event_id": str(record.get("eventID") or f"{table_name}:{sequence}"),
        "event_name": event_name,
        "is_delete": event_name == "REMOVE",
        "sequence_number": sequence,
        "approximate_creation_time": _creation_time(change.get("ApproximateCreationDateTime")),
        "keys": keys_json,
        "new_image": new_image,
        "old_image": old_image,
        "size_bytes": _int64(change.get("SizeBytes")),
        "stream_view_type": _text(change.get("StreamViewType")),
        # TTL expiries come from the service principal: a delete nobody asked for.
        "user_identity": _text(identity.get("principalId")) if isinstance(identity, dict) else None,
        "event_source_arn": record.get("eventSourceARN"),
        "ingestion_time": ingestion_time,
    }


def _sequence_of(record: Any) -> str | None:
    change = record.get("dynamodb") if isinstance(record, dict) else None
    sequence = change.get("SequenceNumber") if isinstance(change, dict) else None
    return sequence if is_decimal(sequence) else None


class _Group:
    def __init__(self, source: str, shard: str) -> None:
        self.source, self.shard = source, shard
        self.rows: list[dict[str, Any]] = []
        self.bad: list[dict[str, Any]] = []
        self.sequences: list[str] = []


def build_groups(
    records: list[Any], settings: Settings, ingestion_time: datetime
) -> list[LandingGroup]:
    groups: dict[tuple[str, str], _Group] = {}
    for record in records:
        original = json.dumps(record, separators=(",", ":"), default=str).encode()
        located = table_and_stream_label(
            record.get("eventSourceARN") if isinstance(record, dict) else None
        )
        table, label = located if located else (UNKNOWN_SOURCE, "malformed")
        source = settings.source_for(table) if located else UNKNOWN_SOURCE
        group = groups.setdefault((source, label), _Group(source, label))
        sequence = _sequence_of(record)
        if sequence:
            group.sequences.append(sequence)
        try:
            if not isinstance(record, dict):
                raise BadRecord(f"record is {type(record).__name__}, not an object")
            if not located:
                raise BadRecord("eventSourceARN names no DynamoDB table stream")
            row = decode_record(
                record, table, ingestion_time, settings.max_record_bytes, len(original)
            )
            group.rows.append(row)
        except BadRecord as error:
            group.bad.append(
                {
                    "reason": str(error),
                    "sequence_number": sequence,
                    "shard_id": label,
                    "event_source_arn": _text(record.get("eventSourceARN"))
                    if isinstance(record, dict)
                    else None,
                    "original_bytes": original,
                }
            )
    return [_landing_group(group, ingestion_time) for group in groups.values()]


def _landing_group(group: _Group, ingestion_time: datetime) -> LandingGroup:
    if group.sequences:
        identity = BatchIdentity.of(group.source, group.shard, group.sequences)
        first = group.sequences[0]
    else:  # not one usable sequence number: name the file for its content
        digest = content_digest(bad["original_bytes"] for bad in group.bad)
        identity = BatchIdentity(group.source, group.shard, "0", digest)
        first = "0"
    return LandingGroup(
        identity=identity,
        first_sequence_in_delivery=first,
        good=pa.Table.from_pylist(group.rows, schema=DYNAMODB_CHANGES),
        bad=quarantine_table(group.source, group.bad, ingestion_time),
    )
