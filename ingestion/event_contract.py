"""The Kinesis payload contract: where each Bronze `events` column comes from.

A contract is a YAML file (see ingestion/contracts/): for each payload column of
the Bronze `events` schema, the payload field it is read from (a dotted path or
a JSONPath like `$.geo.country`), whether it is required, for event_time the
timestamp forms accepted, and for a column the producer may leave out, how a
deterministic value is made from the record's place in the stream. Columns a
contract leaves out land empty; top-level fields it does not name land in
`extra_fields`, so nothing is lost.

`STREAMLAKE_EVENT_CONTRACT` names the contract: a shipped one by name
(`default`, `camel_case`), a YAML file, or `ssm:<parameter name>` for an SSM
parameter holding the YAML text. Every problem with a contract is a
ContractError whose message is one line naming the file and what is wrong.
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from ingestion.schemas import EVENTS

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
DEFAULT_CONTRACT = "default"
SSM_PREFIX = "ssm:"

Kind = Literal["text", "object", "time"]
# Payload columns by what the payload must hold for them; the other Bronze
# columns come from the Kinesis envelope or from the handler.
PAYLOAD_COLUMNS: dict[str, Kind] = {
    "event_id": "text",
    "event_type": "text",
    "user_id": "text",
    "session_id": "text",
    "event_time": "time",
    "properties": "object",
    "geo_country": "text",
    "geo_region": "text",
    "geo_city": "text",
    "device_type": "text",
    "device_os": "text",
    "device_browser": "text",
}
NOT_NULLABLE = tuple(name for name in PAYLOAD_COLUMNS if not EVENTS.field(name).nullable)
TIME_FORMS = ("iso8601", "epoch_seconds", "epoch_millis")
# What a derived value may be made of: never null in a decoded group.
PLACEHOLDERS = ("stream", "shard_id", "sequence_number")
_COLUMN_KEYS = ("field", "required", "non_empty", "strict", "forms", "when_missing")
# A field name needs no quoting in a JSON path or a SQL identifier and cannot
# break out of the SQL literal it is written into.
_SEGMENT = re.compile(r"[^\s.\"'\\$\[\]*]+")


class ContractError(ValueError):
    """A contract that cannot be used; the message is one line."""


@dataclass(frozen=True)
class ColumnSource:
    """Where one Bronze column comes from in the payload."""

    column: str
    path: tuple[str, ...]
    kind: Kind
    required: bool = False
    non_empty: bool = False  # "" counts as missing
    strict: bool = True  # the JSON type must be the column's; else any value, as its text
    forms: tuple[str, ...] = ()  # event_time only
    when_missing: str | None = None  # a template over PLACEHOLDERS

    @property
    def field(self) -> str:
        """The field as the producer names it, for quarantine reasons."""
        return ".".join(self.path)


@dataclass(frozen=True)
class EventContract:
    name: str  # where it was read from, for messages
    columns: tuple[ColumnSource, ...]

    @property
    def top_level_fields(self) -> tuple[str, ...]:
        """Top-level payload fields the contract reads; any other lands in extra_fields."""
        return tuple(dict.fromkeys(source.path[0] for source in self.columns))

    def source_of(self, column: str) -> ColumnSource | None:
        return next((s for s in self.columns if s.column == column), None)


def _fail(name: str, problem: str) -> ContractError:
    return ContractError(f"event contract {name}: {problem}")


def parse_path(text: Any, name: str, column: str) -> tuple[str, ...]:
    if not isinstance(text, str):
        raise _fail(name, f"{column}.field must be a field name or a JSON path, got {text!r}")
    body = text[2:] if text.startswith("$.") else text
    segments = tuple(body.split("."))
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise _fail(
            name,
            f"{column}.field {text!r} is not a path: use names joined by dots, e.g. "
            "geo.country or $.geo.country (no brackets, quotes, spaces or wildcards)",
        )
    return segments


def _flag(spec: dict[str, Any], key: str, name: str, column: str, default: bool) -> bool:
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise _fail(name, f"{column}.{key} must be true or false, got {value!r}")
    return value


def _template(value: Any, name: str, column: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(name, f"{column}.when_missing must be a template, got {value!r}")
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(value) if field is not None]
    except ValueError as error:
        raise _fail(name, f"{column}.when_missing {value!r}: {error}") from None
    unknown = [field for field in fields if field not in PLACEHOLDERS]
    if unknown:
        raise _fail(
            name,
            f"{column}.when_missing names {{{unknown[0]}}}; a template may use "
            + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS),
        )
    if "sequence_number" not in fields:
        raise _fail(
            name,
            f"{column}.when_missing must use {{sequence_number}}, or records of one shard "
            "would share a value",
        )
    return value


def _known_column(column: str, name: str) -> None:
    if column not in PAYLOAD_COLUMNS:
        if column in EVENTS.names:
            raise _fail(name, f"column {column} comes from the Kinesis envelope, not the payload")
        raise _fail(
            name, f"unknown column {column!r}; payload columns are {', '.join(PAYLOAD_COLUMNS)}"
        )


def _column(column: str, spec: Any, name: str) -> ColumnSource:
    if isinstance(spec, str):
        spec = {"field": spec}
    if not isinstance(spec, dict):
        raise _fail(name, f"{column} must be a field name or a mapping, got {spec!r}")
    unknown = [key for key in spec if key not in _COLUMN_KEYS]
    if unknown:
        raise _fail(
            name, f"{column}: unknown key {unknown[0]!r}; keys are {', '.join(_COLUMN_KEYS)}"
        )
    if "field" not in spec:
        raise _fail(name, f"{column} names no field")
    kind = PAYLOAD_COLUMNS[column]
    source = ColumnSource(
        column=column,
        path=parse_path(spec["field"], name, column),
        kind=kind,
        required=_flag(spec, "required", name, column, False),
        non_empty=_flag(spec, "non_empty", name, column, False),
        strict=_flag(spec, "strict", name, column, True),
        forms=_forms(spec.get("forms"), name, column, kind),
        when_missing=(
            _template(spec["when_missing"], name, column) if "when_missing" in spec else None
        ),
    )
    if kind != "text" and (source.non_empty or source.when_missing):
        raise _fail(name, f"{column}: non_empty and when_missing are for text columns")
    if kind == "time" and not source.strict:
        raise _fail(name, f"{column}: a time is read in one of its forms, it cannot be lenient")
    if source.required and source.when_missing:
        raise _fail(name, f"{column}: a required field needs no when_missing")
    if column in NOT_NULLABLE and not (source.required or source.when_missing):
        raise _fail(
            name, f"{column} may not be empty in Bronze: make it required or give when_missing"
        )
    return source


def _forms(value: Any, name: str, column: str, kind: Kind) -> tuple[str, ...]:
    if kind != "time":
        if value is not None:
            raise _fail(name, f"{column}: forms are for event_time only")
        return ()
    if value is None:
        return ("iso8601",)
    forms = (value,) if isinstance(value, str) else value
    if not isinstance(forms, list | tuple) or not forms:
        raise _fail(name, f"{column}.forms must list some of {', '.join(TIME_FORMS)}")
    for form in forms:
        if form not in TIME_FORMS:
            raise _fail(
                name,
                f"{column}: unknown timestamp form {form!r}; forms are {', '.join(TIME_FORMS)}",
            )
    if {"epoch_seconds", "epoch_millis"} <= set(forms):
        raise _fail(
            name,
            f"{column}: epoch_seconds and epoch_millis together would make every number "
            "ambiguous; accept one",
        )
    return tuple(dict.fromkeys(forms))


def parse_contract(document: Any, name: str) -> EventContract:
    """A contract from its parsed YAML, checked whole; `name` is for messages."""
    if not isinstance(document, dict):
        raise _fail(name, "expected a mapping with a 'columns' key")
    unknown = [key for key in document if key not in ("columns", "description")]
    if unknown:
        raise _fail(name, f"unknown key {unknown[0]!r}; a contract has columns and description")
    columns = document.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise _fail(name, "columns must map Bronze columns to payload fields")
    for column in columns:
        _known_column(str(column), name)
    sources = tuple(_column(str(column), spec, name) for column, spec in columns.items())
    missing = [column for column in NOT_NULLABLE if column not in columns]
    if missing:
        raise _fail(name, f"column {missing[0]} is not optional in Bronze: name its field")
    leaves = {source.path: source.column for source in sources}
    for source in sources:
        for depth in range(1, len(source.path)):
            parent = source.path[:depth]
            if parent in leaves:
                raise _fail(
                    name,
                    f"field {'.'.join(parent)} feeds {leaves[parent]} and is also the object "
                    f"{source.column} is read from",
                )
    return EventContract(name=name, columns=sources)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def is_shipped(reference: str) -> bool:
    """True when the reference is the name of a contract in ingestion/contracts/."""
    return (
        bool(re.fullmatch(r"[a-z0-9_]+", reference))
        and (CONTRACTS_DIR / f"{reference}.yml").is_file()
    )


def contract_file(reference: str) -> Path:
    """The file a reference names: a shipped contract's name, or a path."""
    if is_shipped(reference):
        return CONTRACTS_DIR / f"{reference}.yml"
    if re.fullmatch(r"[a-z0-9_]+", reference):
        names = ", ".join(sorted(p.stem for p in CONTRACTS_DIR.glob("*.yml")))
        if not Path(reference).exists():
            raise ContractError(
                f"event contract {reference!r}: no shipped contract of that name ({names}), "
                "and no such file"
            )
    return Path(reference).expanduser()


