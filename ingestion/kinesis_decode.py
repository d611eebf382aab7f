"""Vectorised decoding of a Kinesis batch into Bronze event rows.

The whole batch goes through one DuckDB query over Arrow columns: base64,
UTF-8, JSON parsing, type checks and timestamp parsing run column-wise in C++,
not record by record in Python. Each bad record comes out with its reason.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.schemas import EVENTS, QUARANTINE

KNOWN_FIELDS = (
    "event_id",
    "event_type",
    "user_id",
    "session_id",
    "event_time",
    "properties",
    "geo",
    "device",
)
_REQUIRED_TEXT = ("event_id", "event_type", "user_id", "event_time")
_OPTIONAL_OBJECTS = ("properties", "geo", "device")

_VALUES = json.dumps(
    {
        "event_id": "VARCHAR",
        "event_type": "VARCHAR",
        "user_id": "VARCHAR",
        "session_id": "VARCHAR",
        "event_time": "VARCHAR",
        "properties": "JSON",
        "geo": {"country": "VARCHAR", "region": "VARCHAR", "city": "VARCHAR"},
        "device": {"type": "VARCHAR", "os": "VARCHAR", "browser": "VARCHAR"},
    }
)
_KNOWN_LIST = "[" + ", ".join(f"'{name}'" for name in KNOWN_FIELDS) + "]"
_PATHS = "[" + ", ".join(f"'$.{name}'" for name in KNOWN_FIELDS) + "]"
_ABSENT = "'NULL'|NULL"  # how a JSON null and a missing key print in the type list
_EXPECTED_TYPES = {
    "event_id": "VARCHAR",
    "event_type": "VARCHAR",
    "user_id": "VARCHAR",
    "session_id": f"VARCHAR|{_ABSENT}",
    "event_time": "VARCHAR",
    "properties": f"OBJECT|{_ABSENT}",
    "geo": f"OBJECT|{_ABSENT}",
    "device": f"OBJECT|{_ABSENT}",
}
# One regular expression over the printed type list tells a well-formed payload
# from one that needs a reason: the detailed checks then run on bad rows only.
_WELL_FORMED_TYPES = (
    "^\\[" + ", ".join(f"({_EXPECTED_TYPES[n]})" for n in KNOWN_FIELDS) + "\\]$"
).replace("'", "''")


def _type_at(name: str) -> str:
    return f"coalesce(lower(types[{KNOWN_FIELDS.index(name) + 1}]), 'null')"


@lru_cache(maxsize=8)
def _query(max_record_bytes: int) -> str:
    """The decoding query, with its constants inlined: DuckDB's parameter binding
    costs more than the query itself at this size."""
    checks = [
        "when raw is null then 'invalid base64 in kinesis.data'",
        f"when octet_length(raw) > {max_record_bytes} then "
        f"'oversize record: ' || octet_length(raw) || ' bytes, limit ' || {max_record_bytes}",
        "when text is null then 'invalid UTF-8 in payload'",
        "when not json_valid(text) then 'invalid JSON in payload'",
        "when json_type(text) <> 'OBJECT' then "
        "'payload is JSON ' || lower(json_type(text)) || ', not an object'",
    ]
    for name in _REQUIRED_TEXT:
        checks.append(f"when {_type_at(name)} = 'null' then 'missing required field {name}'")
        checks.append(
            f"when {_type_at(name)} <> 'varchar' then "
            f"'field {name} must be a string, got ' || {_type_at(name)}"
        )
    for name in ("event_id", "user_id"):
        checks.append(f"when fields.{name} = '' then 'missing required field {name}'")
    checks.append(
        f"when {_type_at('session_id')} not in ('varchar', 'null') then "
        f"'field session_id must be a string, got ' || {_type_at('session_id')}"
    )
    for name in _OPTIONAL_OBJECTS:
        checks.append(
            f"when {_type_at(name)} not in ('object', 'null') then "
            f"'field {name} must be an object, got ' || {_type_at(name)}"
        )
    checks.append(
        "when event_time is null then 'unparseable event_time ' || to_json(fields.event_time)"
    )
    body = "\n                ".join(checks)
    return f"""
with decoded as (
    select data, try(from_base64(data)) as raw from batch
), texted as (
    select *, case when octet_length(raw) <= {max_record_bytes} then try(decode(raw)) end as text
    from decoded
), parsed as (
    select *,
        try(json_transform(text, '{_VALUES}')) as fields,
        try(json_type(text, {_PATHS})) as types
    from texted
), checked as (
    select *,
        -- DuckDB also reads 'infinity', BC dates and five-digit years: no event's time.
        try_cast(fields.event_time as timestamptz) as parsed_time,
        case when parsed_time between '0001-01-01 00:00:00+00' and '9999-12-31 23:59:59.999999+00'
            then parsed_time end as event_time,
        coalesce(
            regexp_full_match(types::varchar, '{_WELL_FORMED_TYPES}')
            and fields.event_id <> '' and fields.user_id <> '',
            false
        ) as well_formed
    from parsed
), reasoned as (
    select *,
        case when well_formed and event_time is not null then null else
            case
                {body}
                else 'payload could not be read'
            end
        end as reason
    from checked
)
select
    reason,
    fields.event_id as event_id,
    fields.event_type as event_type,
    fields.user_id as user_id,
    fields.session_id as session_id,
    event_time,
    fields.properties::varchar as properties,
    fields.geo.country as geo_country,
    fields.geo.region as geo_region,
    fields.geo.city as geo_city,
    fields.device.type as device_type,
    fields.device.os as device_os,
    fields.device.browser as device_browser,
    case when reason is null then not list_has_all({_KNOWN_LIST}, json_keys(text)) else false end
        as has_extra_fields,
    case when reason is not null then coalesce(raw, encode(data)) end as original_bytes
