"""The emulator's engine: every statement Athena's front end accepts runs on DuckDB.

DuckDB 1.5.5 runs in process, with one catalog named `awsdatacatalog` (so
three-part names resolve as in Athena) and one schema per Glue database. The
catalog is a DuckLake: like Iceberg, it keeps a table as Parquet data files,
new files for each write (and delete files for rows a MERGE, UPDATE or DELETE
replaces), with each file's column bounds in its metadata, so a scan skips the
files its filters rule out. What a Glue table is decides what DuckDB holds:

- an Iceberg table is a DuckLake table partitioned as its `partitioning`
  says (`day(c)` as year, month and day of c, the transforms DuckLake has),
  created by CTAS, changed by MERGE, INSERT, DELETE, UPDATE and ALTER TABLE,
  renamed with it and dropped with it. Glue is the truth about which tables
  exist: before each statement, DuckDB's tables follow Glue (a table Glue no
  longer has is dropped, one Glue has anew, e.g. at another location, starts
  empty);
- a Hive (external) table is a DuckDB view over local copies of the S3 objects
  under its location, refreshed before each statement that reads it, so a read
  sees S3 as it is at that statement. Partition columns come from the object
  keys through `storage.location.template` (partition projection) or `k=v`
  folders, and `"$path"` is the object's s3:// URI, as Athena shows it;
- a view is a DuckDB view of its translated SQL.

Statements are translated from the Trino dialect with sqlglot, after the
front end has qualified and typed them, and Trino's documented behaviour is
kept where DuckDB's differs (see `TrinoToDuckDB` and `_install_shims`).

Bytes scanned are what the statement read from data files, by DuckDB's own
file system log: the Hive objects' copies and the Iceberg tables' data and
delete files, after partition pruning, file pruning by column bounds and
row-group pruning: the column chunks of the columns read, not the footers
(DuckDB caches them, so they would count for the first read alone). What
Athena bills is close to this; the emulator's catalog reads are not counted.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import struct
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from athena_emulator.catalog import CATALOG, GlueCatalog, Table
from flows.warehouse.duckdb_connect import DEFAULT_EXTENSION_DIR, connect

# The pinned extensions (DuckLake) live in the project's folder, as for the local run.
EXTENSION_DIR = Path(__file__).resolve().parents[1] / DEFAULT_EXTENSION_DIR

# An Iceberg partition transform, as Athena's `partitioning` and PARTITIONED BY write it:
# bucket and truncate take their number first in Hive's DDL (bucket(16, c):
# querying-iceberg-creating-tables.html) and last in Trino's CTAS property
# (bucket(c, 16): Trino's connector/iceberg.md, Partitioned tables).
ICEBERG_TRANSFORM = re.compile(
    r"^(?:(?P<unit>year|month|day|hour)\((?P<column>\w+)\)"
    r"|(?:bucket|truncate)\(\s*(?:\d+\s*,\s*(?P<arg>\w+)|(?P<trino_arg>\w+)\s*,\s*\d+)\s*\)"
    r"|(?P<identity>\w+))$"
)


def transform_source(match: re.Match[str]) -> str:
    """The column an ICEBERG_TRANSFORM match partitions by."""
    return next(
        match.group(name)
        for name in ("column", "arg", "trino_arg", "identity")
        if match.group(name)
    )


# Athena's session time zone is UTC; Trino orders NULLs last in both directions.
SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "default_null_order": "nulls_last",
    # Cached file contents would hide what a statement reads.
    "enable_external_file_cache": "false",
}


class ExecutionError(Exception):
    """DuckDB refused a statement; `name` is the Trino error name it stands for."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


# ---------------------------------------------------------------- Trino types


def duckdb_type(trino_type: str) -> str:
    """The DuckDB type that stores a Trino type's values."""
    text = trino_type.strip().lower()
    if text.startswith(("varchar", "char")) or text in ("json", "unknown"):
        return "VARCHAR"
    simple = {
        "tinyint": "TINYINT",
        "smallint": "SMALLINT",
        "integer": "INTEGER",
        "int": "INTEGER",
        "bigint": "BIGINT",
        "real": "FLOAT",
        "double": "DOUBLE",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "varbinary": "BLOB",
    }
    if text in simple:
        return simple[text]
    if text.startswith("decimal"):
        return text.upper().replace(" ", "")
    if text.startswith("timestamp"):
        return "TIMESTAMPTZ" if "with time zone" in text else "TIMESTAMP"
    if text.startswith("array(") and text.endswith(")"):
        return f"{duckdb_type(text[6:-1])}[]"
    if text.startswith("map(") and text.endswith(")"):
        key, value = _split(text[4:-1])
        return f"MAP({duckdb_type(key)}, {duckdb_type(value)})"
    if text.startswith("row(") and text.endswith(")"):
        fields = []
        for part in _split(text[4:-1]):
            name, _, kind = part.strip().partition(" ")
            fields.append(f'"{name}" {duckdb_type(kind)}')
        return f"STRUCT({', '.join(fields)})"
    return "VARCHAR"


def _split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [*parts, current.strip()] if current.strip() else parts


def trino_text(value: Any, trino_type: str) -> str | None:
    """A value as Athena's GetQueryResults writes it (Trino's text form)."""
    if value is None:
        return None
    kind = trino_type.lower()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        match = re.match(r"timestamp\((\d+)\)", kind)
        precision = int(match.group(1)) if match else 3
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        if precision:
            text += "." + f"{value.microsecond:06d}"[:precision].ljust(precision, "0")
        if "with time zone" in kind:
            text += " UTC"
        return text
    if isinstance(value, timedelta):
        # An interval day to second as Trino writes it: days, then HH:MM:SS.mmm.
        sign = "-" if value < timedelta(0) else ""
        value = abs(value)
        milliseconds = round(value.microseconds / 1000)
        hours, rest = divmod(value.seconds, 3600)
        return f"{sign}{value.days} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}.{milliseconds:03d}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        # time(p) [with time zone]: p digits of the fraction, then the offset.
        match = re.match(r"time\((\d+)\)", kind)
        precision = int(match.group(1)) if match else 3
        text = value.strftime("%H:%M:%S")
        if precision:
            text += "." + f"{value.microsecond:06d}"[:precision].ljust(precision, "0")
        offset = value.utcoffset()
        if offset is not None:
            minutes = int(offset.total_seconds()) // 60
            sign = "-" if minutes < 0 else "+"
            text += f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        return text
    if isinstance(value, Decimal):
        match = re.match(r"decimal\(\d+,\s*(\d+)\)", kind)
        return f"{value:.{int(match.group(1))}f}" if match else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"  # Java's names for them, as Trino writes them
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return _real_text(value) if kind == "real" else repr(value)
    if isinstance(value, bytes):
        return " ".join(f"{b:02x}" for b in value)
    if isinstance(value, list | dict):
        return _container_text(value, kind)
    return str(value)


