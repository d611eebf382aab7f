"""Lambda entry point for Kinesis: product-analytics events to Bronze Parquet.

Entry point: ``ingestion.kinesis.handler(event, context)``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.invocation import Clock, LandingGroup, run_handler, utc_now
from ingestion.kinesis_decode import KinesisColumns, decode_events
from ingestion.landing import BatchIdentity, content_digest, is_decimal, quarantine_table
from ingestion.schemas import EVENTS, QUARANTINE
from ingestion.settings import Settings
from ingestion.store import LakeStore

_STREAM_IN_ARN = re.compile(r":stream/([^/]+)")
UNKNOWN_SOURCE = "unknown"


def handler(
    event: dict[str, Any],
    context: Any,
    *,
    settings: Settings | None = None,
    store: LakeStore | None = None,
    clock: Clock = utc_now,
) -> dict[str, list[dict[str, str]]]:
    return run_handler("kinesis", event, context, build_groups, settings, store, clock)


def stream_name(event_source_arn: str) -> str | None:
    match = _STREAM_IN_ARN.search(event_source_arn or "")
    return match.group(1) if match else None


def _envelope_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"record is {type(record).__name__}, not an object"
    kinesis = record.get("kinesis")
    if not isinstance(kinesis, dict):
        return "record has no kinesis object"
    for name in ("data", "sequenceNumber"):
        if not isinstance(kinesis.get(name), str):
            return f"kinesis.{name} missing or not a string"
    if not is_decimal(kinesis["sequenceNumber"]):
        return "kinesis.sequenceNumber is not a decimal number"
    partition_key = kinesis.get("partitionKey")
    if partition_key is not None and not isinstance(partition_key, str):
        return "kinesis.partitionKey is not a string"
    arrival = kinesis.get("approximateArrivalTimestamp")
    if arrival is not None and (isinstance(arrival, bool) or not isinstance(arrival, int | float)):
        return "kinesis.approximateArrivalTimestamp is not a number"
    # It lands as int64 microseconds: NaN, infinities and larger values do not fit.
    if arrival is not None and not abs(arrival) * 1_000_000 < 2**63:
        return "kinesis.approximateArrivalTimestamp is out of range"
    if (
        not isinstance(record.get("eventSourceARN"), str)
        or stream_name(record["eventSourceARN"]) is None
    ):
        return "eventSourceARN names no Kinesis stream"
    if not isinstance(record.get("eventID"), str):
        return "eventID missing"
    return None


_ENVELOPE = pa.struct(
    [
        pa.field(
            "kinesis",
            pa.struct(
                [
                    pa.field("data", pa.string()),
                    pa.field("sequenceNumber", pa.string()),
                    pa.field("partitionKey", pa.string()),
                    pa.field("approximateArrivalTimestamp", pa.float64()),
                ]
            ),
        ),
        pa.field("eventID", pa.string()),
        pa.field("eventSourceARN", pa.string()),
    ]
)


def _columns(records: list[Any]) -> KinesisColumns:
    """The envelope as Arrow columns, converted in C++ rather than record by record."""
    envelope = pa.array(records, _ENVELOPE)
    kinesis = envelope.field("kinesis")
    return KinesisColumns(
        data=kinesis.field("data"),
        sequence_number=kinesis.field("sequenceNumber"),
        partition_key=kinesis.field("partitionKey"),
        arrival_seconds=kinesis.field("approximateArrivalTimestamp"),
        event_id=envelope.field("eventID"),
        event_source_arn=envelope.field("eventSourceARN"),
    )


def _shard_of(record: dict[str, Any]) -> str:
    # eventID is "shardId-000000000006:49590338271490256608559692538361571095921575989136588898"
    return record["eventID"].partition(":")[0] or "shard"


def _single_clean_shard(columns: KinesisColumns, arn: str, shard: str) -> bool:
    """True when the envelope is whole and every record is from one stream and shard."""
    required = (columns.data, columns.sequence_number, columns.event_id, columns.event_source_arn)
    return (
        all(column.null_count == 0 for column in required)
        and pc.all(pc.equal(columns.event_source_arn, arn)).as_py()
        and pc.all(pc.starts_with(columns.event_id, f"{shard}:")).as_py()
        and pc.all(pc.match_substring_regex(columns.sequence_number, r"^\d+$")).as_py()
    )


def build_groups(
    records: list[Any], settings: Settings, ingestion_time: datetime
) -> list[LandingGroup]:
    """Split a batch by stream and shard (Lambda sends one shard per batch) and decode each."""
    # The fast path trusts the envelope Lambda builds; anything unexpected sends
    # the batch through the per-record check instead.
    try:
        first = records[0]
        arn, shard = first["eventSourceARN"], _shard_of(first)
        columns = _columns(records)
        if stream_name(arn) and _single_clean_shard(columns, arn, shard):
            return [_decode_group(columns, arn, shard, settings, ingestion_time)]
    except (KeyError, TypeError, AttributeError, pa.ArrowException):
        pass
    problems = [_envelope_problem(record) for record in records]
    by_shard: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record, problem in zip(records, problems, strict=True):
        if problem is None:
            by_shard.setdefault((record["eventSourceARN"], _shard_of(record)), []).append(record)
    groups = [
        _decode_group(_columns(members), arn, shard, settings, ingestion_time)
        for (arn, shard), members in by_shard.items()
    ]
    broken = [
        (record, problem)
        for record, problem in zip(records, problems, strict=True)
        if problem is not None
    ]
    if broken:
        groups.append(_broken_envelopes_group(broken, settings, ingestion_time))
    return groups


def _decode_group(
    columns: KinesisColumns,
    arn: str,
    shard: str,
    settings: Settings,
    ingestion_time: datetime,
) -> LandingGroup:
    stream = stream_name(arn) or UNKNOWN_SOURCE
    source = settings.source_for(stream)
    decoded = decode_events(
        columns,
        stream=stream,
        shard_id=shard,
        ingestion_time=ingestion_time,
        max_record_bytes=settings.max_record_bytes,
        source=source,
        contract=settings.contract_for(source),
    )
    return LandingGroup(
        identity=BatchIdentity.of(source, shard, columns.sequence_number),
        first_sequence_in_delivery=columns.sequence_number[0].as_py(),
        good=decoded.good,
        bad=decoded.bad,
    )


def _broken_envelopes_group(
    broken: list[tuple[Any, str]], settings: Settings, ingestion_time: datetime
) -> LandingGroup:
    """Records whose envelope is unusable still land, whole, in quarantine."""
    rows = []
    for record, problem in broken:
        kinesis = record.get("kinesis") if isinstance(record, dict) else None
        sequence = kinesis.get("sequenceNumber") if isinstance(kinesis, dict) else None
        arn = record.get("eventSourceARN") if isinstance(record, dict) else None
        rows.append(
            {
                "reason": f"malformed Kinesis record: {problem}",
                "sequence_number": sequence if isinstance(sequence, str) else None,
                "event_source_arn": arn if isinstance(arn, str) else None,
                "original_bytes": json.dumps(record, default=str).encode(),
            }
        )
    stream = next(
        (stream_name(row["event_source_arn"]) for row in rows if row["event_source_arn"]), None
    )
    source = settings.source_for(stream) if stream else UNKNOWN_SOURCE
    # Only decimal ones name the file: any other text could hold "/", ".." or NUL.
    sequences = [row["sequence_number"] for row in rows if is_decimal(row["sequence_number"])]
    identity = (
        BatchIdentity.of(source, "malformed", sequences)
        if sequences
        else BatchIdentity(
            source, "malformed", "0", content_digest(row["original_bytes"] for row in rows)
        )
    )
    return LandingGroup(
        identity=identity,
        first_sequence_in_delivery=sequences[0] if sequences else "0",
        good=EVENTS.empty_table(),
        bad=quarantine_table(source, rows, ingestion_time).cast(QUARANTINE),
    )
