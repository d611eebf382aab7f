"""The aws target's definitions, checked without AWS or the emulator."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from flows.source_files import SOURCES_FILE, generate
from flows.warehouse.lakehouse import dbt_environment
from ingestion.application import load_application
from ingestion.bronze_catalog import bronze_tables, glue_table_input
from ingestion.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / SOURCES_FILE


def test_bronze_sources_are_generated_from_the_application_and_the_handlers_schema() -> None:
    (generated,) = [f for f in generate(load_application(), ROOT) if f.path == SOURCES_FILE]
    assert SOURCES.read_text() == generated.text, (
        f"{SOURCES_FILE} is out of date: run `streamlake sources apply`"
    )


def test_bronze_source_columns_are_the_glue_columns() -> None:
    (source,) = yaml.safe_load(SOURCES.read_text())["sources"]
    tables = {t["name"]: t for t in source["tables"]}
    catalog = bronze_tables(load_application())
    assert list(tables) == [t.name for t in catalog]
    for table in catalog:
        glue = glue_table_input(table, "{lake_root}")
        columns = [
            {"Name": c["name"], "Type": c["data_type"]}
            | ({"Comment": c["meta"]["glue_comment"]} if "meta" in c else {})
            for c in tables[table.name]["columns"]
        ]
        assert columns == glue["StorageDescriptor"]["Columns"]
        athena = tables[table.name]["meta"]["athena"]
        assert athena["partition_keys"] == [
            {"name": k["Name"], "data_type": k["Type"]} for k in glue["PartitionKeys"]
        ]
        assert athena["location"] == glue["StorageDescriptor"]["Location"]
        assert athena["tblproperties"] | {"EXTERNAL": "TRUE"} == glue["Parameters"]
        assert all(c["description"] for c in tables[table.name]["columns"])


def test_aws_profile_reads_settings_and_holds_no_credentials() -> None:
    text = (ROOT / "profiles.yml").read_text()
    aws = yaml.safe_load(text)["streamlake"]["outputs"]["aws"]
    assert aws["type"] == "athena"
    for key in ("region_name", "work_group", "s3_staging_dir", "s3_data_dir", "schema"):
        assert "env_var('STREAMLAKE_" in aws[key], key
    assert not re.search(r"aws_(access_key_id|secret_access_key|session_token)", text)
    assert "aws_profile_name" not in aws


def test_dbt_environment_carries_the_aws_settings() -> None:
    settings = Settings(
        target="aws",
        lake_root="s3://lake-bucket/prefix",
        aws_region="eu-west-1",
        athena_workgroup="analytics",
        athena_s3_staging_dir="s3://results/",
        bronze_database="raw",
        silver_database="current",
        gold_database="marts",
    )
    environment = dbt_environment(settings)
    assert environment["STREAMLAKE_TARGET"] == "aws"
    assert environment["STREAMLAKE_LAKE_ROOT"] == "s3://lake-bucket/prefix"
    assert environment["STREAMLAKE_AWS_REGION"] == "eu-west-1"
    assert environment["STREAMLAKE_ATHENA_WORKGROUP"] == "analytics"
    assert environment["STREAMLAKE_ATHENA_S3_STAGING_DIR"] == "s3://results/"
    assert environment["STREAMLAKE_WAREHOUSE_URI"] == "s3://lake-bucket/prefix/warehouse"
    assert (
        environment["STREAMLAKE_BRONZE_DATABASE"],
        environment["STREAMLAKE_SILVER_DATABASE"],
        environment["STREAMLAKE_GOLD_DATABASE"],
    ) == ("raw", "current", "marts")
    assert "AWS_ENDPOINT_URL_S3" not in environment
    local = dbt_environment(Settings(s3_endpoint_url="http://127.0.0.1:5000"))
    assert local["STREAMLAKE_ATHENA_S3_STAGING_DIR"] == ""
    assert local["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:5000"


def test_models_carry_no_target_type_branches() -> None:
    for model in (ROOT / "dbt_project" / "models").rglob("*.sql"):
        assert "target.type" not in model.read_text(), model