def _real_text(value: float) -> str:
    """A real (32-bit) as Trino writes it: the fewest digits that read back as the
    same float32 (Java's Float.toString), not the float64 it widens to."""
    single = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            return text if any(c in text for c in ".en") else text + ".0"
    return repr(single)


def _container_text(value: list[Any] | dict[Any, Any], kind: str) -> str:
    """An array, map or row as Athena writes it: `[a, b]`, `{k=v, k2=v2}` and
    `{field=v, ...}`, elements in their own text form, unquoted."""
    if kind == "json":
        return json.dumps(value, separators=(",", ":"), default=str)
    if isinstance(value, list):
        inner = kind[6:-1] if kind.startswith("array(") else "unknown"
        return "[" + ", ".join(_element_text(v, inner) for v in value) + "]"
    if kind.startswith("map(") and kind.endswith(")"):
        key_kind, value_kind = [*_split(kind[4:-1]), "unknown", "unknown"][:2]
        return (
            "{"
            + ", ".join(
                f"{_element_text(k, key_kind)}={_element_text(v, value_kind)}"
                for k, v in value.items()
            )
            + "}"
        )
    fields = (
        [part.strip().partition(" ")[2] for part in _split(kind[4:-1])]
        if kind.startswith("row(")
        else []
    )
    kinds = fields + ["unknown"] * (len(value) - len(fields))
    return (
        "{"
        + ", ".join(
            f"{name}={_element_text(v, k)}"
            for (name, v), k in zip(value.items(), kinds, strict=False)
        )
        + "}"
    )


def _element_text(value: Any, kind: str) -> str:
    return "null" if value is None else str(trino_text(value, kind))


# -------------------------------------------------------------- Trino shims


def trino_json_extract_scalar(document: str | None, path: str | None) -> str | None:
    """Trino's json_extract_scalar: the scalar at `path` as text, NULL for an
    object, an array, JSON null, a missing path or text that is not JSON; a
    number keeps the text it has in the document."""
    if document is None or path is None:
        return None
    try:
        value = _parsed_json(document)
    except ValueError:
        return None
    for step in _json_path(path):
        # Each step names a member of an object, or, as a number, an element of an array.
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and _INDEX.fullmatch(step) and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, _Number):
        return value.text
    return str(value)


class _Number(str):
    @property
    def text(self) -> str:
        return str(self)


@lru_cache(maxsize=4096)
def _parsed_json(document: str) -> Any:
    return json.loads(document, parse_float=_Number, parse_int=_Number, parse_constant=_bad)


def _bad(text: str) -> Any:
    raise ValueError(text)


_PATH_NAME = re.compile(r"[\w:]+")
_INDEX = re.compile(r"[0-9]+")
_SUBSCRIPT_NAME = re.compile(r"\w+")


@lru_cache(maxsize=256)
def _json_path(path: str) -> tuple[str, ...]:
    """Trino's JSON path grammar (its JsonPathTokenizer): `$`, then any of
    `.name` (letters, digits, `_`, `:`), `[name]` (letters, digits, `_`) and
    `["text"]`, in which `\\"` and `\\\\` are the only escapes; anything else,
    whitespace included, makes the path invalid."""
    invalid = ValueError(f"INVALID_FUNCTION_ARGUMENT: Invalid JSON path: '{path}'")
    if not path.startswith("$"):
        raise invalid
    steps: list[str] = []
    at = 1
    while at < len(path):
        if path[at] == ".":
            name = _PATH_NAME.match(path, at + 1)
            if name is None:
                raise invalid
            steps.append(name.group())
            at = name.end()
        elif path.startswith('["', at):
            text, at = [], at + 2
            while at < len(path) and path[at] != '"':
                if path[at] == "\\":
                    if at + 1 >= len(path) or path[at + 1] not in '"\\':
                        raise invalid
                    at += 1
                text.append(path[at])
                at += 1
            if not path.startswith('"]', at):
                raise invalid
            steps.append("".join(text))
            at += 2
        elif path[at] == "[":
            name = _SUBSCRIPT_NAME.match(path, at + 1)
            if name is None or not path.startswith("]", name.end()):
                raise invalid
            steps.append(name.group())
            at = name.end() + 1
        else:
            raise invalid
    return tuple(steps)


# Joda's ISO date-time parser, which from_iso8601_timestamp uses: a date, then
# optionally T and a time, then optionally Z or an offset.
_ISO8601 = (
    r"[+-]?\d{4}(-\d{2}(-\d{2})?)?"
    r"(T\d{2}(:\d{2}(:\d{2}([.,]\d+)?)?)?)?"
    r"(Z|[+-]\d{2}(:?\d{2})?)?"
)

SHIMS = {
    # from_iso8601_timestamp returns timestamp(3) with time zone: the fraction is
    # cut to milliseconds (Joda keeps millis), and text that is not ISO 8601 fails.
    "trino_from_iso8601_timestamp": f"""(s) AS CASE
        WHEN s IS NULL THEN NULL
        WHEN regexp_full_match(s, '{_ISO8601}')
            THEN date_trunc('millisecond', CAST(replace(s, ',', '.') AS TIMESTAMPTZ))
        ELSE error('INVALID_FUNCTION_ARGUMENT: Invalid format: "' || s || '"')
    END""",
    # Integer division truncates toward zero and fails on a zero divisor.
    "trino_int_div": """(a, b) AS CASE
        WHEN b = 0 THEN error('DIVISION_BY_ZERO: Division by zero')
        ELSE a // b
    END""",
    "trino_int_mod": """(a, b) AS CASE
        WHEN b = 0 THEN error('DIVISION_BY_ZERO: Division by zero')
        ELSE a % b
    END""",
    # varchar to an integer type: digits with an optional sign, nothing else.
    "trino_integer_text": """(s, type_name) AS CASE
        WHEN s IS NULL THEN NULL
        WHEN regexp_full_match(trim(s), '[+-]?[0-9]+') THEN trim(s)
        ELSE error('INVALID_CAST_ARGUMENT: Cannot cast ''' || s || ''' to ' || type_name)
    END""",
}


def _json_extract_scalar_batch(documents: pa.Array, paths: pa.Array) -> pa.Array:
    """trino_json_extract_scalar over one of DuckDB's vectors at a time.

    A native (row-at-a-time) Python function costs DuckDB about 0.2 ms a call
    (it looks for pandas at every conversion), minutes for a Bronze table; an
    arrow function is called once per 2,048 rows."""
    return pa.array(
        [
            trino_json_extract_scalar(document, path)
            for document, path in zip(documents.to_pylist(), paths.to_pylist(), strict=True)
        ],
        pa.string(),
    )


