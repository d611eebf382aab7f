"""Vectorised decoding of a Kinesis batch into Bronze event rows.

The whole batch goes through one DuckDB query over Arrow columns: base64,
UTF-8, JSON parsing, type checks and timestamp parsing run column-wise in C++,
not record by record in Python. Each bad record comes out with its reason.
"""

from __future__ import annotations

import base64
import json
import re
import string
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.event_contract import (
    PAYLOAD_COLUMNS,
    ColumnSource,
    EventContract,
    default_contract,
)
from ingestion.schemas import EVENTS, QUARANTINE

_ABSENT = "'NULL'|NULL"  # how a JSON null and a missing key print in the type list
_NUMBER_TYPES = ("ubigint", "bigint", "double")
_ANY_TYPE = "VARCHAR|UBIGINT|BIGINT|DOUBLE|BOOLEAN|OBJECT|ARRAY"
# Epoch forms take a JSON number or a string holding one; nothing else (no
# 'infinity', 'nan' or hex, which a cast to double would accept).
_EPOCH_TEXT = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"
_EPOCH_MICROS = {"epoch_seconds": 1_000_000, "epoch_millis": 1_000}
_SIMPLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _json_path(path: tuple[str, ...]) -> str:
    return "$." + ".".join(s if _SIMPLE_NAME.fullmatch(s) else f'"{s}"' for s in path)


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


@lru_cache(maxsize=1)
def _keywords() -> frozenset[str]:
    """Words that need quoting as a struct field name (`type` and friends do not)."""
    rows = (
        _Connection.get()
        .execute(
            "select keyword_name from duckdb_keywords() where keyword_category <> 'unreserved'"
        )
        .fetchall()
    )
    return frozenset(name for (name,) in rows)


def _member(path: tuple[str, ...]) -> str:
    """The SQL that reads a path out of the `fields` struct."""
    return "fields." + ".".join(
        s if _SIMPLE_NAME.fullmatch(s) and s.lower() not in _keywords() else f'"{s}"' for s in path
    )


@dataclass(frozen=True)
class _Check:
    """A path whose JSON type the query reads, and the types a well-formed payload has there."""

    path: tuple[str, ...]
    expected: str  # an alternation of printed JSON types


