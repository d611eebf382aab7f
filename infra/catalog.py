"""Glue databases, the Bronze tables generated from the handlers' schemas, the Athena workgroup."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from constructs import Construct

from infra.config import InfraConfig
from infra.sources import construct_name
from infra.storage import LakeStorage
from ingestion.bronze_catalog import bronze_tables, glue_table_input

LAYERS = ("bronze", "silver", "gold")
GIB = 1024**3


def _columns(columns: list[dict[str, str]]) -> list[glue.CfnTable.ColumnProperty]:
    return [
        glue.CfnTable.ColumnProperty(name=c["Name"], type=c["Type"], comment=c.get("Comment"))
        for c in columns
    ]


def cfn_table_input(table_input: dict[str, Any]) -> glue.CfnTable.TableInputProperty:
    """boto3's Glue TableInput (ingestion.bronze_catalog) in CloudFormation's property types."""
    storage = table_input["StorageDescriptor"]
    serde = storage["SerdeInfo"]
    return glue.CfnTable.TableInputProperty(
        name=table_input["Name"],
        description=table_input["Description"],
        table_type=table_input["TableType"],
        parameters=table_input["Parameters"],
        partition_keys=_columns(table_input["PartitionKeys"]),
        storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
            columns=_columns(storage["Columns"]),
            location=storage["Location"],
            input_format=storage["InputFormat"],
            output_format=storage["OutputFormat"],
            serde_info=glue.CfnTable.SerdeInfoProperty(
                serialization_library=serde["SerializationLibrary"],
                parameters=serde["Parameters"],
            ),
        ),
    )


class Catalog(Construct):
    """Where Athena finds the lake, and the one workgroup everything queries through."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: InfraConfig, storage: LakeStorage
    ) -> None:
        super().__init__(scope, construct_id)
        account = cdk.Stack.of(self).account
        descriptions = {
            "bronze": "Streamlake Bronze: the Parquet the Lambda handlers land, as they landed.",
            "silver": "Streamlake Silver: current state per key and deduplicated events (Iceberg).",
            "gold": "Streamlake Gold: the aggregates the dashboards read (Iceberg).",
        }
        self.database_names = {layer: config.glue_database(layer) for layer in LAYERS}
        self.databases: dict[str, glue.CfnDatabase] = {}
        for layer in LAYERS:
            database_input: dict[str, Any] = {
                "name": self.database_names[layer],
                "description": descriptions[layer],
            }
            if layer != "bronze":
                # dbt-athena puts each model's Iceberg data under the database's location.
                database_input["location_uri"] = (
                    f"s3://{storage.lake.bucket_name}/warehouse/{self.database_names[layer]}/"
                )
            self.databases[layer] = glue.CfnDatabase(
                self,
                f"{layer.capitalize()}Database",
                catalog_id=account,
                database_input=glue.CfnDatabase.DatabaseInputProperty(**database_input),
            )

        self.bronze_tables: dict[str, glue.CfnTable] = {}
        for table in bronze_tables(config.application):
            cfn_table = glue.CfnTable(
                self,
                f"Bronze{construct_name(table.name)}",
                catalog_id=account,
                database_name=self.database_names["bronze"],
                table_input=cfn_table_input(glue_table_input(table, storage.lake_uri)),
            )
            cfn_table.node.add_dependency(self.databases["bronze"])
            self.bronze_tables[table.name] = cfn_table

        self.workgroup_name = config.athena_workgroup
        self.workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=self.workgroup_name,
            description="Streamlake: dbt, Prefect and Grafana query the lake through here.",
            state="ENABLED",
            recursive_delete_option=False,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                # Clients cannot override the result location, encryption or limits.
                enforce_work_group_configuration=True,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                bytes_scanned_cutoff_per_query=config.athena_bytes_scanned_cutoff_gb * GIB,
                publish_cloud_watch_metrics_enabled=True,
                requester_pays_enabled=False,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=storage.athena_results_uri,
                    expected_bucket_owner=account,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=storage.key.key_arn
                    ),
                ),
            ),
        )

    def database_arn(self, layer: str) -> str:
        return cdk.Stack.of(self).format_arn(
            service="glue", resource="database", resource_name=self.database_names[layer]
        )

    def tables_arn(self, layer: str) -> str:
        return cdk.Stack.of(self).format_arn(
            service="glue", resource="table", resource_name=f"{self.database_names[layer]}/*"
        )

    @property
    def catalog_arn(self) -> str:
        return cdk.Stack.of(self).format_arn(service="glue", resource="catalog")

    @property
    def workgroup_arn(self) -> str:
        return cdk.Stack.of(self).format_arn(
            service="athena", resource="workgroup", resource_name=self.workgroup_name
        )

    @property
    def data_catalog_arn(self) -> str:
        return cdk.Stack.of(self).format_arn(
            service="athena", resource="datacatalog", resource_name="AwsDataCatalog"
        )