def _install_shims(con: duckdb.DuckDBPyConnection) -> None:
    con.create_function(
        "trino_json_extract_scalar",
        _json_extract_scalar_batch,
        [duckdb.sqltype("VARCHAR"), duckdb.sqltype("VARCHAR")],
        duckdb.sqltype("VARCHAR"),
        type="arrow",
        null_handling="special",
        side_effects=False,
    )
    for name, body in SHIMS.items():
        con.execute(f"CREATE OR REPLACE TEMP MACRO {name}{body}")


def _is(data_type: exp.DataType | None, types: set[exp.DataType.Type]) -> bool:
    return data_type is not None and data_type.this in types


INTEGERS = exp.DataType.INTEGER_TYPES
TEXT = exp.DataType.TEXT_TYPES
FLOATS = exp.DataType.REAL_TYPES - {exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL}
DType = exp.DataType.Type
# The front end's stand-in for a hidden column ("$path") while it types a query.
HIDDEN_PLACEHOLDER = "__emu_hidden"


def _cast(expression: exp.Expression, to: str | exp.DataType) -> exp.Cast:
    """A cast that is always written (sqlglot's exp.cast drops one to the same base type)."""
    data_type = to if isinstance(to, exp.DataType) else exp.DataType.build(to, dialect="duckdb")
    return exp.Cast(this=expression, to=data_type)


def _replacement(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Anonymous):
        hidden = node.this
        if hidden.name.lower() == HIDDEN_PLACEHOLDER:
            name, alias = (e.name for e in hidden.expressions)
            return exp.column(name, table=alias or None, quoted=True)
    if isinstance(node, exp.JSONExtractScalar):
        path = node.expression
        # sqlglot parses a literal path into a JSONPath node; written back as a
        # Trino string literal, its quotes are doubled, which the path must not keep.
        # (It also tidies some invalid paths, e.g. `$[ "a"]` into `$.a`, which
        # then run where Trino would fail them.)
        path_text = (
            path.name
            if isinstance(path, exp.Literal)
            else path.sql("trino")[1:-1].replace("''", "'")
        )
        return exp.func("trino_json_extract_scalar", node.this, exp.Literal.string(path_text))
    if isinstance(node, exp.Chr) and len(node.expressions) == 1:
        # string.md: chr(n) takes Trino's bigint code point; DuckDB's chr an integer.
        return exp.Chr(expressions=[_cast(node.expressions[0], "integer")])
    if isinstance(node, exp.DPipe | exp.Concat) and _is(node.type, {DType.ARRAY}):
        return _array_concatenation(node)
    if isinstance(node, exp.FromISO8601Timestamp):
        return exp.func("trino_from_iso8601_timestamp", node.this)
    if (
        isinstance(node, exp.Div)
        and _is(node.this.type, INTEGERS)
        and _is(node.expression.type, INTEGERS)
    ):
        return exp.func("trino_int_div", node.this, node.expression)
    if (
        isinstance(node, exp.Mod)
        and _is(node.this.type, INTEGERS)
        and _is(node.expression.type, INTEGERS)
    ):
        return exp.func("trino_int_mod", node.this, node.expression)
    if (
        isinstance(node, exp.Sub)
        and _is(node.type, {DType.INTERVAL})
        and _is(node.this.type, {DType.DATE})
    ):
        # Trino's date - date is an interval day to second; DuckDB's, a number of days.
        return exp.Sub(
            this=_cast(node.this, "timestamp"), expression=_cast(node.expression, "timestamp")
        )
    if isinstance(node, exp.Anonymous) and node.name.lower() == "to_milliseconds":
        # datetime.md: to_milliseconds(interval) -> bigint (DuckDB's builds an interval).
        seconds = exp.func("epoch", *node.expressions)
        return _cast(
            exp.func("round", exp.Mul(this=seconds, expression=exp.Literal.number(1000))), "bigint"
        )
    if isinstance(node, exp.DateDiff):
        # Trino counts whole units elapsed; DuckDB's date_diff counts boundaries
        # crossed, its date_sub whole units.
        unit = (node.args.get("unit") or exp.var("day")).name.lower()
        return exp.Anonymous(
            this="date_sub",
            expressions=[exp.Literal.string(unit), node.expression, node.this],
        )
    if isinstance(node, exp.DateAdd | exp.TimestampTrunc | exp.DateTrunc) and _is(
        node.this.type, {DType.DATE}
    ):
        # On a date, Trino's date_add and date_trunc return a date.
        return _cast(node.copy(), "date")
    if isinstance(node, exp.AtTimeZone):
        # Trino: the same instant, shown in the zone. A cast of it to a timestamp
        # or a date keeps the zone's wall time.
        instant = _cast(node.this, "timestamptz")
        if isinstance(node.parent, exp.Cast) and _is(
            node.parent.args["to"],
            {DType.TIMESTAMP, DType.DATE, DType.DATETIME, DType.TIMESTAMPNTZ},
        ):
            return exp.Anonymous(this="timezone", expressions=[node.args["zone"], instant])
        return instant
    if isinstance(node, exp.Cast) and not isinstance(node, exp.TryCast):
        target = node.args["to"]
        source = node.this.type
        if target.this in INTEGERS and _is(source, TEXT):
            name = target.sql("trino").upper()
            checked = exp.func("trino_integer_text", node.this, exp.Literal.string(name))
            return _cast(checked, target.copy())
        if target.this in INTEGERS and _is(source, FLOATS):
            # Trino rounds half away from zero; DuckDB's cast rounds half to even.
            return _cast(exp.func("round", node.this), target.copy())
        if target.this == DType.TIMESTAMPTZ:
            if isinstance(node.this, exp.Literal) and node.this.is_string:
                return _cast(exp.Literal.string(_zone_offset(node.this.name)), "timestamptz")
            return _cast(node.this, "timestamptz")
        if target.this == DType.TIMESTAMP and target.expressions:
            if int(target.expressions[0].name or 3) == 3:
                # Trino rounds to the type's precision; a DuckDB timestamp holds micros.
                return _cast(_cast(node.this, "timestamp(3)"), "timestamp")
            return _cast(node.this, "timestamp")
    return node