class _Plan:
    """The decoding query's parts, generated from a contract."""

    def __init__(self, contract: EventContract) -> None:
        self.contract = contract
        self.checks: list[_Check] = []
        for source in contract.columns:
            for depth in range(1, len(source.path)):
                self._check(source.path[:depth], f"OBJECT|{_ABSENT}")
            if source.required or source.strict:
                self._check(source.path, self._expected(source))

    def _check(self, path: tuple[str, ...], expected: str) -> None:
        if all(check.path != path for check in self.checks):
            self.checks.append(_Check(path, expected))

    @staticmethod
    def _expected(source: ColumnSource) -> str:
        if source.kind == "time":
            types = (
                ["VARCHAR"]
                if source.forms == ("iso8601",)
                else ["VARCHAR", "UBIGINT", "BIGINT", "DOUBLE"]
            )
            present = "|".join(types)
        elif not source.strict:
            present = _ANY_TYPE
        else:
            present = "OBJECT" if source.kind == "object" else "VARCHAR"
        return present if source.required else f"{present}|{_ABSENT}"

    def type_at(self, path: tuple[str, ...]) -> str:
        index = next(i for i, check in enumerate(self.checks) if check.path == path)
        return f"coalesce(lower(types[{index + 1}]), 'null')"

    def structure(self) -> str:
        """json_transform's structure: every column's path, typed as its column reads it."""
        root: dict[str, Any] = {}
        for source in self.contract.columns:
            *parents, leaf = source.path
            node = root
            for segment in parents:
                node = node.setdefault(segment, {})
            node[leaf] = "JSON" if source.kind == "object" else "VARCHAR"
        return json.dumps(root)

    def well_formed_types(self) -> str:
        # One regular expression over the printed type list tells a well-formed
        # payload from one that needs a reason: the detailed checks then run on bad rows only.
        body = ", ".join(f"({check.expected})" for check in self.checks)
        return ("^\\[" + body + "\\]$").replace("'", "''")

    def non_empty_conditions(self) -> list[str]:
        return [
            f"{_member(s.path)} <> ''" for s in self.contract.columns if s.non_empty and s.required
        ]

    def reasons(self) -> list[str]:
        """The checks in the order their reasons win: required fields, then optional ones."""
        checks: list[str] = []
        parents_done: set[tuple[str, ...]] = set()

        def parents(source: ColumnSource) -> None:
            for depth in range(1, len(source.path)):
                parent = source.path[:depth]
                if parent in parents_done:
                    continue
                parents_done.add(parent)
                at = self.type_at(parent)
                checks.append(
                    f"when {at} not in ('object', 'null') then "
                    f"{_sql_text(f'field {_dotted(parent)} must be an object, got ')} || {at}"
                )

        required = [s for s in self.contract.columns if s.required]
        optional = [s for s in self.contract.columns if not s.required]
        for source in required:
            parents(source)
            at = self.type_at(source.path)
            checks.append(
                f"when {at} = 'null' then {_sql_text(f'missing required field {source.field}')}"
            )
            allowed = self._allowed(source)
            if allowed is not None:
                listed = ", ".join(f"'{t}'" for t in allowed)
                test = f"<> '{allowed[0]}'" if len(allowed) == 1 else f"not in ({listed})"
                checks.append(
                    f"when {at} {test} then "
                    f"{_sql_text(f'field {source.field} must be {self._wanted(source)}, got ')}"
                    f" || {at}"
                )
        for source in required:
            if source.non_empty:
                checks.append(
                    f"when {_member(source.path)} = '' then "
                    f"{_sql_text(f'missing required field {source.field}')}"
                )
        for source in optional:
            parents(source)
            allowed = self._allowed(source)
            if allowed is not None:
                listed = ", ".join(f"'{t}'" for t in (*allowed, "null"))
                at = self.type_at(source.path)
                checks.append(
                    f"when {at} not in ({listed}) then "
                    f"{_sql_text(f'field {source.field} must be {self._wanted(source)}, got ')}"
                    f" || {at}"
                )
        for source in self.contract.columns:
            if source.kind == "time":
                value = _member(source.path)
                shown = (
                    f"to_json({value})"
                    if source.forms == ("iso8601",)
                    else f"case when {self.type_at(source.path)} = 'varchar' "
                    f"then to_json({value})::varchar else {value} end"
                )
                checks.append(
                    f"when {source.column} is null then "
                    f"{_sql_text(f'unparseable {source.field} ')} || {shown}"
                )
        return checks

    @staticmethod
    def _allowed(source: ColumnSource) -> tuple[str, ...] | None:
        if source.kind == "time":
            return ("varchar",) if source.forms == ("iso8601",) else ("varchar", *_NUMBER_TYPES)
        if not source.strict:
            return None
        return ("object",) if source.kind == "object" else ("varchar",)

    @staticmethod
    def _wanted(source: ColumnSource) -> str:
        if source.kind == "time":
            if "iso8601" not in source.forms:
                return "a number"
            return "a string" if source.forms == ("iso8601",) else "a number or a string"
        return "an object" if source.kind == "object" else "a string"

    def parsed_time(self) -> str:
        source = self.contract.source_of("event_time")
        assert source is not None  # a contract always names it
        value = _member(source.path)
        iso = f"try_cast({value} as timestamptz)"
        epoch = next((f for f in source.forms if f in _EPOCH_MICROS), None)
        if epoch is None:
            return iso
        numeric = (
            f"try(make_timestamp(cast(round(try_cast({value} as double) "
            f"* {_EPOCH_MICROS[epoch]}) as bigint)))::timestamptz"
        )
        is_number = f"regexp_full_match({value}, '{_EPOCH_TEXT}')"
        if "iso8601" in source.forms:
            return f"case when {is_number} then {numeric} else {iso} end"
        return f"case when {is_number} then {numeric} end"

    def output_column(self, column: str) -> str:
        source = self.contract.source_of(column)
        if source is None:
            kind = PAYLOAD_COLUMNS[column]
            return f"null::{'timestamptz' if kind == 'time' else 'varchar'} as {column}"
        if source.kind == "time":
            return column
        value = _member(source.path)
        if source.kind == "object":
            return f"{value}::varchar as {column}"
        if source.non_empty and not source.required:
            return f"nullif({value}, '') as {column}"
        return f"{value} as {column}"


