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
    select position, data, try(from_base64(data)) as raw from batch
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
        try_cast(fields.event_time as timestamptz) as event_time,
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
    position,
    reason,
    fields.event_id as event_id,
    fields.event_type as event_type,
    fields.user_id as user_id,
    fields.session_id as session_id,
    event_time,
    fields.properties::varchar as properties,
    fields.geo as geo,
    fields.device as device,
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
            con = duckdb.connect(config={"threads": 1, "autoinstall_known_extensions": False})
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
    batch = pa.table({"position": pa.array(range(n), pa.int32()), "data": columns.data})
    con = _Connection.get()
    con.register("batch", batch)
    try:
        decoded = con.execute(_query(max_record_bytes)).to_arrow_table()
    finally:
        con.unregister("batch")
    # DuckDB returns rows in input order for this plain projection; sort anyway
    # only if it ever did not, since the metadata columns are matched by position.
    positions = decoded.column("position")
    if not pc.all(pc.equal(positions, pa.array(range(n), pa.int32()))).as_py():
        decoded = decoded.sort_by("position")

    is_bad = pc.is_valid(decoded.column("reason"))
    is_good = pc.invert(is_bad)
    arrival = pc.cast(
        pc.round(pc.multiply(pc.cast(columns.arrival_seconds, pa.float64()), 1_000_000)),
        pa.int64(),
    ).cast(pa.timestamp("us", tz="UTC"))
    n_good = n - pc.sum(is_bad.cast(pa.int32())).as_py() if n else 0

    extra = _extra_fields(decoded, columns.data, is_good)
    geo = decoded.column("geo").combine_chunks()
    device = decoded.column("device").combine_chunks()
    good = pa.table(
        {
            "event_id": decoded.column("event_id"),
            "event_type": decoded.column("event_type"),
            "user_id": decoded.column("user_id"),
            "session_id": decoded.column("session_id"),
            "event_time": decoded.column("event_time").cast(pa.timestamp("us", tz="UTC")),
            "properties": decoded.column("properties"),
            "geo_country": pc.struct_field(geo, "country"),
            "geo_region": pc.struct_field(geo, "region"),
            "geo_city": pc.struct_field(geo, "city"),
            "device_type": pc.struct_field(device, "type"),
            "device_os": pc.struct_field(device, "os"),
            "device_browser": pc.struct_field(device, "browser"),
            "extra_fields": extra,
            "stream": pa.repeat(stream, n) if n else pa.array([], pa.string()),
            "shard_id": pa.repeat(shard_id, n) if n else pa.array([], pa.string()),
            "sequence_number": columns.sequence_number,
            "partition_key": columns.partition_key,
            "arrival_time": arrival,
            "ingestion_time": pa.repeat(pa.scalar(ingestion_time, pa.timestamp("us", tz="UTC")), n)
            if n
            else pa.array([], pa.timestamp("us", tz="UTC")),
        }
    )
    if n_good != n:
        bad_rows = pa.table(
            {
                "source": pa.repeat(source, n),
                "reason": decoded.column("reason"),
                "sequence_number": columns.sequence_number,
                "partition_key": columns.partition_key,
                "shard_id": good.column("shard_id"),
                "event_source_arn": columns.event_source_arn,
                "original_bytes": decoded.column("original_bytes"),
                "ingestion_time": good.column("ingestion_time"),
            }
        ).filter(is_bad)
        good = good.filter(is_good)
        bad = bad_rows.cast(QUARANTINE)
    else:
        bad = QUARANTINE.empty_table()
    return DecodedEvents(good=good.cast(EVENTS), bad=bad)


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
