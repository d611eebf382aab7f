"""The Glue tables over Bronze, generated from the schemas the handlers write.

Which tables there are follows from the application file (ingestion/application.py);
one definition of their columns (ingestion/schemas.py) feeds the handlers' Parquet, the Glue
tables the CDK app creates (infra/), and the column lists of the dbt sources
from which the aws target's `create_bronze_tables` operation builds the same
tables. Tests compare each of them with this module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pyarrow as pa

from ingestion.application import Application
from ingestion.schemas import DYNAMODB_CHANGES, EVENTS, QUARANTINE

# Where partition projection starts: no Bronze is older than the project.
PROJECTION_START = "2020-01-01"


@dataclass(frozen=True)
class BronzeTable:
    """One Glue table over a Bronze (or quarantine) prefix."""

    name: str
    schema: pa.Schema
    prefix: str
    description: str
    # Partition columns and the path segment each one is, in path order.
    partitions: tuple[tuple[str, str], ...] = (("dt", "dt=${dt}"),)
    # Quarantine's folders, one per Bronze source (its partition projection's values).
    source_folders: tuple[str, ...] = ()

    @property
    def partition_keys(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.partitions)


QUARANTINE_TABLE = "quarantine"
_QUARANTINE = BronzeTable(
    QUARANTINE_TABLE,
    QUARANTINE,
    "quarantine",
    "Records that could not land, with their original bytes and the reason.",
    # quarantine/<source>/dt=<day>/: the folder is not Hive-style, and the
    # files carry a `source` column already, so the key takes another name.
    partitions=(("source_folder", "${source_folder}"), ("dt", "dt=${dt}")),
)


def bronze_tables(app: Application) -> tuple[BronzeTable, ...]:
    """The application's Bronze tables (its tables', then its streams'), and quarantine."""
    tables = [
        BronzeTable(
            table.source,
            DYNAMODB_CHANGES,
            f"bronze/{table.source}",
            f"DynamoDB Streams changes of {table.table_name or table.source}."
            + (f" {table.description}" if table.description else ""),
        )
        for table in app.dynamodb_tables
    ]
    tables += [
        BronzeTable(
            stream.source,
            EVENTS,
            f"bronze/{stream.source}",
            f"Events from the Kinesis stream {stream.stream_name or stream.source}."
            + (f" {stream.description}" if stream.description else ""),
        )
        for stream in app.kinesis_streams
    ]
    return (*tables, replace(_QUARANTINE, source_folders=tuple(app.sources)))


def glue_type(arrow_type: pa.DataType) -> str:
    """The Hive/Glue type Athena reads an Arrow column of the Bronze Parquet as."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_int64(arrow_type):
        return "bigint"
    if pa.types.is_int32(arrow_type):
        return "int"
    if pa.types.is_float64(arrow_type):
        return "double"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "binary"
    raise ValueError(f"no Glue type for Arrow type {arrow_type}")


def glue_columns(table: BronzeTable) -> list[dict[str, str]]:
    """Glue's column list (Name, Type, Comment) for a Bronze table, in file order."""
    columns = []
    for field in table.schema:
        why = (field.metadata or {}).get(b"why", b"").decode()
        fmt = (field.metadata or {}).get(b"format", b"").decode()
        comment = why or (f"{fmt} text" if fmt else "")
        column = {"Name": field.name, "Type": glue_type(field.type)}
        if comment:
            column["Comment"] = comment
        columns.append(column)
    return columns


def partition_projection(table: BronzeTable, location: str) -> dict[str, str]:
    """Table parameters for Athena partition projection over the table's prefix.

    `location` is the table's s3:// prefix without a trailing slash. `dt` projects
    as a date from PROJECTION_START to now; the quarantine's source folder as
    the application's Bronze sources (the table's source_folders).
    """
    parameters = {
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": f"{PROJECTION_START},NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
    }
    if "source_folder" in table.partition_keys:
        parameters["projection.source_folder.type"] = "enum"
        parameters["projection.source_folder.values"] = ",".join(table.source_folders)
    template = "/".join(segment for _, segment in table.partitions)
    parameters["storage.location.template"] = f"{location}/{template}/"
    return parameters


def glue_table_input(table: BronzeTable, lake_uri: str) -> dict:
    """The Glue TableInput (boto3's shape) for a Bronze table under `lake_uri`.

    `lake_uri` is the lake's s3://bucket[/prefix]. The CDK app passes the same
    structure to CfnTable; the dbt operation writes the equivalent DDL.
    """
    location = f"{lake_uri.rstrip('/')}/{table.prefix}"
    return {
        "Name": table.name,
        "Description": table.description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "parquet",
            "EXTERNAL": "TRUE",
            **partition_projection(table, location),
        },
        "PartitionKeys": [{"Name": key, "Type": "string"} for key in table.partition_keys],
        "StorageDescriptor": {
            "Columns": glue_columns(table),
            "Location": f"{location}/",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": (
                    "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                ),
                "Parameters": {"serialization.format": "1"},
            },
        },
    }
