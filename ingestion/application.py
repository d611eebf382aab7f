"""The application file: which DynamoDB tables and Kinesis streams Streamlake lands and models.

`streamlake.yml` at the repository root (STREAMLAKE_APP_CONFIG names another)
lists the application's sources. Everything after the handlers follows from it:
the Bronze tables of the Glue catalog (ingestion/bronze_catalog.py), the CDK
app's tables, streams, event source mappings and permissions (infra/), and the
dbt files `streamlake sources apply` writes (a staging view and a Silver
current-state model per entity, the Bronze sources). The handlers themselves
never read it: they land whatever table or stream an event's ARN names.

A DynamoDB table holds one entity, or several (single-table design): each
entity is told apart by the value of an attribute or by a key prefix, and has
its own Silver table and key. docs/applications.md describes every field;
docs/streamlake.schema.json is the same description as a JSON Schema.

Every problem with a file is an ApplicationError whose lines each name the
file, the line and the field: `streamlake.yml:14: dynamodb_tables[0].entities[1].name: ...`.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_APPLICATION_FILE = "streamlake.yml"

# Glue and dbt names: lowercase letters, digits and underscores, starting with a letter.
IDENTIFIER = r"^[a-z][a-z0-9_]*$"
_DECIMAL = re.compile(r"^decimal\((\d{1,2}),\s*(\d{1,2})\)$")
COLUMN_TYPES = ("string", "integer", "bigint", "double", "boolean", "date", "timestamp")

# Columns every staged change and Silver row carries besides the application's
# attributes (dbt_project/macros/dynamodb_changes.sql): an entity may not use their names.
CHANGE_COLUMNS = (
    "event_name",
    "is_delete",
    "is_expired",
    "sequence_number",
    "sequence_key",
    "changed_at",
    "ingestion_time",
    "dt",
    "source_file",
)
SILVER_COLUMNS = (
    "is_deleted",
    "deleted_at",
    "is_expired",
    "sequence_number",
    "sequence_key",
    "changed_at",
    "_ingested_at",
    "_processed_at",
)
RESERVED_SOURCES = ("quarantine",)


class ApplicationError(ValueError):
    """A problem with the application file: one line per problem, each naming file and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    """A Silver column of an entity, read from one attribute of the item."""

    name: str = Field(pattern=IDENTIFIER, description="The column's name in staging and Silver.")
    attribute: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "The DynamoDB attribute it is read from (default: the column's name). Key "
            "attributes are read from the change's Keys, the others from the item image."
        ),
    )
    type: str = Field(
        default="string",
        description=(
            "string, integer, bigint, double, boolean, date, timestamp (ISO 8601 text with an "
            "offset) or decimal(p, s)."
        ),
    )
    strip_prefix: str | None = Field(
        default=None,
        min_length=1,
        description="Removed from the start of the value, e.g. USER# of a single-table key.",
    )
    required: bool = Field(
        default=False, description="Silver's not-null test covers it (key columns always)."
    )
    day_of: str | None = Field(
        default=None,
        pattern=IDENTIFIER,
        description=(
            "Makes this a date column of Silver alone: the UTC day of that timestamp column "
            "(no attribute is read)."
        ),
    )
    description: str = ""
    data_tests: list[Any] = Field(
        default_factory=list, description="dbt data tests of the Silver column, as in dbt YAML."
    )

    @property
    def source_attribute(self) -> str:
        return self.attribute or self.name

    @property
    def sql_type(self) -> str:
        """The type as the SQL of both engines writes it."""
        decimal = _DECIMAL.match(self.type)
        return f"decimal({decimal.group(1)}, {decimal.group(2)})" if decimal else self.type


class Match(_Strict):
    """Which items of a single-table design are this entity's."""

    attribute: str = Field(min_length=1, description="The attribute that tells entities apart.")
    equals: str | None = Field(default=None, description="Items whose attribute has this value.")
    prefix: str | None = Field(
        default=None, min_length=1, description="Items whose attribute starts with this."
    )


class Entity(_Strict):
    """One kind of item: a staging view stg_<name> and a Silver table <name>."""

    name: str = Field(pattern=IDENTIFIER, description="The Silver table's name.")
    description: str = ""
    match: Match | None = Field(
        default=None, description="Needed when the table holds more than one entity."
    )
    key: list[str] = Field(
        min_length=1, description="The Silver key: columns read from the table's key attributes."
    )
    partition_by: str | None = Field(
        default=None,
        pattern=IDENTIFIER,
        description="A date column: Iceberg partitions the Silver table by its day.",
    )
    columns: list[Column] = Field(min_length=1)
    data_tests: list[Any] = Field(
        default_factory=list, description="dbt data tests of the Silver model, as in dbt YAML."
    )

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def staged_columns(self) -> list[Column]:
        """What the staging view reads from the change (day_of columns are Silver's own)."""
        return [c for c in self.columns if c.day_of is None]


