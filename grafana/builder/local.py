"""Panel SQL on the local DuckLake Gold: the datasource's macros expanded, then DuckDB.

The Athena datasource queries with the Gold database as default, so panel SQL
names Gold tables unqualified; here the connection's default schema is the
lake's `gold`. DuckDB runs the same statement text Athena would receive.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from flows.warehouse.lakehouse import open_lake
from grafana.builder.fields import FieldKind, Query, duckdb_kind
from grafana.builder.macros import TimeRange, expand_for
from ingestion.settings import Settings


@contextmanager
def gold(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection whose unqualified names are the lake's Gold tables."""
    with open_lake(settings) as con:
        con.execute("use lake.gold")
        yield con


@dataclass(frozen=True)
class Result:
    sql: str  # as sent, macros expanded
    table: pa.Table
    kinds: tuple[tuple[str, FieldKind | None], ...]  # column name, kind of its DuckDB type

    def mismatches(self, query: Query) -> list[str]:
        """How the columns differ from the ones the panel expects (names, order, kinds)."""
        expected = [(f.name, f.kind) for f in query.fields]
        if [name for name, _ in self.kinds] != [name for name, _ in expected]:
            return [f"columns {[n for n, _ in self.kinds]}, expected {[n for n, _ in expected]}"]
        return [
            f"{name}: {kind or 'unsupported type'}, expected {want}"
            for (name, kind), (_, want) in zip(self.kinds, expected, strict=True)
            if kind != want
        ]


def run(con: duckdb.DuckDBPyConnection, sql: str, time_range: TimeRange) -> Result:
    expanded = expand_for(sql, time_range)
    cursor = con.execute(expanded)
    kinds = tuple((column[0], duckdb_kind(str(column[1]))) for column in cursor.description)
    return Result(expanded, cursor.to_arrow_table(), kinds)
