"""One stack per environment, split into constructs that match the issue's sections.

    Storage     lake bucket, Athena results bucket, access logs, lake key
    Sources     Kinesis stream and DynamoDB tables of the demo app, or existing ones
    Ingestion   the two handlers, their layer, roles, event source mappings, DLQ
    Catalog     Glue databases, Bronze tables, Athena workgroup
    Access      roles for the dbt/Prefect runner and for Grafana
    Operations  alarms to SNS, SSM parameters for the project's settings

One stack keeps references plain (no cross-stack exports to untangle when a
name changes); the constructs keep the parts apart.
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra.access import AccessRoles
from infra.catalog import Catalog
from infra.config import InfraConfig
from infra.lambdas import Ingestion
from infra.operations import Operations
from infra.sources import Sources
from infra.storage import WAREHOUSE, LakeStorage


class StreamlakeStack(cdk.Stack):
    def __init__(self, scope: Construct, config: InfraConfig) -> None:
        super().__init__(
            scope,
            config.stack_name,
            env=cdk.Environment(account=config.account, region=config.region),
            description=f"Streamlake lakehouse, environment {config.env_name}",
        )
        self.config = config
        self.storage = LakeStorage(self, "Storage", config=config)
        self.sources = Sources(self, "Sources", config=config)
        self.ingestion = Ingestion(
            self, "Ingestion", config=config, storage=self.storage, sources=self.sources
        )
        self.catalog = Catalog(self, "Catalog", config=config, storage=self.storage)
        self.access = AccessRoles(
            self, "Access", config=config, storage=self.storage, catalog=self.catalog
        )
        self.operations = Operations(
            self,
            "Operations",
            config=config,
            ingestion=self.ingestion,
            published={
                "lake_root": self.storage.lake_uri,
                "warehouse_uri": f"{self.storage.lake_uri}/{WAREHOUSE.rstrip('/')}",
                "athena_workgroup": self.catalog.workgroup_name,
                "athena_s3_staging_dir": self.storage.athena_results_uri,
                "bronze_database": self.catalog.database_names["bronze"],
                "silver_database": self.catalog.database_names["silver"],
                "gold_database": self.catalog.database_names["gold"],
                "kinesis_stream_name": self.sources.kinesis_stream_name,
                "source_aliases": json.dumps(config.source_aliases, sort_keys=True),
            },
        )
        cdk.Tags.of(self).add("project", "streamlake")
        cdk.Tags.of(self).add("environment", config.env_name)

        for name, value, description in (
            ("LakeBucket", self.storage.lake.bucket_name, "The lake bucket."),
            ("AthenaWorkgroup", self.catalog.workgroup_name, "The Athena workgroup."),
            ("SettingsPrefix", config.ssm_prefix, "Set STREAMLAKE_SSM_PREFIX to this."),
            ("RunnerRoleArn", self.access.runner.role_arn, "Role for dbt and Prefect."),
            ("GrafanaRoleArn", self.access.grafana.role_arn, "Role for Grafana's Athena source."),
            ("AlarmTopicArn", self.operations.topic.topic_arn, "Where the alarms go."),
        ):
            cdk.CfnOutput(self, name, value=value, description=description)


def add_streamlake(app: cdk.App) -> StreamlakeStack:
    """The stack the app's context describes, with cdk-nag's AWS Solutions checks on synth."""
    stack = StreamlakeStack(app, InfraConfig.from_context(app.node))
    # Acknowledgements are written into the templates' metadata, for audits.
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True)
    )
    return stack