def _array_concatenation(node: exp.DPipe | exp.Concat) -> exp.Expression:
    """Trino's `||` and concat() over arrays (array.md): arrays are joined, and an
    element beside an array is appended or prepended; DuckDB's `||` takes strings."""
    operands = (
        [node.this, node.expression] if isinstance(node, exp.DPipe) else list(node.expressions)
    )
    joined = operands[0]
    for operand in operands[1:]:
        if not _is(operand.type, {DType.ARRAY}):
            joined = exp.func("list_append", joined, operand)
        elif not _is(joined.type, {DType.ARRAY}):
            joined = exp.func("list_prepend", joined, operand)
        else:
            joined = exp.func("list_concat", joined, operand)
        joined.type = node.type
    return joined


# A timestamp literal's time, then a UTC offset: +H, +HH, +HHMM or +HH:MM.
_OFFSET = re.compile(r"^(.* \d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*([+-])(\d{1,2})(?::?(\d{2}))?$")


def _zone_offset(text: str) -> str:
    """A timestamp literal's offset as DuckDB reads one (+HH:MM, no space before it).
    Trino takes short offsets too (TimeZoneKey.normalizeShortOffset: `-0` is UTC,
    `+8` is +08:00) and a space before the zone (types.md: TIMESTAMP
    '2001-08-22 03:04:05.321 America/Los_Angeles')."""
    match = _OFFSET.match(text.strip())
    if match is None:
        return text
    time_part, sign, hours, minutes = match.groups()
    return f"{time_part}{sign}{int(hours):02d}:{minutes or '00'}"


def translate(tree: exp.Expression) -> str:
    """A Trino statement (typed where the front end could type it) in DuckDB SQL."""
    tree = tree.copy()
    for table in tree.find_all(exp.Table):
        if table.args.get("catalog") is not None and table.catalog.lower() == CATALOG:
            table.set("catalog", exp.to_identifier(CATALOG))
    # Children first, so that each replacement sees its arguments translated;
    # a replacement keeps the Trino type of what it replaces.
    for node in reversed(list(tree.dfs())):
        replaced = _replacement(node)
        if replaced is not node:
            if node.type is not None and replaced.type is None:
                replaced.type = node.type
            if node is tree:
                tree = replaced
            else:
                node.replace(replaced)
    return tree.sql(dialect="duckdb", identify=True)


# ----------------------------------------------------------------- the engine


@dataclass
class HiveFiles:
    """The local copies of a Hive table's S3 objects, as the last statement saw them."""

    objects: dict[str, str] = field(default_factory=dict)  # s3 key -> etag
    signature: tuple[Any, ...] = ()


@dataclass
class Result:
    rows: list[tuple[Any, ...]]
    update_count: int
    bytes_scanned: int


@dataclass
class Written:
    """What a write of Hive objects did: rows, bytes read, and the partitions
    written, each as its (key, value) pairs in the table's order."""

    update_count: int
    bytes_scanned: int
    partitions: list[list[tuple[str, str]]]


# Athena's limit of partitions one CTAS or INSERT INTO writes (ctas-insert-into.html).
MAX_PARTITIONS_WRITTEN = 100


