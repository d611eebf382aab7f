"""What Athena answers to SHOW and DESCRIBE: rows read from the Glue catalog.

Athena runs these statements through its Hive engine, which formats them as
Hive does (MetaDataFormatUtils: each field padded to 20 characters, fields
separated by a tab); GetQueryResults returns one row per line, in a single
column, with no header row. The forms and what they list follow Athena's
pages: show-columns.html (only the column names), show-tables.html (tables
and views, a regular expression in which `*` is any characters and `|`
separates choices), show-databases.html, show-partitions.html
(`k=v/k2=v2`), show-tblproperties.html, describe-table.html.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from athena_emulator.catalog import GlueCatalog, Table

# Hive's MetaDataFormatUtils.ALIGNMENT.
ALIGNMENT = 20


@dataclass(frozen=True)
class Answer:
    column: str  # the one column's name, as Hive names it
    lines: list[str]


def hive_line(*fields: str) -> str:
    """A line of Hive's text output: each field padded to 20 characters, tab-separated."""
    return "\t".join(f"{field:<{ALIGNMENT}}" for field in fields)


def hive_pattern(pattern: str | None) -> Callable[[str], bool]:
    """Hive's SHOW pattern: `*` any characters, `|` between choices, case-insensitive."""
    if not pattern:
        return lambda _: True
    choices = [re.escape(choice.strip()).replace(r"\*", ".*") for choice in pattern.split("|")]
    compiled = re.compile("|".join(f"(?:{c})" for c in choices), re.IGNORECASE)
    return lambda name: compiled.fullmatch(name) is not None


def show_columns(table: Table) -> Answer:
    return Answer("field", [name for name, _ in table.columns])


def describe(table: Table, column: str | None = None) -> Answer:
    """The columns with their Glue types and comments, then the partition keys
    again under `# Partition Information`, as Hive writes them."""
    raw = table.raw
    data = raw.get("StorageDescriptor", {}).get("Columns", [])
    keys = raw.get("PartitionKeys", [])
    if table.kind == "iceberg":
        data = [c for c in data if c.get("Parameters", {}).get("iceberg.field.current") != "false"]
    entries = [(c["Name"], c["Type"], c.get("Comment", "")) for c in [*data, *keys]]
    if column is not None:
        return Answer(
            "col_name", [hive_line(*entry) for entry in entries if entry[0] == column.lower()]
        )
    lines = [hive_line(*entry) for entry in entries]
    if keys:
        lines += ["", "# Partition Information", hive_line("# col_name", "data_type", "comment")]
        lines += ["", *(hive_line(k["Name"], k["Type"], k.get("Comment", "")) for k in keys)]
    return Answer("col_name", lines)


def show_tables(catalog: GlueCatalog, database: str, pattern: str | None) -> Answer:
    matches = hive_pattern(pattern)
    names = sorted(t.name for t in catalog.tables(database) if matches(t.name))
    return Answer("tab_name", names)


def show_databases(catalog: GlueCatalog, pattern: str | None) -> Answer:
    matches = hive_pattern(pattern)
    return Answer("database_name", sorted(d for d in catalog.databases() if matches(d)))


def show_partitions(catalog: GlueCatalog, table: Table) -> Answer:
    values = catalog.partition_values(table.database, table.name)
    keys = list(table.partition_keys)
    lines = ["/".join(f"{k}={v}" for k, v in zip(keys, row, strict=True)) for row in values]
    return Answer("partition", sorted(lines))


def show_tblproperties(table: Table) -> Answer:
    parameters = table.raw.get("Parameters", {})
    return Answer("prpt_name", [f"{key}\t{value}" for key, value in sorted(parameters.items())])