class Freshness(_Strict):
    warn_after_hours: float = Field(
        default=1, gt=0, description="dbt source freshness warns when nothing landed for this long."
    )


class DynamoDbTable(_Strict):
    """A DynamoDB table whose stream the handler lands under bronze/<source>/."""

    source: str = Field(pattern=IDENTIFIER, description="The Bronze source: bronze/<source>/.")
    table_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{3,255}$",
        description=(
            "Your table's name, when it is not the source's (the handler maps it to the source). "
            "Without stream_arn, the CDK app creates a table named <stack prefix>-<source>."
        ),
    )
    stream_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[A-Za-z0-9_.-]+/stream/[^/]+$",
        description="An existing table's stream (NEW_AND_OLD_IMAGES); the CDK app creates none.",
    )
    description: str = ""
    partition_key: str = Field(min_length=1, description="The table's partition key attribute.")
    sort_key: str | None = Field(default=None, min_length=1)
    partition_key_type: Literal["string", "number"] = "string"
    sort_key_type: Literal["string", "number"] = "string"
    ttl_attribute: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "The table's time-to-live attribute. Its expiries are REMOVEs by the DynamoDB "
            "service, which Silver keeps apart from the application's deletes (is_expired)."
        ),
    )
    freshness: Freshness = Field(default_factory=Freshness)
    entities: list[Entity] = Field(min_length=1)

    @property
    def key_attributes(self) -> tuple[str, ...]:
        return (self.partition_key, self.sort_key) if self.sort_key else (self.partition_key,)


class StreamColumn(_Strict):
    """Documentation and tests of one of a stream's Silver columns."""

    name: str = Field(pattern=IDENTIFIER)
    description: str = ""
    data_tests: list[Any] = Field(default_factory=list)


class StreamSilver(_Strict):
    name: str | None = Field(
        default=None, pattern=IDENTIFIER, description="The Silver table (default: the source)."
    )
    description: str = ""
    data_tests: list[Any] = Field(default_factory=list)
    columns: list[StreamColumn] = Field(
        default_factory=list, description="Descriptions and tests of the Silver columns."
    )


class KinesisStream(_Strict):
    """A Kinesis stream of events whose payloads an event contract maps onto Bronze's columns."""

    source: str = Field(pattern=IDENTIFIER, description="The Bronze source: bronze/<source>/.")
    stream_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.-]{1,128}$",
        description="Your stream's name, when it is not the source's.",
    )
    stream_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/[A-Za-z0-9_.-]+$",
        description="An existing stream; without it the CDK app creates an on-demand stream.",
    )
    description: str = ""
    contract: str = Field(
        default="default",
        min_length=1,
        description=(
            "The event contract: a shipped one by name (default, camel_case) or a YAML file, "
            "relative to this file."
        ),
    )
    retention_hours: int = Field(
        default=168,
        ge=24,
        le=8760,
        description="How long a stream the CDK app creates keeps records.",
    )
    freshness: Freshness = Field(default_factory=Freshness)
    silver: StreamSilver = Field(default_factory=StreamSilver)

    @property
    def silver_name(self) -> str:
        return self.silver.name or self.source


class Application(_Strict):
    """streamlake.yml: the application's DynamoDB tables and Kinesis streams."""

    version: Literal[1] = Field(description="The file's format: 1.")
    name: str = Field(pattern=IDENTIFIER, description="The application's name.")
    description: str = ""
    dynamodb_tables: list[DynamoDbTable] = Field(default_factory=list)
    kinesis_streams: list[KinesisStream] = Field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        """Every Bronze source, tables first, in the file's order."""
        return [t.source for t in self.dynamodb_tables] + [s.source for s in self.kinesis_streams]

    def table(self, source: str) -> DynamoDbTable | None:
        return next((t for t in self.dynamodb_tables if t.source == source), None)

    def stream(self, source: str) -> KinesisStream | None:
        return next((s for s in self.kinesis_streams if s.source == source), None)

    @property
    def entities(self) -> list[tuple[DynamoDbTable, Entity]]:
        return [(table, entity) for table in self.dynamodb_tables for entity in table.entities]

    @property
    def source_aliases(self) -> dict[str, str]:
        """The table and stream names the file gives -> their Bronze sources, for the
        handlers' Settings.source_aliases (the CDK app adds the names it creates)."""
        aliases = {t.table_name: t.source for t in self.dynamodb_tables if t.table_name}
        aliases.update({s.stream_name: s.source for s in self.kinesis_streams if s.stream_name})
        return aliases

    def silver_models(self, source: str) -> list[str]:
        """The Silver tables a Bronze source feeds."""
        table = self.table(source)
        if table is not None:
            return [entity.name for entity in table.entities]
        stream = self.stream(source)
        return [stream.silver_name] if stream is not None else []


