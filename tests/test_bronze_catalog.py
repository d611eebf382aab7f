"""The Glue tables over Bronze follow the Parquet the handlers write."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ingestion.application import PROJECT_ROOT, load_application
from ingestion.bronze_catalog import bronze_tables, glue_table_input, glue_type
from ingestion.schemas import DYNAMODB_CHANGES, EVENTS, QUARANTINE

BRONZE_TABLES = bronze_tables(load_application())
STUDIO = bronze_tables(load_application(PROJECT_ROOT / "examples" / "studio" / "streamlake.yml"))


@pytest.mark.parametrize("table", BRONZE_TABLES + STUDIO, ids=lambda t: t.name)
def test_glue_columns_are_the_parquet_columns_in_order(table):
    columns = glue_table_input(table, "s3://lake-bucket/prefix")["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in columns] == table.schema.names
    assert [c["Type"] for c in columns] == [glue_type(f.type) for f in table.schema]


def test_every_source_of_the_application_has_a_table_of_its_kind():
    schemas = {t.name: t.schema for t in BRONZE_TABLES}
    assert schemas["events"] is EVENTS
    assert all(schemas[name] is DYNAMODB_CHANGES for name in ("customers", "products", "orders"))
    assert schemas["quarantine"] is QUARANTINE
    studio = {t.name: t.schema for t in STUDIO}
    assert studio == {"studio": DYNAMODB_CHANGES, "app_activity": EVENTS, "quarantine": QUARANTINE}


def test_partition_projection_points_at_the_landing_paths():
    tables = {t.name: glue_table_input(t, "s3://lake-bucket/prefix/") for t in BRONZE_TABLES}
    orders = tables["orders"]["Parameters"]
    assert orders["storage.location.template"] == "s3://lake-bucket/prefix/bronze/orders/dt=${dt}/"
    assert orders["projection.dt.format"] == "yyyy-MM-dd"
    quarantine = tables["quarantine"]
    assert [k["Name"] for k in quarantine["PartitionKeys"]] == ["source_folder", "dt"]
    assert (
        quarantine["Parameters"]["storage.location.template"]
        == "s3://lake-bucket/prefix/quarantine/${source_folder}/dt=${dt}/"
    )
    assert quarantine["Parameters"]["projection.source_folder.values"].split(",") == [
        "customers",
        "products",
        "orders",
        "events",
    ]
    # A partition key may not repeat a column, or Glue refuses the table.
    for table in tables.values():
        names = {c["Name"] for c in table["StorageDescriptor"]["Columns"]}
        assert not names & {k["Name"] for k in table["PartitionKeys"]}


def test_unknown_arrow_type_is_a_clear_error():
    with pytest.raises(ValueError, match="no Glue type"):
        glue_type(pa.list_(pa.int8()))