from reasoned
"""


@dataclass(frozen=True)
class KinesisColumns:
    """The envelope fields of a batch, one Arrow column each, in delivery order."""

    data: pa.Array
    sequence_number: pa.Array
    partition_key: pa.Array
    arrival_seconds: pa.Array
    event_id: pa.Array
    event_source_arn: pa.Array

    def __len__(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class DecodedEvents:
    good: pa.Table  # EVENTS schema
    bad: pa.Table  # QUARANTINE schema


class _Connection:
    """One in-memory DuckDB per process: a warm Lambda container reuses it."""

    _con: duckdb.DuckDBPyConnection | None = None

    @classmethod
    def get(cls) -> duckdb.DuckDBPyConnection:
        if cls._con is None:
            # Output rows are matched to the envelope columns by position, so
            # insertion order must hold (it is DuckDB's default; stated here on purpose).
            con = duckdb.connect(
                config={
                    "threads": 1,
                    "preserve_insertion_order": True,
                    "autoinstall_known_extensions": False,
                }
            )
            con.execute("set TimeZone = 'UTC'")
            cls._con = con
        return cls._con


def decode_events(
    columns: KinesisColumns,
    stream: str,
    shard_id: str,
    ingestion_time: datetime,
    max_record_bytes: int,
    source: str,
) -> DecodedEvents:
    """Decode one shard's records; pure apart from the in-memory DuckDB."""
    n = len(columns)
    batch = pa.table({"data": columns.data})
    con = _Connection.get()
    con.register("batch", batch)
    try:
        decoded = con.execute(_query(max_record_bytes)).to_arrow_table()
    finally:
        con.unregister("batch")

    utc = pa.timestamp("us", tz="UTC")
    reasons = decoded.column("reason")
    arrival_micros = pc.round(pc.multiply(pc.cast(columns.arrival_seconds, pa.float64()), 1e6))
    metadata = {
        "stream": pa.repeat(pa.scalar(stream, pa.string()), n),
        "shard_id": pa.repeat(pa.scalar(shard_id, pa.string()), n),
        "sequence_number": columns.sequence_number,
        "partition_key": columns.partition_key,
        "arrival_time": pc.cast(arrival_micros, pa.int64()).cast(utc),
        "ingestion_time": pa.repeat(pa.scalar(ingestion_time, utc), n),
    }
    payload_columns = {
        name: decoded.column(name) for name in EVENTS.names if name in decoded.column_names
    }
    is_good = pc.is_null(reasons)
    payload_columns["extra_fields"] = _extra_fields(decoded, columns.data, is_good)
    good = pa.table({**payload_columns, **metadata}).select(EVENTS.names)
    if reasons.null_count == n:
        return DecodedEvents(good=good.cast(EVENTS), bad=QUARANTINE.empty_table())

    bad = pa.table(
        {
            "source": pa.repeat(pa.scalar(source, pa.string()), n),
            "reason": reasons,
            "sequence_number": columns.sequence_number,
            "partition_key": columns.partition_key,
            "shard_id": metadata["shard_id"],
            "event_source_arn": columns.event_source_arn,
            "original_bytes": decoded.column("original_bytes"),
            "ingestion_time": metadata["ingestion_time"],
        }
    ).filter(pc.invert(is_good))
    return DecodedEvents(good=good.filter(is_good).cast(EVENTS), bad=bad.cast(QUARANTINE))


def _extra_fields(decoded: pa.Table, data: pa.Array, is_good: pa.Array) -> pa.Array:
    """Top-level fields the schema does not know, as JSON text, so none is lost.

    Producers rarely add fields, so this runs per record only for the few rows
    that have them.
    """
    flags = pc.and_(decoded.column("has_extra_fields"), is_good)
    if not pc.any(flags).as_py():
        return pa.nulls(len(decoded), pa.string())

    values: list[str | None] = [None] * len(decoded)
    for position in pc.indices_nonzero(flags).to_pylist():
        payload = json.loads(base64.b64decode(data[position].as_py()))
        extra = {key: value for key, value in payload.items() if key not in KNOWN_FIELDS}
        values[position] = json.dumps(extra, ensure_ascii=False, separators=(",", ":"))
    return pa.array(values, pa.string())
