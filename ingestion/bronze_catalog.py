"""The Glue tables over Bronze, generated from the schemas the handlers write.

One definition (ingestion/schemas.py) feeds the handlers' Parquet, the Glue
tables the CDK app creates (infra/), and the column lists of the dbt sources
from which the aws target's `create_bronze_tables` operation builds the same
tables. Tests compare each of them with this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

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

    @property
    def partition_keys(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.partitions)


BRONZE_TABLES: tuple[BronzeTable, ...] = (
    BronzeTable("events", EVENTS, "bronze/events", "Product-analytics events from Kinesis."),
    BronzeTable(
        "customers", DYNAMODB_CHANGES, "bronze/customers", "DynamoDB Streams changes of customers."
    ),
    BronzeTable(
        "products", DYNAMODB_CHANGES, "bronze/products", "DynamoDB Streams changes of products."
    ),
    BronzeTable("orders", DYNAMODB_CHANGES, "bronze/orders", "DynamoDB Streams changes of orders."),
    BronzeTable(
        "quarantine",
        QUARANTINE,
        "quarantine",
        "Records that could not land, with their original bytes and the reason.",
        # quarantine/<source>/dt=<day>/: the folder is not Hive-style, and the
        # files carry a `source` column already, so the key takes another name.
        partitions=(("source_folder", "${source_folder}"), ("dt", "dt=${dt}")),
    ),
)


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
    the known Bronze sources.
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
        sources = [t.name for t in BRONZE_TABLES if t.name != "quarantine"]
        parameters["projection.source_folder.type"] = "enum"
        parameters["projection.source_folder.values"] = ",".join(sources)
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