def parse_text(text: str, name: str) -> EventContract:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise _fail(name, f"not valid YAML{where}: {problem}") from None
    return parse_contract(document, name)


def _read_file(path: Path) -> EventContract:
    name = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(name, "no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(name, f"cannot be read: {error}") from None
    return parse_text(text, name)


@lru_cache(maxsize=16)
def _cached_file(path: str, mtime_ns: int, size: int) -> EventContract:
    return _read_file(Path(path))


@lru_cache(maxsize=4)
def _cached_parameter(parameter: str, region: str | None) -> EventContract:
    # Imported here: only a Lambda told to read its contract from SSM needs boto3.
    import boto3  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    name = f"{SSM_PREFIX}{parameter}"
    try:
        response = boto3.client("ssm", region_name=region).get_parameter(Name=parameter)
    except (BotoCoreError, ClientError) as error:
        raise _fail(name, f"cannot read the parameter: {error}") from None
    return parse_text(response["Parameter"]["Value"], name)


def is_ssm(reference: str) -> bool:
    return reference.startswith(SSM_PREFIX)


def ssm_parameter(reference: str) -> str:
    """The parameter an `ssm:` reference names, checked without reading it."""
    parameter = reference[len(SSM_PREFIX) :]
    if not re.fullmatch(r"(/[A-Za-z0-9_.-]+)+", parameter):
        raise ContractError(
            f"event contract {reference!r}: not an SSM parameter name; "
            "e.g. ssm:/streamlake/dev/event_contract"
        )
    return parameter


def load_contract(reference: str, region: str | None = None) -> EventContract:
    """The contract `reference` names, read once per process (and again if its file changes)."""
    reference = reference.strip()
    if not reference:
        raise ContractError("event contract: empty name; use default, camel_case or a file path")
    if is_ssm(reference):
        return _cached_parameter(ssm_parameter(reference), region)
    path = contract_file(reference)
    try:
        stat = path.stat()
    except OSError:
        raise _fail(_display(path), "no such file") from None
    if not path.is_file():
        raise _fail(_display(path), "is not a file")
    return _cached_file(os.fspath(path.resolve()), stat.st_mtime_ns, stat.st_size)


def default_contract() -> EventContract:
    return load_contract(DEFAULT_CONTRACT)
