"""The Parquet schema of every Bronze source, declared once.

The handlers write these schemas, the tests check files against them, and the
Glue tables of the aws target are generated from them.
"""

from __future__ import annotations

import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")

# Product-analytics events from Kinesis: typed event columns, free-form JSON kept
# as text, and where in the stream each record came from.
EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("session_id", pa.string()),
        pa.field("event_time", UTC_MICROS, nullable=False),
        pa.field("properties", pa.string(), metadata={"format": "json"}),
        pa.field("geo_country", pa.string()),
        pa.field("geo_region", pa.string()),
        pa.field("geo_city", pa.string()),
        pa.field("device_type", pa.string()),
        pa.field("device_os", pa.string()),
        pa.field("device_browser", pa.string()),
        pa.field(
            "extra_fields",
            pa.string(),
            metadata={"format": "json", "why": "top-level fields the schema does not know yet"},
        ),
        pa.field("stream", pa.string(), nullable=False),
        pa.field("shard_id", pa.string(), nullable=False),
        pa.field("sequence_number", pa.string(), nullable=False),
        pa.field("partition_key", pa.string()),
        pa.field("arrival_time", UTC_MICROS),
        pa.field("ingestion_time", UTC_MICROS, nullable=False),
    ]
)

# One DynamoDB Streams change record. The images are JSON text so that a new
# attribute in the application never changes the Bronze schema.
DYNAMODB_CHANGES = pa.schema(
    [
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("event_name", pa.string(), nullable=False),
        pa.field("is_delete", pa.bool_(), nullable=False),
        pa.field("sequence_number", pa.string(), nullable=False),
        pa.field("approximate_creation_time", UTC_MICROS),
        pa.field("keys", pa.string(), nullable=False, metadata={"format": "json"}),
        pa.field("new_image", pa.string(), metadata={"format": "json"}),
        pa.field("old_image", pa.string(), metadata={"format": "json"}),
        pa.field("size_bytes", pa.int64()),
        pa.field("stream_view_type", pa.string()),
        pa.field("user_identity", pa.string()),
        pa.field("event_source_arn", pa.string()),
        pa.field("ingestion_time", UTC_MICROS, nullable=False),
    ]
)

# A record that could not land, with its original bytes and the reason.
QUARANTINE = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("sequence_number", pa.string()),
        pa.field("partition_key", pa.string()),
        pa.field("shard_id", pa.string()),
        pa.field("event_source_arn", pa.string()),
        pa.field("original_bytes", pa.binary(), nullable=False),
        pa.field("ingestion_time", UTC_MICROS, nullable=False),
    ]
)

# Columns worth dictionary-encoding: few distinct values per file.
DICTIONARY_COLUMNS = {
    "event_type",
    "geo_country",
    "geo_region",
    "geo_city",
    "device_type",
    "device_os",
    "device_browser",
    "stream",
    "shard_id",
    "table_name",
    "event_name",
    "stream_view_type",
    "user_identity",
    "event_source_arn",
    "source",
    "reason",
}

# Min/max statistics only where readers prune on them: the time columns (watermarks
# and date filters) and a few low-cardinality filters. Writing them for every
# string column costs a quarter of the write time and prunes nothing.
STATISTICS_COLUMNS = {
    "event_time",
    "arrival_time",
    "ingestion_time",
    "approximate_creation_time",
    "event_type",
    "event_name",
    "is_delete",
    "source",
    "reason",
}