@lru_cache(maxsize=8)
def _query(
    max_record_bytes: int, contract: EventContract | None = None, with_extras: bool = False
) -> str:
    """The decoding query for a contract, with its constants inlined: DuckDB's
    parameter binding costs more than the query itself at this size.

    `with_extras` adds the extra fields' column, for producers whose records
    usually have some; for the others, it would cost every batch for nothing.
    """
    plan = _Plan(contract or default_contract())
    checks = [
        "when raw is null then 'invalid base64 in kinesis.data'",
        f"when octet_length(raw) > {max_record_bytes} then "
        f"'oversize record: ' || octet_length(raw) || ' bytes, limit ' || {max_record_bytes}",
        # Gzip's magic bytes: what a CloudWatch Logs subscription writes to a stream.
        "when text is null and starts_with(hex(raw), '1F8B') then "
        "'payload is gzip-compressed, not JSON'",
        "when text is null then 'invalid UTF-8 in payload'",
        "when not json_valid(text) then 'invalid JSON in payload'",
        "when json_type(text) <> 'OBJECT' then "
        "'payload is JSON ' || lower(json_type(text)) || ', not an object'",
        *plan.reasons(),
    ]
    body = "\n                ".join(checks)
    paths = "[" + ", ".join(_sql_text(_json_path(check.path)) for check in plan.checks) + "]"
    known = "[" + ", ".join(_sql_text(name) for name in plan.contract.top_level_fields) + "]"
    non_empty = "".join(f"\n            and {c}" for c in plan.non_empty_conditions())
    outputs = ",\n    ".join(plan.output_column(name) for name in PAYLOAD_COLUMNS)
    flag = (
        f"case when reason is null then not list_has_all({known}, json_keys(text)) else false end"
    )
    if with_extras:
        # A CTE, not a lateral alias: DuckDB expands an alias where it is used.
        extras_cte = f""", flagged as (
    select *, {flag} as has_extra_fields from reasoned
)"""
        extras = _extras_of("text", known)
        has_extras = (
            f"has_extra_fields,\n    case when has_extra_fields then {extras} end as extra_fields"
        )
        last = "flagged"
    else:
        extras_cte, has_extras, last = "", f"{flag}\n        as has_extra_fields", "reasoned"
    return f"""
with decoded as (
    select data, try(from_base64(data)) as raw from batch
), texted as (
    select *, case when octet_length(raw) <= {max_record_bytes} then try(decode(raw)) end as text
    from decoded
), parsed as (
    select *,
        try(json_transform(text, '{plan.structure()}')) as fields,
        try(json_type(text, {paths})) as types
    from texted
), checked as (
    select *,
        -- DuckDB also reads 'infinity', BC dates and five-digit years: no event's time.
        {plan.parsed_time()} as parsed_time,
        case when parsed_time between '0001-01-01 00:00:00+00' and '9999-12-31 23:59:59.999999+00'
            then parsed_time end as event_time,
        coalesce(
            regexp_full_match(types::varchar, '{plan.well_formed_types()}'){non_empty},
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
){extras_cte}
select
    reason,
    {outputs},
    {has_extras},
    case when reason is not null then coalesce(raw, encode(data)) end as original_bytes
from {last}
"""


@lru_cache(maxsize=8)
def _extra_query(contract: EventContract) -> str:
    """The fields no column names, as a JSON object, for the records that have some.

    A query of its own, run only when a batch has such records: an extra
    column in the decoding query costs every batch, most of which have none.
    Null where DuckDB cannot build the object (a key given twice).
    """
    known = "[" + ", ".join(_sql_text(name) for name in contract.top_level_fields) + "]"
    return f"select {_extras_of('decode(from_base64(data))', known)} as extra_fields from extras"