# ---------------------------------------------------------------- checks beyond the types


def _decimal_ok(value: str) -> bool:
    match = _DECIMAL.match(value)
    return bool(match) and 0 <= int(match.group(2)) <= int(match.group(1)) <= 38


def problems_of(app: Application) -> list[tuple[tuple[Any, ...], str]]:
    """What the types cannot say: names unique, keys covered, references that resolve."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    if not app.sources:
        problems.append(((), "names no source: give dynamodb_tables or kinesis_streams"))
    seen_sources: dict[str, tuple[Any, ...]] = {}
    seen_models: dict[str, tuple[Any, ...]] = {}

    def unique_source(path: tuple[Any, ...], name: str) -> None:
        if name in RESERVED_SOURCES:
            problems.append((path, f"'{name}' is reserved for the records that could not land"))
        elif name in seen_sources:
            problems.append((path, f"a second source named '{name}'"))
        seen_sources.setdefault(name, path)

    def unique_model(path: tuple[Any, ...], name: str, what: str) -> None:
        if name in seen_models:
            problems.append(
                (path, f"two {what} named '{name}': each needs a Silver table of its own")
            )
        seen_models.setdefault(name, path)

    for t, table in enumerate(app.dynamodb_tables):
        here = ("dynamodb_tables", t)
        unique_source((*here, "source"), table.source)
        if table.sort_key == table.partition_key:
            problems.append(((*here, "sort_key"), "is the partition key"))
        if len(table.entities) > 1:
            for e, entity in enumerate(table.entities):
                if entity.match is None:
                    problems.append(
                        (
                            (*here, "entities", e, "match"),
                            "missing: a table of several entities tells each apart by a match",
                        )
                    )
        prefixes: dict[str, list[tuple[int, str]]] = {}
        for e, entity in enumerate(table.entities):
            where = (*here, "entities", e)
            unique_model((*where, "name"), entity.name, "entities")
            problems.extend(_entity_problems(table, entity, where))
            if entity.match and entity.match.prefix:
                prefixes.setdefault(entity.match.attribute, []).append((e, entity.match.prefix))
        for attribute, found in prefixes.items():
            for e, prefix in found:
                for other, other_prefix in found:
                    if (
                        other != e
                        and prefix.startswith(other_prefix)
                        and (prefix != other_prefix or other < e)
                    ):
                        problems.append(
                            (
                                (*here, "entities", e, "match", "prefix"),
                                f"'{prefix}' also matches entity {other}'s prefix "
                                f"'{other_prefix}' on {attribute}: an item must be one entity",
                            )
                        )
    for s, stream in enumerate(app.kinesis_streams):
        here = ("kinesis_streams", s)
        unique_source((*here, "source"), stream.source)
        unique_model((*here, "silver", "name"), stream.silver_name, "Silver tables")
    return problems


def _entity_problems(
    table: DynamoDbTable, entity: Entity, where: tuple[Any, ...]
) -> list[tuple[tuple[Any, ...], str]]:
    problems: list[tuple[tuple[Any, ...], str]] = []
    match = entity.match
    if match is not None and (match.equals is None) == (match.prefix is None):
        problems.append(((*where, "match"), "give one of equals or prefix"))
    names: set[str] = set()
    for c, column in enumerate(entity.columns):
        path = (*where, "columns", c)
        if column.name in names:
            problems.append(((*path, "name"), f"a second column named '{column.name}'"))
        names.add(column.name)
        if column.name in CHANGE_COLUMNS or column.name in SILVER_COLUMNS:
            problems.append(
                ((*path, "name"), f"'{column.name}' is a column Streamlake adds to every change")
            )
        if column.type not in COLUMN_TYPES and not _decimal_ok(column.type):
            problems.append(
                (
                    (*path, "type"),
                    f"'{column.type}' is not one of {', '.join(COLUMN_TYPES)}, decimal(p, s)",
                )
            )
        if column.strip_prefix is not None and column.type != "string":
            problems.append(((*path, "strip_prefix"), "only a string column can strip a prefix"))
        if column.day_of is not None:
            source = entity.column(column.day_of)
            if source is None or source.type != "timestamp":
                problems.append(
                    (
                        (*path, "day_of"),
                        f"'{column.day_of}' is not a timestamp column of the entity",
                    )
                )
            if column.type != "date":
                problems.append(((*path, "type"), "a day_of column is a date"))
            if column.attribute is not None:
                problems.append(((*path, "attribute"), "a day_of column reads no attribute"))
    covered: set[str] = set()
    for k, key in enumerate(entity.key):
        column = entity.column(key)
        path = (*where, "key", k)
        if column is None:
            problems.append((path, f"'{key}' is not a column of the entity"))
        elif column.source_attribute not in table.key_attributes:
            problems.append(
                (
                    path,
                    f"'{key}' reads {column.source_attribute}, not a key attribute of the table "
                    f"({', '.join(table.key_attributes)})",
                )
            )
        else:
            covered.add(column.source_attribute)
    fixed = match.attribute if match is not None and match.equals is not None else None
    key_problems = any(path[: len(where) + 1] == (*where, "key") for path, _ in problems)
    for attribute in table.key_attributes:
        if attribute not in covered and attribute != fixed and not key_problems:
            problems.append(
                (
                    (*where, "key"),
                    f"misses the key attribute {attribute}: two items would share one Silver row "
                    f"(add a column read from {attribute}, or match it with equals)",
                )
            )
    if entity.partition_by is not None:
        column = entity.column(entity.partition_by)
        if column is None or column.type != "date":
            problems.append(
                ((*where, "partition_by"), f"'{entity.partition_by}' is not a date column")
            )
    return problems


# ---------------------------------------------------------------- reading the file


def application_path(name: str | None = None) -> Path:
    """The application file: `name` (or STREAMLAKE_APP_CONFIG's value), relative to the project."""
    path = Path(name or DEFAULT_APPLICATION_FILE)
    return path if path.is_absolute() else PROJECT_ROOT / path


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def _field(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top)"


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The line (1-based) of the deepest node the path reaches in the YAML."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == part), None)
            key = next((k for k, _ in node.value if k.value == part), None)
            if found is None:
                return line
            line = (key or found).start_mark.line + 1
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing"
    return str(error["msg"])


def _validation_lines(exc: ValidationError, root: yaml.Node | None, shown: str) -> list[str]:
    """One line per problem; a misspelt key (an unknown key beside a missing one it is
    close to) is one problem, not two."""
    errors = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        # A union's branch names are pydantic's, not the file's.
        loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))
        errors.append((loc, error))
    missing = {loc: error for loc, error in errors if error["type"] == "missing"}
    lines, meant = [], set()
    for loc, error in errors:
        text = _describe(error)
        if error["type"] == "extra_forbidden" and isinstance(loc[-1], str):
            near = [m[-1] for m in missing if m[:-1] == loc[:-1] and isinstance(m[-1], str)]
            close = difflib.get_close_matches(loc[-1], near, n=1)
            if close:
                text = f"unknown key; did you mean {close[0]}?"
                meant.add((*loc[:-1], close[0]))
        lines.append((loc, text))
    return [
        f"{shown}:{_line_of(root, loc)}: {_field(loc)}: {text}"
        for loc, text in lines
        if loc not in meant
    ]


