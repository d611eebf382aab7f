"""What a panel's query must return: named columns of three kinds Grafana tells apart.

Grafana draws by field type: a time series needs a time field, a pie chart a
string field for its labels and a number field for its values. Each panel
declares the columns it expects; the checks compare them with what DuckDB
returns on the local Gold, and with what the Athena emulator infers for the
Trino types of the same SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FieldKind = Literal["time", "number", "string"]
QueryFormat = Literal["table", "time_series"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: FieldKind


@dataclass(frozen=True)
class Query:
    """A panel's SQL (with the datasource's macros) and the columns it returns, in order."""

    sql: str
    fields: tuple[Field, ...]
    format: QueryFormat = "table"

    def __post_init__(self) -> None:
        if self.format == "time_series" and (not self.fields or self.fields[0].kind != "time"):
            raise ValueError("a time series query returns its time column first")


def time(name: str = "time") -> Field:
    return Field(name, "time")


def number(name: str) -> Field:
    return Field(name, "number")


def string(name: str) -> Field:
    return Field(name, "string")


_DUCKDB_NUMBERS = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
    r"UHUGEINT|FLOAT|DOUBLE|DECIMAL(\(\d+,\s*\d+\))?)$"
)
_DUCKDB_TIMES = re.compile(r"^(DATE|TIMESTAMP(_S|_MS|_NS)?|TIMESTAMP WITH TIME ZONE)$")
_TRINO_NUMBERS = re.compile(
    r"^(tinyint|smallint|integer|bigint|real|double|decimal\(\d+,\s*\d+\))$"
)
_TRINO_TIMES = re.compile(r"^(date|timestamp(\(\d+\))?( with time zone)?)$")


def duckdb_kind(type_name: str) -> FieldKind | None:
    """The kind of a DuckDB result type, as Grafana would type the field; None for others."""
    name = type_name.upper()
    if _DUCKDB_NUMBERS.match(name):
        return "number"
    if _DUCKDB_TIMES.match(name):
        return "time"
    if name == "VARCHAR":
        return "string"
    return None


def trino_kind(type_name: str) -> FieldKind | None:
    """The kind of a Trino (Athena) result type; None for others."""
    name = type_name.lower()
    if _TRINO_NUMBERS.match(name):
        return "number"
    if _TRINO_TIMES.match(name):
        return "time"
    if name == "varchar" or re.match(r"^varchar\(\d+\)$", name):
        return "string"
    return None