def _extras_of(text: str, known: str) -> str:
    """The top-level fields of a JSON object not in `known`, as a JSON object."""
    return (
        "try(to_json(map_from_entries(list_filter("
        f"map_entries(json_transform({text}, '\"MAP(VARCHAR, JSON)\"')), "
        f"entry -> not list_contains({known}, entry.key)))))"
    )


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
    contract: EventContract | None = None,
) -> DecodedEvents:
    """Decode one shard's records; pure apart from the in-memory DuckDB."""
    contract = contract or default_contract()
    n = len(columns)
    batch = pa.table({"data": columns.data})
    con = _Connection.get()
    con.register("batch", batch)
    try:
        with_extras = _ExtrasSeen.likely(contract)
        decoded = con.execute(_query(max_record_bytes, contract, with_extras)).to_arrow_table()
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
    payload_columns = {name: decoded.column(name) for name in PAYLOAD_COLUMNS}
    for column_source in contract.columns:
        if column_source.when_missing is not None:
            derived = _derived(column_source.when_missing, stream, shard_id, columns)
            column = payload_columns[column_source.column]
            payload_columns[column_source.column] = pc.coalesce(column, derived)
    is_good = pc.is_null(reasons)
    payload_columns["extra_fields"] = _extra_fields(decoded, columns.data, contract)
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


def _derived(template: str, stream: str, shard_id: str, columns: KinesisColumns) -> pa.Array:
    """A value from the record's place in the stream: the same on every redelivery."""
    values = {
        "stream": pa.scalar(stream, pa.string()),
        "shard_id": pa.scalar(shard_id, pa.string()),
        "sequence_number": columns.sequence_number,
    }
    parts: list[pa.Array | pa.Scalar] = []
    for literal, field, _, _ in string.Formatter().parse(template):
        if literal:
            parts.append(pa.scalar(literal, pa.string()))
        if field is not None:
            parts.append(values[field])
    if not any(isinstance(part, pa.Array) for part in parts):
        parts.append(pa.repeat(pa.scalar("", pa.string()), len(columns)))
    return pc.binary_join_element_wise(*parts, "")


class _ExtrasSeen:
    """Whether this process's last batch under a contract had extra fields in most records.

    Producers are consistent: one whose records carry fields the contract does
    not name (camelCase apps with flat properties) gets them in the decoding
    pass itself; one that rarely adds a field pays a follow-up query only then.
    """

    _share: ClassVar[dict[EventContract, float]] = {}

    @classmethod
    def likely(cls, contract: EventContract) -> bool:
        return cls._share.get(contract, 0.0) > 0.5

    @classmethod
    def record(cls, contract: EventContract, flags: pa.Array) -> None:
        if len(cls._share) > 8 and contract not in cls._share:
            cls._share.clear()
        cls._share[contract] = pc.mean(pc.cast(flags, pa.float64())).as_py() or 0.0


def _extra_fields(decoded: pa.Table, data: pa.Array, contract: EventContract) -> pa.Array:
    """Top-level fields the contract does not name, as JSON text, so none is lost.

    DuckDB builds them, in the decoding query or, for the flagged records only,
    in a follow-up; a payload that gives a key twice, which DuckDB's map
    refuses, is done here in Python (json keeps the last value).
    """
    flags = decoded.column("has_extra_fields").combine_chunks()
    if len(flags):
        _ExtrasSeen.record(contract, flags)
    if not pc.any(flags).as_py():
        return pa.nulls(len(decoded), pa.string())
    if "extra_fields" in decoded.column_names:
        extra = decoded.column("extra_fields").combine_chunks().filter(flags)
    else:
        con = _Connection.get()
        con.register("extras", pa.table({"data": data.filter(flags)}))
        try:
            result = con.execute(_extra_query(contract)).to_arrow_table()
        finally:
            con.unregister("extras")
        extra = result.column("extra_fields").combine_chunks()
    values = extra.to_pylist() if extra.null_count else None
    if values is not None:
        known = set(contract.top_level_fields)
        positions = pc.indices_nonzero(flags).to_pylist()
        for index, value in enumerate(values):
            if value is None:
                payload = json.loads(base64.b64decode(data[positions[index]].as_py()))
                kept = {key: item for key, item in payload.items() if key not in known}
                values[index] = json.dumps(kept, ensure_ascii=False, separators=(",", ":"))
        extra = pa.array(values, pa.string())
    return pc.replace_with_mask(
        pa.nulls(len(decoded), pa.string()), flags, pc.cast(extra, pa.string())
    )