def parse_application(text: str, path: Path) -> Application:
    """The application a file's text describes, or an ApplicationError naming each problem."""
    shown = _display(path)
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ApplicationError(
            [f"{shown}{where}: not YAML: {getattr(exc, 'problem', exc)}"]
        ) from None
    if not isinstance(data, dict):
        raise ApplicationError(
            [f"{shown}: must be a mapping (version, name, dynamodb_tables, ...)"]
        )
    try:
        app = Application.model_validate(data)
    except ValidationError as exc:
        raise ApplicationError(_validation_lines(exc, root, shown)) from None
    problems = problems_of(app)
    if problems:
        raise ApplicationError(
            [
                f"{shown}:{_line_of(root, loc)}: {_field(loc)}: {message}"
                for loc, message in problems
            ]
        )
    return app


def load_application(name: str | Path | None = None) -> Application:
    """Read and check the application file (see application_path)."""
    path = application_path(str(name) if name is not None else None)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ApplicationError(
            [f"{_display(path)}: no application file (STREAMLAKE_APP_CONFIG names another)"]
        ) from None
    return parse_application(text, path)


@lru_cache(maxsize=8)
def _cached(path: Path, mtime_ns: int) -> Application:
    return load_application(path)


def current_application(name: str | None = None) -> Application:
    """The application file `name` names (Settings.app_config), read again only when it changed."""
    path = application_path(name)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        return load_application(path)
    return _cached(path, mtime)


def contract_reference(stream: KinesisStream, app_file: Path) -> str:
    """A stream's contract as the settings take it: a shipped name, or the file's absolute path
    (a contract file is named relative to the application file)."""
    if re.fullmatch(r"[a-z0-9_]+", stream.contract):
        return stream.contract
    path = Path(stream.contract)
    return str(path if path.is_absolute() else (app_file.parent / path).resolve())


def event_contracts(app: Application, app_file: Path) -> dict[str, str]:
    """Each stream's contract, for the handlers' Settings.event_contracts."""
    return {stream.source: contract_reference(stream, app_file) for stream in app.kinesis_streams}


def json_schema() -> dict[str, Any]:
    """The application file's JSON Schema (docs/streamlake.schema.json holds it)."""
    schema = Application.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "streamlake.schema.json"
    return schema
