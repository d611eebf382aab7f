"""Quarantined records landed again, once a fix makes them valid.

A record the handlers cannot land goes to `quarantine/<source>/dt=<day>/` with
its original bytes and the reason (ingestion/schemas.py QUARANTINE). After the
fix (an event contract that names the producer's fields, a decoder that reads
a new type), `streamlake replay-quarantine` turns each quarantine file back
into the stream records it came from and decodes them with the handlers' own
code and today's settings: what is valid now lands in Bronze, what is still
invalid goes to quarantine again with today's reason. The next transform
builds the new Bronze like any other (Silver keeps the first delivery of an
event and the newest version of an item, so replayed records never replace
newer ones).

Nothing is lost on the way. A file being replayed is first moved to
`quarantine/<source>/_replaying/...`; once its records have landed it moves to
`quarantine/<source>/_replayed/...`, where it stays, out of the quarantine
table (which reads `quarantine/<source>/dt=*/`). A replay killed half way
leaves the file in `_replaying/`, and the next replay takes it up again:
landing is idempotent, the replayed batch's Bronze file has a name of its own
(`<shard>-replayed-<first>-<last>.parquet`), so it never overwrites the
original batch's file, and a second landing rewrites the same bytes.

What a replay cannot restore: Kinesis' arrival time is not kept in quarantine,
so a replayed event's `arrival_time` is when it was quarantined. A Kinesis
payload that was not valid base64 is kept as the text that came, and fails again.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ingestion import dynamodb_streams, kinesis
from ingestion.invocation import LandingGroup, land_groups
from ingestion.observability import configure, metrics
from ingestion.settings import Settings
from ingestion.store import LakeStore

REPLAYING = "_replaying"
REPLAYED = "_replayed"
# Bronze files of replayed batches: beside, never over, the original batch's file.
REPLAYED_SHARD_SUFFIX = "-replayed"
_KINESIS_SOURCE_KIND = "kinesis"


@dataclass
class ReplayReport:
    files: int = 0
    records: int = 0
    landed: int = 0
    quarantined_again: int = 0
    replayed_files: list[str] = field(default_factory=list)


def quarantine_files(
    store: LakeStore, source: str | None = None, day: str | None = None
) -> list[str]:
    """Quarantine files waiting for a replay: quarantine/<source>/dt=<day>/<name>.parquet,
    and any a killed replay left in _replaying/."""
    found = []
    for path in store.list_files("quarantine", ".parquet"):
        parts = path.split("/")
        if source and parts[1] != source:
            continue
        if len(parts) == 4 and parts[2].startswith("dt="):
            waiting = parts[2]
        elif len(parts) == 5 and parts[2] == REPLAYING:
            waiting = parts[3]
        else:
            continue
        if day and waiting != f"dt={day}":
            continue
        found.append(path)
    return found


def replay(
    store: LakeStore,
    settings: Settings,
    source: str | None = None,
    day: str | None = None,
    on_file: Callable[[str, int, int], None] = lambda path, done, total: None,
) -> ReplayReport:
    """Replay the quarantine files of `source` (all when None) and `day` (all when None)."""
    configure(settings)
    report = ReplayReport()
    waiting = quarantine_files(store, source, day)
    for number, path in enumerate(waiting, start=1):
        replaying = _aside(path, REPLAYING)
        if path != replaying:
            store.move(path, replaying)
        rows = pq.read_table(pa.BufferReader(store.read_bytes(replaying))).to_pylist()
        landed, quarantined = _land_again(rows, store, settings)
        store.move(replaying, _aside(replaying, REPLAYED))
        report.files += 1
        report.records += len(rows)
        report.landed += landed
        report.quarantined_again += quarantined
        report.replayed_files.append(_aside(replaying, REPLAYED))
        on_file(path, number, len(waiting))
    return report


def _aside(path: str, folder: str) -> str:
    """quarantine/<source>/[<_replaying>/]dt=<day>/<name> under quarantine/<source>/<folder>/."""
    parts = path.split("/")
    return "/".join([parts[0], parts[1], folder, *parts[-2:]])


def _land_again(
    rows: list[dict[str, Any]], store: LakeStore, settings: Settings
) -> tuple[int, int]:
    """The rows' records through the handlers' decoding and landing; (landed, quarantined)."""
    landed = quarantined = 0
    for kind, records in _records_by_kind(rows).items():
        build = (
            kinesis.build_groups if kind == _KINESIS_SOURCE_KIND else dynamodb_streams.build_groups
        )
        groups = [_renamed(group) for group in build(records, settings, datetime.now(UTC))]
        landed += sum(group.good.num_rows for group in groups)
        quarantined += sum(group.bad.num_rows for group in groups)
        answer = land_groups(f"{kind}_replay", len(records), groups, store, settings, 0.0)
        # The handlers' metrics (and their alarms) count deliveries, not replays.
        metrics.clear_metrics()
        if answer["batchItemFailures"]:
            raise OSError(f"replayed records could not be written to the lake: {answer}")
    return landed, quarantined


def _renamed(group: LandingGroup) -> LandingGroup:
    identity = replace(group.identity, shard=group.identity.shard + REPLAYED_SHARD_SUFFIX)
    return replace(group, identity=identity)


def _records_by_kind(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each quarantined row as the stream record it came in (by the source's kind)."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        kind, record = _record(row)
        by_kind.setdefault(kind, []).append(record)
    return by_kind


def _record(row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    original: bytes = row["original_bytes"]
    arn = row.get("event_source_arn") or ""
    if ":dynamodb:" in arn or row["reason"].startswith("malformed Kinesis record"):
        # DynamoDB records and broken Kinesis envelopes were kept whole, as JSON.
        record = _json_object(original)
        if record is not None:
            kind = _KINESIS_SOURCE_KIND if ":kinesis:" in arn or "kinesis" in record else "dynamodb"
            return kind, record
    sequence = row.get("sequence_number") or "0"
    arrived = row["ingestion_time"]
    return _KINESIS_SOURCE_KIND, {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": row.get("partition_key") or "",
            "sequenceNumber": sequence,
            # The decoded payload was kept; one that was not base64 kept its text.
            "data": base64.b64encode(original).decode()
            if "invalid base64" not in row["reason"]
            else original.decode("utf-8", "replace"),
            "approximateArrivalTimestamp": arrived.timestamp() if arrived else 0,
        },
        "eventSource": "aws:kinesis",
        "eventID": f"{row.get('shard_id') or 'shardId-000000000000'}:{sequence}",
        "eventSourceARN": arn,
    }


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