class Engine:
    """DuckDB in step with the Glue catalog and S3, running translated statements."""

    def __init__(
        self,
        catalog: GlueCatalog,
        s3: Any,
        cache_dir: Path | None = None,
        analyze_view: Callable[[str, str], str] | None = None,
        database: Path | None = None,
    ) -> None:
        """`database` is a DuckLake metadata file that keeps the Iceberg tables
        from one emulator to the next (their data files in `<database>.files/`;
        in the cache folder, for this emulator alone, when None); `adopt_tables`
        takes them over once Glue holds their tables again."""
        self.catalog = catalog
        self.s3 = s3
        self._own_cache = cache_dir is None
        self.cache_dir = Path(cache_dir or tempfile.mkdtemp(prefix="athena-emulator-"))
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Turns a Glue view's Trino SQL into DuckDB SQL (the front end's analysis).
        self.analyze_view = analyze_view
        self.con = connect(extension_dir=EXTENSION_DIR)
        self.metadata = Path(database or self.cache_dir / "_iceberg" / "catalog.ducklake")
        self.metadata.parent.mkdir(parents=True, exist_ok=True)
        self.data_files = Path(f"{self.metadata}.files")
        # Iceberg has no inlined rows: every write makes data files, as on S3.
        # The data files are where the catalog file is, even when the lake moved.
        self.con.execute(
            f"ATTACH 'ducklake:{self.metadata}' AS {CATALOG} (DATA_PATH '{self.data_files}/', "
            "OVERRIDE_DATA_PATH TRUE, DATA_INLINING_ROW_LIMIT 0)"
        )
        # Athena writes Iceberg's Parquet with zstd by default.
        self.con.execute(f"CALL {CATALOG}.set_option('parquet_compression', 'zstd')")
        self.con.execute(f"USE {CATALOG}")
        for name, value in SESSION_SETTINGS.items():
            self.con.execute(f"SET {name} = '{value}'")
        _install_shims(self.con)
        # What each statement reads is taken from DuckDB's file system log.
        self.con.execute("CALL enable_logging('FileSystem')")
        # (database, table) -> the Iceberg partition spec the table was made with.
        self._partitioning: dict[tuple[str, str], list[str]] = {}
        # (database, table) -> the Glue location the DuckDB table was made for.
        self._held: dict[tuple[str, str], str] = {}
        # (database, table) -> the Glue columns the DuckDB table was last synced to.
        self._synced_columns: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        self._views: dict[tuple[str, str], str] = {}
        self._hive: dict[tuple[str, str], HiveFiles] = {}
        self._file_columns: dict[str, dict[str, int]] = {}
        self._file_chunks: dict[str, list[tuple[int, int]]] = {}
        self._synced_version: int | None = None

    def close(self) -> None:
        self.con.close()
        if self._own_cache:
            shutil.rmtree(self.cache_dir, ignore_errors=True)

    def adopt_tables(self) -> int:
        """Take over the Iceberg tables a database file kept, for the tables
        Glue has as Iceberg; drop every other relation (views are made again
        from Glue, and Hive tables from S3). Returns the tables adopted."""
        glue = {
            (t.database, t.name): t
            for d in self.catalog.databases()
            for t in self.catalog.tables(d)
        }
        found = self.con.execute(
            "select table_schema, table_name, table_type from information_schema.tables "
            "where table_catalog = ?",
            [CATALOG],
        ).fetchall()
        adopted = 0
        for schema, name, kind in found:
            key = (schema, name)
            table = glue.get(key)
            if kind != "VIEW" and table is not None and table.kind == "iceberg":
                self._held[key] = table.location or ""
                adopted += 1
            else:
                self.con.execute(
                    f'DROP {"VIEW" if kind == "VIEW" else "TABLE"} "{schema}"."{name}"'
                )
        self._synced_version = None
        return adopted

    # ---------------------------------------------------------- catalog sync

    def sync(self, hive_tables: set[tuple[str, str]] | None = None) -> None:
        """DuckDB's schemas, tables and views as Glue has them; the Hive tables
        in `hive_tables` (all when None) as S3 has them now."""
        version = self.catalog.version
        if version != self._synced_version:
            self._sync_catalog()
            self._synced_version = version
        known = set(self._hive)
        for database in self.catalog.databases():
            for table in self.catalog.tables(database):
                key = (database, table.name)
                if table.kind == "hive" and (hive_tables is None or key in hive_tables):
                    self._sync_hive(table)
        if set(self._hive) - known:
            # A view over a Hive table cannot be created before that table is:
            # the views still missing may be possible now (a statement reading a
            # view no statement of this session created would not find it).
            views = [t for d in self.catalog.databases() for t in self.catalog.tables(d)]
            missing = [
                t for t in views if t.kind == "view" and (t.database, t.name) not in self._views
            ]
            self._sync_views(missing)

    def _sync_catalog(self) -> None:
        databases = set(self.catalog.databases())
        existing = {
            row[0]
            for row in self.con.execute(
                "select schema_name from information_schema.schemata where catalog_name = ?",
                [CATALOG],
            ).fetchall()
        }
        for database in existing - databases - {"main", "information_schema", "pg_catalog"}:
            self.con.execute(f'DROP SCHEMA "{database}" CASCADE')
            self._forget(lambda key, db=database: key[0] == db)
        for database in databases - existing:
            self.con.execute(f'CREATE SCHEMA "{database}"')
        glue = {(t.database, t.name): t for d in databases for t in self.catalog.tables(d)}
        for key in list(self._held):
            table = glue.get(key)
            if table is None or table.kind != "iceberg":
                self._drop(key)
        for key in list(self._views):
            if key not in glue or glue[key].kind != "view":
                self._drop(key)
        for key in list(self._hive):
            if key not in glue or glue[key].kind != "hive":
                self._drop(key)
        for table in glue.values():
            if table.kind == "iceberg":
                self._sync_iceberg(table)
        self._sync_views([t for t in glue.values() if t.kind == "view"])

    def _sync_views(self, pending: list[Table]) -> None:
        # Views over views: create in rounds until no more can be created.
        while pending:
            left = [t for t in pending if not self._sync_view(t)]
            if len(left) == len(pending):
                break
            pending = left

    def _forget(self, predicate: Callable[[tuple[str, str]], bool]) -> None:
        for registry in (
            self._held,
            self._views,
            self._hive,
            self._synced_columns,
            self._partitioning,
        ):
            for key in [k for k in registry if predicate(k)]:
                del registry[key]

    def _relation_kind(self, key: tuple[str, str]) -> str | None:
        # The registries know what this engine made; the catalog is asked only
        # of the rest (a DuckLake catalog question costs milliseconds, and a
        # statement reading Bronze asked one per Bronze table).
        if key in self._held:
            return "TABLE"
        if key in self._views or key in self._hive:
            return "VIEW"
        row = self.con.execute(
            "select table_type from information_schema.tables "
            "where table_catalog = ? and table_schema = ? and table_name = ?",
            [CATALOG, *key],
        ).fetchone()
        return None if row is None else ("VIEW" if row[0] == "VIEW" else "TABLE")

    def _drop(self, key: tuple[str, str]) -> None:
        kind = self._relation_kind(key)
        if kind is not None:
            # A Hive table is registered before its view is made.
            self.con.execute(f'DROP {kind} IF EXISTS "{key[0]}"."{key[1]}"')
        self._forget(lambda k: k == key)

    @staticmethod
    def qualified(database: str, name: str) -> str:
        return f'{CATALOG}."{database}"."{name}"'

    def _sync_iceberg(self, table: Table) -> None:
        key = (table.database, table.name)
        location = table.location or ""
        if self._held.get(key) != location:
            self._drop(key)
            columns = ", ".join(f'"{c}" {duckdb_type(k)}' for c, k in table.columns)
            self.con.execute(f"CREATE TABLE {self.qualified(*key)} ({columns})")
            self._held[key] = location
            self._synced_columns[key] = table.columns
            self._partition(key, self._spec_in_metadata(table))
            return
        if self._synced_columns.get(key) == table.columns:
            return  # every catalog change syncs every table: most have not changed
        # pragma_table_info binds this table alone; information_schema.columns
        # would bind every view, and a Bronze staging view binds by reading the
        # footer of every Bronze file.
        present = {
            row[0]
            for row in self.con.execute(
                f"select name from pragma_table_info('{self.qualified(*key)}')"
            ).fetchall()
        }
        wanted = dict(table.columns)
        for column, kind in table.columns:
            if column not in present:
                self.con.execute(
                    f'ALTER TABLE {self.qualified(*key)} ADD COLUMN "{column}" {duckdb_type(kind)}'
                )
        for column in present:
            if column not in wanted:
                self.con.execute(f'ALTER TABLE {self.qualified(*key)} DROP COLUMN "{column}"')
        self._synced_columns[key] = table.columns

    def _sync_view(self, table: Table) -> bool:
        key = (table.database, table.name)
        text = table.raw.get("ViewOriginalText") or ""
        if self._views.get(key) == text:
            return True
        if self.analyze_view is None:
            return True
        try:
            sql = self.analyze_view(_view_sql(text), table.database)
            self.create_view(table.database, table.name, sql)
        except Exception:  # a view over what does not exist yet
            return False
        self._views[key] = text
        return True

    def create_view(
        self, database: str, name: str, duckdb_sql: str, text: str | None = None
    ) -> None:
        key = (database, name)
        if self._relation_kind(key) == "TABLE":
            self._drop(key)
        self.con.execute(f"CREATE OR REPLACE VIEW {self.qualified(database, name)} AS {duckdb_sql}")
        if text is not None:
            self._views[key] = text

    # ---------------------------------------------------------- Hive tables

    def _sync_hive(self, table: Table) -> None:
        key = (table.database, table.name)
        state = self._hive.setdefault(key, HiveFiles())
        location = (table.location or "").rstrip("/") + "/"
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        listed: dict[str, tuple[str, int]] = {}
        if location.startswith("s3://") and bucket:
            try:
                pages = self.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=prefix
                )
                for page in pages:
                    for item in page.get("Contents", []):
                        listed[item["Key"]] = (item["ETag"], item["Size"])
            except self.s3.exceptions.NoSuchBucket:
                listed = {}
        parameters = table.raw.get("Parameters", {})
        partitions = list(table.partition_keys)
        pattern = _partition_pattern(parameters, location, partitions)
        files: list[tuple[str, dict[str, str]]] = []
        for object_key, (etag, size) in sorted(listed.items()):
            relative = object_key[len(prefix) :]
            if any(part.startswith(("_", ".")) for part in relative.split("/")) or size == 0:
                continue  # Hive skips hidden files; an empty object holds no rows
            match = pattern.fullmatch(f"s3://{bucket}/{object_key}") if partitions else None
            if partitions and match is None:
                continue
            values = match.groupdict() if match else {}
            local = self.cache_dir / bucket / object_key
            if state.objects.get(object_key) != etag or not local.exists():
                local.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(bucket, object_key, str(local))
                self._file_columns.pop(str(local), None)
                self._file_chunks.pop(str(local), None)
            state.objects[object_key] = etag
            files.append((str(local), values))
        for gone in set(state.objects) - set(listed):
            del state.objects[gone]
        signature = (tuple((f, tuple(sorted(v.items()))) for f, v in files), table.columns)
        if signature == state.signature:
            return  # the view made for these files is there (a drop forgets the state)
        self.create_view(table.database, table.name, self._hive_select(table, files, bucket))
        state.signature = signature

    def _hive_select(
        self, table: Table, files: list[tuple[str, dict[str, str]]], bucket: str
    ) -> str:
        partitions = list(table.partition_keys)
        data_columns = [(c, k) for c, k in table.columns if c not in partitions]
        storage = hive_storage(table.raw)
        if not files:
            columns = [f'CAST(NULL AS {duckdb_type(k)}) AS "{c}"' for c, k in table.columns]
            columns.append('CAST(NULL AS VARCHAR) AS "$path"')
            return f"SELECT {', '.join(columns)} WHERE false"
        paths = [f for f, _ in files]
        path_uri = f"'s3://' || substr(filename, {len(str(self.cache_dir)) + 2})"
        partition_columns, options = self._partition_reading(table, files)
        columns: list[str] = []
        if storage.format == "parquet":
            present = set()
            for path in paths:
                present |= set(self._columns_of(path))
            for column, kind in data_columns:
                if column in present:
                    columns.append(f'{_hive_value(column, kind)} AS "{column}"')
                else:
                    columns.append(f'CAST(NULL AS {duckdb_type(kind)}) AS "{column}"')
            source = f"read_parquet({_list(paths)}, union_by_name = true, {options})"
        elif storage.format in ("opencsv", "text"):
            spec = ", ".join(f"'{c}': 'VARCHAR'" for c, _ in data_columns)
            source = f"read_csv({_list(paths)}, {storage.csv_options}, columns = {{{spec}}}, "
            source += f"auto_detect = false, {options})"
            # Hive's LazySimpleSerDe reads a field its type cannot hold as NULL.
            cast = "CAST" if storage.format == "opencsv" else "TRY_CAST"
            columns = [f'{cast}("{c}" AS {duckdb_type(k)}) AS "{c}"' for c, k in data_columns]
        else:
            raise ExecutionError(
                "EMULATOR_LIMITATION",
                "the emulator reads Hive tables stored as Parquet, text or OpenCSV, "
                f"not {storage.serde or storage.format}",
            )
        columns += [*partition_columns, f'{path_uri} AS "$path"']
        return f"SELECT {', '.join(columns)} FROM {source}"

    def _partition_reading(
        self, table: Table, files: list[tuple[str, dict[str, str]]]
    ) -> tuple[list[str], str]:
        """A Hive table's partition columns as a select list over its files, and
        the reader options that take them from the files' paths."""
        partitions = list(table.partition_keys)
        kinds = dict(table.columns)
        hive = all(f"{p}=" in str(files[0][0]) for p in partitions) and partitions
        parameters = table.raw.get("Parameters", {})
        # A projected date partition stays a DuckDB date: DuckDB prunes files
        # by `cast(dt as date) >= ...` only when no cast is left to apply
        # (its values compare and print as the yyyy-MM-dd strings they are).
        dates = {
            p
            for p in partitions
            if parameters.get(f"projection.{p}.type") == "date"
            and parameters.get(f"projection.{p}.format", "yyyy-MM-dd") == "yyyy-MM-dd"
        }
        columns = []
        for partition in partitions:
            if hive and partition in dates:
                columns.append(f'"{partition}"')
            elif hive:
                # A k=v folder's value, read as the partition column's Glue type.
                kind = duckdb_type(kinds[partition])
                columns.append(f'CAST("{partition}" AS {kind}) AS "{partition}"')
            else:
                # a template that is not k=v: the value is read from the key
                regex = _partition_regex(files, partition)
                columns.append(f"regexp_extract(filename, '{regex}', 1) AS \"{partition}\"")
        types = ", ".join(f"'{p}': '{'DATE' if p in dates else 'VARCHAR'}'" for p in partitions)
        options = "filename = true"
        if hive:
            options += f", hive_partitioning = true, hive_types = {{{types}}}"
        else:
            options += ", hive_partitioning = false"
        return columns, options

    def _columns_of(self, path: str) -> dict[str, int]:
        """A Parquet file's columns with their compressed bytes over all row groups."""
        if path not in self._file_columns:
            metadata = pq.ParquetFile(path).metadata
            sizes: dict[str, int] = {}
            for group in range(metadata.num_row_groups):
                row_group = metadata.row_group(group)
                for index in range(row_group.num_columns):
                    chunk = row_group.column(index)
                    name = chunk.path_in_schema.split(".")[0].lower()
                    sizes[name] = sizes.get(name, 0) + chunk.total_compressed_size
            self._file_columns[path] = sizes
        return self._file_columns[path]

    # ------------------------------------------------------------- running

    def _partition(self, key: tuple[str, str], spec: list[str]) -> None:
        """Partition a held table by an Iceberg spec, with DuckLake's transforms.

        Iceberg's day(c) is one partition per day; DuckLake's day() is the day
        of the month, so a day is (year, month, day). bucket() and truncate()
        have no DuckLake transform: such a table stays unpartitioned, and its
        scans are pruned by file bounds alone."""
        self._partitioning[key] = spec
        units = ("year", "month", "day", "hour")
        keys: list[str] = []
        for entry in spec:
            match = ICEBERG_TRANSFORM.match(entry)
            if match is None or match.group("arg") or match.group("trino_arg"):
                return
            if match.group("identity"):
                keys.append(f'"{match.group("identity")}"')
                continue
            unit, column = match.group("unit"), match.group("column")
            keys += [f'{u}("{column}")' for u in units[: units.index(unit) + 1]]
        if keys:
            self.con.execute(
                f"ALTER TABLE {self.qualified(*key)} SET PARTITIONED BY ({', '.join(keys)})"
            )

    def _spec_in_metadata(self, table: Table) -> list[str]:
        """The partition spec in an Iceberg table's metadata file on S3, if any."""
        try:
            document = iceberg_metadata(self.s3, table)
        except self.s3.exceptions.NoSuchKey:
            return []
        return list(document.get("partition-spec", [])) if document else []

    def run(self, sql: str) -> Result:
        """Run one DuckDB statement; its rows and the bytes it read from data files."""
        self.con.execute("CALL truncate_duckdb_logs()")
        try:
            cursor = self.con.execute(sql)
            rows = cursor.fetchall() if cursor.description else []
        except duckdb.Error as error:
            raise _execution_error(error) from None
        scanned = self._bytes_read()
        count = 0
        if (
            rows
            and len(rows[0]) == 1
            and isinstance(rows[0][0], int)
            and re.match(r"\s*(insert|merge|delete|update|copy)\b", sql, re.IGNORECASE)
        ):
            count = rows[0][0]
        return Result(rows=rows, update_count=count, bytes_scanned=scanned)

    def create_table(
        self,
        database: str,
        name: str,
        columns: list[tuple[str, str]],
        query: str,
        location: str,
        partitioning: list[str] | None = None,
    ) -> Result:
        """CTAS of an Iceberg table: a DuckLake table of the Trino column types,
        partitioned by the spec, filled."""
        key = (database, name)
        self._drop(key)
        spec = ", ".join(f'"{c}" {duckdb_type(k)}' for c, k in columns)
        self.con.execute(f"CREATE TABLE {self.qualified(*key)} ({spec})")
        self._partition(key, partitioning or [])
        try:
            result = self.run(f"INSERT INTO {self.qualified(*key)} {query}")
        except ExecutionError:
            self._drop(key)
            raise
        self._held[key] = location
        return result

    def write_objects(
        self,
        query: str,
        location: str,
        query_id: str,
        partitioned_by: list[str],
        storage: HiveStorage,
    ) -> Written:
        """CTAS or INSERT of a Hive table: its rows as new objects under its
        location (Hive's k=v folders per partition), which later reads list like
        any. Athena writes at most 100 partitions a statement (ctas-insert-into.html):
        more fail the statement, and nothing is written."""
        staging = Path(tempfile.mkdtemp(dir=self.cache_dir, prefix="_ctas-"))
        try:
            options = storage.copy_options
            if partitioned_by:
                keys = ", ".join(f'"{c}"' for c in partitioned_by)
                options += f", PARTITION_BY ({keys}), FILENAME_PATTERN '{query_id}_{{i}}'"
                target = staging
            else:
                target = staging / f"{query_id}_00000"
            result = self.run(f"COPY ({query}) TO '{target}' ({options})")
            files = sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())
            folders = sorted({file.parent.as_posix() for file in files} - {"."})
            if len(folders) > MAX_PARTITIONS_WRITTEN:
                raise ExecutionError(
                    "HIVE_TOO_MANY_OPEN_PARTITIONS",
                    f"Exceeded limit of {MAX_PARTITIONS_WRITTEN} open writers for "
                    "partitions/buckets",
                )
            bucket, _, prefix = location.removeprefix("s3://").partition("/")
            prefix = prefix.rstrip("/")
            for file in files:
                key = f"{prefix}/{file.as_posix()}".lstrip("/")
                self.s3.upload_file(str(staging / file), bucket, key)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return Written(
            update_count=result.update_count,
            bytes_scanned=result.bytes_scanned,
            partitions=[_partition_values(folder) for folder in folders],
        )

    def rename(self, database: str, name: str, new_database: str, new_name: str) -> None:
        """ALTER TABLE RENAME of an Iceberg table: its rows move with it."""
        old, new = (database, name), (new_database, new_name)
        if old not in self._held:
            return
        self._drop(new)
        self.con.execute(
            f"CREATE TABLE {self.qualified(*new)} AS SELECT * FROM {self.qualified(*old)}"
        )
        location, spec = self._held[old], self._partitioning.get(old, [])
        self._drop(old)
        self._held[new] = location
        self._partition(new, spec)

    def multiple_matches(self, target: str, alias: str, source: str, on: str) -> int:
        """Target rows of a MERGE that more than one source row matches."""
        row = self.con.execute(
            f"SELECT count(*) FROM (SELECT {alias}.rowid FROM {target} AS {alias} "
            f"INNER JOIN {source} ON {on} GROUP BY {alias}.rowid HAVING count(*) > 1)"
        ).fetchone()
        return int(row[0]) if row else 0

    def query(self, sql: str, parameters: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """A query of the emulator's own (no profile, no accounting)."""
        return self.con.execute(sql, parameters or []).fetchall()

    def _bytes_read(self) -> int:
        """The bytes the last statement scanned in data files: the Hive objects'
        local copies and the Iceberg tables' files, not DuckLake's catalog.

        A Parquet file counts the column chunks the statement started a read in
        (whole, once, however DuckDB split its reads), not its footer: DuckDB caches
        footers, so counting them would make a statement's bytes depend on what
        ran before it. Other files (CSV) count the bytes read."""
        iceberg, hive = str(self.data_files) + "/", str(self.cache_dir) + "/"
        catalog = str(self.metadata)  # its data folder's name starts the same
        reads: dict[str, list[tuple[int, int]]] = {}
        for (message,) in self.con.execute(
            "select message from duckdb_logs where type = 'FileSystem'"
        ).fetchall():
            entry = json.loads(message)
            path = entry.get("path", "")
            if entry.get("op") == "READ" and (
                path.startswith(iceberg) or (path.startswith(hive) and not path.startswith(catalog))
            ):
                start = int(entry.get("pos", 0))
                reads.setdefault(path, []).append((start, start + int(entry.get("bytes", 0))))
        total = 0
        for path, ranges in reads.items():
            chunks = self._chunks_of(path)
            if chunks is None:
                total += sum(end - start for start, end in ranges)
                continue
            # A read that starts in a chunk reads it; one that runs on past the
            # chunk's end (DuckDB reads page headers 256 bytes at a time) does
            # not read the next.
            total += sum(
                end - start for start, end in chunks if any(start <= a < end for a, _ in ranges)
            )
        return total

    def _chunks_of(self, path: str) -> list[tuple[int, int]] | None:
        """The byte ranges of a Parquet file's column chunks; None for other files."""
        if path not in self._file_chunks:
            try:
                metadata = pq.ParquetFile(path).metadata
            except (OSError, pa.ArrowInvalid):
                return None
            ranges = []
            for group in range(metadata.num_row_groups):
                row_group = metadata.row_group(group)
                for index in range(row_group.num_columns):
                    chunk = row_group.column(index)
                    offsets = [chunk.data_page_offset, chunk.dictionary_page_offset]
                    start = min(o for o in offsets if o)
                    ranges.append((start, start + chunk.total_compressed_size))
            self._file_chunks[path] = ranges
        return self._file_chunks[path]


def iceberg_metadata(s3: Any, table: Table) -> dict[str, Any] | None:
    """The emulator's stand-in for an Iceberg table's metadata file (schema,
    partition spec, properties), from S3; None for a table without one (made
    by Hive DDL)."""
    uri = table.raw.get("Parameters", {}).get("metadata_location") or ""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not key:
        return None
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


@dataclass(frozen=True)
class HiveStorage:
    """How a Hive table's objects hold its rows: Parquet, OpenCSV or Hive's
    delimited text (LazySimpleSerDe), from its Glue StorageDescriptor."""

    format: str  # parquet, opencsv, text, or the SerDe's name for others
    serde: str
    delimiter: str = "\x01"
    skip_lines: int = 0

    @property
    def csv_options(self) -> str:
        """DuckDB's read_csv options for the text formats."""
        if self.format == "opencsv":
            return (
                f"header = false, skip = {self.skip_lines}, "
                "delim = ',', quote = '\"', escape = '\"'"
            )
        # LazySimpleSerDe: no quoting, no escaping, NULL written as \N.
        return (
            f"header = false, skip = {self.skip_lines}, delim = {_sql_string(self.delimiter)}, "
            "quote = '', escape = '', nullstr = '\\N'"
        )

    @property
    def copy_options(self) -> str:
        """DuckDB's COPY options that write objects this table reads."""
        if self.format == "parquet":
            return "FORMAT parquet, COMPRESSION zstd"
        if self.format == "opencsv":
            return "FORMAT csv, HEADER false, DELIMITER ',', QUOTE '\"', ESCAPE '\""
        if self.format == "text":
            return (
                f"FORMAT csv, HEADER false, DELIMITER {_sql_string(self.delimiter)}, "
                "QUOTE '', ESCAPE '', NULLSTR '\\N'"
            )
        raise ExecutionError(
            "EMULATOR_LIMITATION",
            f"the emulator writes Hive tables as Parquet, text or OpenCSV, not {self.serde}",
        )


LAZY_SIMPLE_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"


def hive_storage(raw: dict[str, Any]) -> HiveStorage:
    """A Glue table's storage; Hive's defaults where the descriptor leaves them
    out (LazySimpleSerDe splits fields at \\001)."""
    descriptor = raw.get("StorageDescriptor", {})
    serde_info = descriptor.get("SerdeInfo") or {}
    serde = serde_info.get("SerializationLibrary", "")
    parameters = serde_info.get("Parameters") or {}
    skip = int(raw.get("Parameters", {}).get("skip.header.line.count", "0") or 0)
    input_format = (descriptor.get("InputFormat") or "").lower()
    if "parquet" in input_format or "parquet" in serde.lower():
        return HiveStorage("parquet", serde)
    if "opencsv" in serde.lower():
        return HiveStorage("opencsv", serde, ",", skip)
    if serde in ("", LAZY_SIMPLE_SERDE) and "textinputformat" in input_format:
        delimiter = parameters.get("field.delim") or parameters.get("serialization.format")
        if not delimiter or delimiter == "1":
            delimiter = "\x01"
        return HiveStorage("text", serde or LAZY_SIMPLE_SERDE, delimiter, skip)
    return HiveStorage(serde.rsplit(".", 1)[-1] or input_format or "unknown", serde)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _hive_value(column: str, trino_type: str) -> str:
    """A Parquet column as Athena reads it through a Hive table's Glue type."""
    if trino_type.startswith("timestamp("):
        # A Hive timestamp is timestamp(3): Parquet micros are rounded to millis.
        return f'CAST(CAST(CAST("{column}" AS TIMESTAMP) AS TIMESTAMP_MS) AS TIMESTAMP)'
    return f'CAST("{column}" AS {duckdb_type(trino_type)})'


def _partition_pattern(
    parameters: dict[str, str], location: str, partitions: list[str]
) -> re.Pattern[str]:
    """Which object keys hold which partition values: the projection's
    storage.location.template, else Hive's k=v folders under the location."""
    template = parameters.get("storage.location.template")
    if not template:
        template = location.rstrip("/") + "/" + "/".join(f"{p}=${{{p}}}" for p in partitions)
    regex = ""
    for piece in re.split(r"(\$\{\w+\})", template.rstrip("/")):
        found = re.fullmatch(r"\$\{(\w+)\}", piece)
        regex += f"(?P<{found.group(1)}>[^/]+)" if found else re.escape(piece)
    return re.compile(regex + r"/.+")


def _partition_regex(files: list[tuple[str, dict[str, str]]], partition: str) -> str:
    """A regex whose group 1 is `partition`'s value in a local path."""
    path, values = files[0]
    value = values[partition]
    index = path.find("/" + value + "/")
    before = path[:index].rsplit("/", 1)[-1]
    return "/" + re.escape(before).replace("'", "''") + "/([^/]+)/" if before else "/([^/]+)/"


def _partition_values(folder: str) -> list[tuple[str, str]]:
    """The (key, value) pairs of a Hive partition folder, `k1=v1/k2=v2`."""
    return [
        (key, urllib.parse.unquote(value))
        for key, _, value in (part.partition("=") for part in folder.split("/"))
    ]


def _view_sql(text: str) -> str:
    payload = text.removeprefix("/* Presto View: ").removesuffix(" */")
    return json.loads(base64.b64decode(payload))["originalSql"]


_ERRORS = {
    "Conversion Error": "INVALID_CAST_ARGUMENT",
    "Out of Range Error": "NUMERIC_VALUE_OUT_OF_RANGE",
    # strptime's, for Trino's date_parse of text its format does not match.
    "Invalid Input Error: Could not parse string": "INVALID_FUNCTION_ARGUMENT",
}


def _execution_error(error: duckdb.Error) -> ExecutionError:
    text = str(error).split("\n")[0]
    for trino_name in (
        "DIVISION_BY_ZERO",
        "INVALID_CAST_ARGUMENT",
        "INVALID_FUNCTION_ARGUMENT",
        "MERGE_TARGET_ROW_MULTIPLE_MATCHES",
    ):
        if f"{trino_name}: " in text:
            return ExecutionError(trino_name, text.split(f"{trino_name}: ", 1)[1])
    for prefix, trino_name in _ERRORS.items():
        if text.startswith(prefix):
            return ExecutionError(trino_name, text.split(": ", 1)[-1])
    return ExecutionError(
        "EMULATOR_LIMITATION", f"DuckDB could not run the translated statement: {text}"
    )


def parse_trino(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="trino")
