"""One stack per environment, split into constructs that match the issue's sections.

    Storage     lake bucket, Athena results bucket, access logs, lake key
    Sources     the application file's Kinesis streams and DynamoDB tables, created or existing
    Ingestion   a handler per kind of source, their layer, roles, event source mappings, DLQ
    Catalog     Glue databases, Bronze tables, Athena workgroup
    Access      roles for the dbt/Prefect runner and for Grafana
    Operations  alarms to SNS, SSM parameters for the project's settings
    Runner      `streamlake serve` on ECS Fargate, its network and its alarm

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
from infra.published_sources import publish_sources
from infra.runner import AVAILABILITY_ZONES, Runner
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
                "source_aliases": json.dumps(config.source_aliases, sort_keys=True),
            },
        )
        self.published_sources = publish_sources(self.operations, config, self.sources)
        self.runner = Runner(
            self,
            "Runner",
            config=config,
            storage=self.storage,
            role=self.access.runner,
            operations=self.operations,
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
            ("RunnerCluster", self.runner.cluster.cluster_name, "ECS cluster of the runner."),
            ("RunnerService", self.runner.service.service_name, "ECS service of the runner."),
            ("RunnerLogGroup", self.runner.log_group.log_group_name, "The runner's log."),
            (
                "PrefectApiUrlParameter",
                self.runner.api_url.parameter_name,
                "SSM parameter holding the runner's PREFECT_API_URL.",
            ),
        ):
            cdk.CfnOutput(self, name, value=value, description=description)
        if self.runner.api_key is not None:
            cdk.CfnOutput(
                self,
                "PrefectApiKeySecret",
                value=self.runner.api_key.secret_arn,
                description="Put the Prefect Cloud API key here (put-secret-value).",
            )

    @property
    def availability_zones(self) -> list[str]:
        # Resolved by CloudFormation at deploy (Fn::GetAZs), never looked up at
        # synthesis: an environment-specific stack synthesizes offline too.
        return [cdk.Fn.select(index, cdk.Fn.get_azs()) for index in range(AVAILABILITY_ZONES)]


def add_streamlake(app: cdk.App) -> StreamlakeStack:
    """The stack the app's context describes, with cdk-nag's AWS Solutions checks on synth."""
    stack = StreamlakeStack(app, InfraConfig.from_context(app.node))
    # Acknowledgements are written into the templates' metadata, for audits.
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True)
    )
    return stack
