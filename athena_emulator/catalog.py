"""The emulator's view of the Glue catalog, through the Glue API like Athena's.

Names are what Athena resolves against: catalog `awsdatacatalog`, a Glue
database per schema, tables and views with their columns. Statements that
change the catalog (DDL, CTAS, RENAME, DROP) write through here, so the next
statement, and the next dbt run, see their effect.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from athena_emulator.types import trino_type_from_glue

CATALOG = "awsdatacatalog"

# Columns Athena adds to every Hive table; `select *` does not return them.
HIDDEN_COLUMNS = {
    "$path": "varchar",
    "$file_size": "bigint",
    "$file_modified_time": "timestamp(3) with time zone",
}

_VIEW_PREFIX = "/* Presto View: "
_VIEW_SUFFIX = " */"


@dataclass(frozen=True)
class Table:
    database: str
    name: str
    kind: str  # "hive", "iceberg" or "view"
    columns: tuple[tuple[str, str], ...]  # (name, Trino type), partition keys last
    partition_keys: tuple[str, ...]
    location: str | None
    raw: dict[str, Any]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


def view_original_text(sql: str, catalog: str, schema: str, columns: list[tuple[str, str]]) -> str:
    """What Athena stores in Glue for a view: its SQL and Trino column types, base64 JSON."""
    payload = {
        "originalSql": sql,
        "catalog": catalog,
        "schema": schema,
        "columns": [{"name": name, "type": kind} for name, kind in columns],
    }
    encoded = base64.b64encode(json.dumps(payload).encode()).decode()
    return f"{_VIEW_PREFIX}{encoded}{_VIEW_SUFFIX}"


def _view_columns(raw: dict[str, Any]) -> list[tuple[str, str]] | None:
    text = raw.get("ViewOriginalText") or ""
    if not (text.startswith(_VIEW_PREFIX) and text.endswith(_VIEW_SUFFIX)):
        return None
    payload = json.loads(base64.b64decode(text[len(_VIEW_PREFIX) : -len(_VIEW_SUFFIX)]))
    return [(c["name"], c["type"]) for c in payload["columns"]]


def table_kind(raw: dict[str, Any]) -> str:
    if raw.get("TableType") == "VIRTUAL_VIEW":
        return "view"
    if raw.get("Parameters", {}).get("table_type", "").lower() == "iceberg":
        return "iceberg"
    return "hive"


def to_table(raw: dict[str, Any]) -> Table:
    kind = table_kind(raw)
    descriptor = raw.get("StorageDescriptor", {})
    columns = None
    if kind == "view":
        columns = _view_columns(raw)
    if columns is None:
        iceberg = kind == "iceberg"
        columns = [
            (c["Name"].lower(), trino_type_from_glue(c["Type"], iceberg=iceberg))
            for c in descriptor.get("Columns", [])
            if c.get("Parameters", {}).get("iceberg.field.current") != "false"
        ]
    partition_keys = [k["Name"].lower() for k in raw.get("PartitionKeys", [])]
    columns += [
        (k["Name"].lower(), trino_type_from_glue(k["Type"], iceberg=False))
        for k in raw.get("PartitionKeys", [])
    ]
    return Table(
        database=raw["DatabaseName"],
        name=raw["Name"],
        kind=kind,
        columns=tuple(columns),
        partition_keys=tuple(partition_keys),
        location=descriptor.get("Location"),
        raw=raw,
    )


class GlueCatalog:
    """Reads and writes the Glue catalog through a boto3 Glue client.

    Reads come from a snapshot of every database and table, taken again after
    any change to Glue: `changed()` is called for every Glue write that reaches
    the server, the emulator's own and dbt-athena's alike.
    """

    def __init__(self, glue: Any) -> None:
        self.glue = glue
        self._version = 0
        self._snapshot: tuple[int, dict[str, dict[str, Table]]] | None = None

    def changed(self) -> None:
        self._version += 1

    @property
    def version(self) -> int:
        """Grows with every change to Glue (the engine re-reads the catalog then)."""
        return self._version

    def _tables(self) -> dict[str, dict[str, Table]]:
        version = self._version
        if self._snapshot is None or self._snapshot[0] != version:
            snapshot: dict[str, dict[str, Table]] = {}
            pages = self.glue.get_paginator("get_databases").paginate()
            for database in [d["Name"] for page in pages for d in page["DatabaseList"]]:
                tables = self.glue.get_paginator("get_tables").paginate(DatabaseName=database)
                snapshot[database] = {
                    t["Name"]: to_table(t) for page in tables for t in page["TableList"]
                }
            self._snapshot = (version, snapshot)
        return self._snapshot[1]

    def databases(self) -> list[str]:
        return list(self._tables())

    def database_exists(self, database: str) -> bool:
        return database in self._tables()

    def create_database(self, database: str, description: str | None = None) -> None:
        database_input: dict[str, Any] = {"Name": database}
        if description:
            database_input["Description"] = description
        self.glue.create_database(DatabaseInput=database_input)
        self.changed()

    def delete_database(self, database: str) -> None:
        for table in self.tables(database):
            self.glue.delete_table(DatabaseName=database, Name=table.name)
        self.glue.delete_database(Name=database)
        self.changed()

    def tables(self, database: str) -> list[Table]:
        return list(self._tables().get(database, {}).values())

    def table(self, database: str, name: str) -> Table | None:
        return self._tables().get(database, {}).get(name)

    def create_table(self, database: str, table_input: dict[str, Any]) -> None:
        self.glue.create_table(DatabaseName=database, TableInput=table_input)
        self.changed()

    def update_table(self, database: str, table_input: dict[str, Any]) -> None:
        self.glue.update_table(DatabaseName=database, TableInput=table_input)
        self.changed()

    def delete_table(self, database: str, name: str) -> None:
        self.glue.delete_table(DatabaseName=database, Name=name)
        self.changed()

    def partition_values(self, database: str, name: str) -> list[list[str]]:
        """The values of each partition Glue has of a table."""
        pages = self.glue.get_paginator("get_partitions").paginate(
            DatabaseName=database, TableName=name
        )
        return [partition["Values"] for page in pages for partition in page["Partitions"]]

    def add_partitions(self, database: str, name: str, partitions: list[dict[str, Any]]) -> None:
        """Partitions of a table, each a Glue PartitionInput (Values, StorageDescriptor)."""
        for start in range(0, len(partitions), 100):  # batch_create_partition takes 100
            self.glue.batch_create_partition(
                DatabaseName=database,
                TableName=name,
                PartitionInputList=partitions[start : start + 100],
            )

    def sqlglot_schema(self) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
        """Every table's visible columns with Trino types, for sqlglot's qualify."""
        databases = {
            database: {name: dict(table.columns) for name, table in tables.items()}
            for database, tables in self._tables().items()
            if tables
        }
        # sqlglot refuses a catalog with no tables; a query of literals needs none.
        return {CATALOG: databases} if databases else {}


def table_input(raw: dict[str, Any]) -> dict[str, Any]:
    """The writable part of a get_table answer, for create_table or update_table."""
    allowed = {
        "Name",
        "Description",
        "Owner",
        "Retention",
        "StorageDescriptor",
        "PartitionKeys",
        "ViewOriginalText",
        "ViewExpandedText",
        "TableType",
        "Parameters",
    }
    return {key: value for key, value in raw.items() if key in allowed}
