"""Least-privilege roles for the dbt and Prefect runner and for Grafana's Athena datasource.

Every action is named; wildcards appear only in resources, where the keys of
objects and the names of tables are unknown until dbt writes them, and each
such resource carries an acknowledgement that says why.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.catalog import Catalog
from infra.config import InfraConfig
from infra.nag import allow
from infra.storage import (
    BRONZE,
    EXPORTS,
    QUARANTINE,
    STATE,
    WAREHOUSE,
    WRITER_LEASE,
    LakeStorage,
)

ATHENA_QUERY_ACTIONS = [
    "athena:BatchGetQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetQueryRuntimeStatistics",
    "athena:GetWorkGroup",
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
]
ATHENA_CATALOG_ACTIONS = [
    "athena:GetDataCatalog",
    "athena:GetDatabase",
    "athena:GetTableMetadata",
    "athena:ListDatabases",
    "athena:ListTableMetadata",
]
GLUE_READ_ACTIONS = [
    "glue:BatchGetPartition",
    "glue:GetDatabase",
    "glue:GetDatabases",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:GetTable",
    "glue:GetTables",
]
# What dbt-athena does to Iceberg tables: create, replace, rename, drop, and
# prune old table versions.
GLUE_WRITE_ACTIONS = [
    "glue:BatchCreatePartition",
    "glue:BatchDeletePartition",
    "glue:BatchDeleteTable",
    "glue:BatchDeleteTableVersion",
    "glue:CreatePartition",
    "glue:CreateTable",
    "glue:DeletePartition",
    "glue:DeleteTable",
    "glue:DeleteTableVersion",
    "glue:GetTableVersion",
    "glue:GetTableVersions",
    "glue:UpdatePartition",
    "glue:UpdateTable",
]
# Athena writes query results with the caller's credentials.
RESULTS_OBJECT_ACTIONS = [
    "s3:AbortMultipartUpload",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
]
BUCKET_READ_ACTIONS = ["s3:GetBucketLocation", "s3:ListBucket"]


def ecs_tasks(stack: cdk.Stack) -> iam.IPrincipal:
    """ECS tasks of this account and region: no other account's task can act as the role."""
    return iam.PrincipalWithConditions(
        iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
        {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": stack.format_arn(service="ecs", resource="*")},
        },
    )


def _trust(principal_arns: tuple[str, ...] | list[str]) -> iam.IPrincipal:
    """The named principals, or this account, whose IAM policies then decide who may assume."""
    if not principal_arns:
        return iam.AccountRootPrincipal()
    return iam.CompositePrincipal(*(iam.ArnPrincipal(arn) for arn in principal_arns))


class AccessRoles(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: InfraConfig,
        storage: LakeStorage,
        catalog: Catalog,
    ) -> None:
        super().__init__(scope, construct_id)
        self._storage, self._catalog = storage, catalog
        stack = cdk.Stack.of(self)
        lake = storage.lake

        self.runner = iam.Role(
            self,
            "RunnerRole",
            assumed_by=_trust(config.runner_principal_arns),
            description="Streamlake dbt and Prefect runner: builds Silver and Gold through Athena.",
            max_session_duration=cdk.Duration.hours(4),
        )
        # The runner's ECS service (infra/runner.py) runs its tasks as this role too,
        # beside the principals above.
        assert self.runner.assume_role_policy is not None  # made from assumed_by
        self.runner.assume_role_policy.add_statements(
            iam.PolicyStatement(actions=["sts:AssumeRole"], principals=[ecs_tasks(stack)])
        )
        self._query(self.runner)
        # Bronze tables belong to this stack: the runner reads them and writes none.
        self._glue(self.runner, read=["bronze"], write=["silver", "gold"])
        allow(
            self.runner,
            ["s3:GetObject"],
            [lake.arn_for_objects(f"{BRONZE}*"), lake.arn_for_objects(f"{QUARANTINE}*")],
            wildcard_reason="dbt reads every Bronze and quarantine file the handlers landed; "
            "their keys are made when batches arrive.",
        )
        allow(
            self.runner,
            ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            [lake.arn_for_objects(f"{WAREHOUSE}*"), lake.arn_for_objects(f"{EXPORTS}*")],
            wildcard_reason="dbt and Iceberg maintenance write, rewrite and vacuum data files, "
            "and the flows write exports, under keys made at run time.",
        )
        # Maintenance is the runner's too: Bronze compaction rewrites closed days and
        # the Bronze check moves unreadable files into quarantine. Both run under the
        # writer lease, a single object beside the catalog, and the check keeps its
        # list of checked files under _state/.
        allow(
            self.runner,
            ["s3:DeleteObject", "s3:PutObject"],
            [lake.arn_for_objects(f"{BRONZE}*"), lake.arn_for_objects(f"{QUARANTINE}*")],
            wildcard_reason="Bronze compaction and the Bronze check rewrite and move files "
            "whose keys were made when their batches arrived.",
        )
        allow(
            self.runner,
            ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            [lake.arn_for_objects(WRITER_LEASE), lake.arn_for_objects(f"{STATE}*")],
            wildcard_reason="the Bronze check's state files are named per source at run time.",
        )
        self._list(self.runner, [BRONZE, QUARANTINE, WAREHOUSE, EXPORTS, STATE])
        self._key(self.runner)
        # Settings read the published parameters (STREAMLAKE_SSM_PREFIX); the path
        # itself is the resource of GetParametersByPath.
        allow(
            self.runner,
            ["ssm:GetParametersByPath"],
            [
                stack.format_arn(
                    service="ssm", resource="parameter", resource_name=config.ssm_prefix.lstrip("/")
                )
            ],
        )

        grafana_principals = [config.grafana_principal_arn] if config.grafana_principal_arn else []
        grafana_trust = _trust(grafana_principals)
        if config.grafana_external_id:
            grafana_trust = iam.PrincipalWithConditions(
                grafana_trust, {"StringEquals": {"sts:ExternalId": config.grafana_external_id}}
            )
        self.grafana = iam.Role(
            self,
            "GrafanaRole",
            assumed_by=grafana_trust,
            description="Grafana's Athena datasource: reads Gold, nothing else.",
        )
        self._query(self.grafana)
        self._glue(self.grafana, read=["gold"], write=[])
        # dbt-athena's default layout: <warehouse>/<schema>/<table>/...
        gold = f"{WAREHOUSE}{catalog.database_names['gold']}/"
        allow(
            self.grafana,
            ["s3:GetObject"],
            [lake.arn_for_objects(f"{gold}*")],
            wildcard_reason="Athena reads the Gold tables' Iceberg files with the caller's "
            "credentials; dbt names those files.",
        )
        self._list(self.grafana, [gold])
        self._key(self.grafana)
        allow(
            self.grafana,
            ["athena:ListDataCatalogs", "athena:ListWorkGroups"],
            ["*"],
            wildcard_reason="athena:ListWorkGroups and athena:ListDataCatalogs support no "
            "resource-level permission; the datasource's settings page lists the names.",
        )

    def _query(self, role: iam.Role) -> None:
        catalog, results = self._catalog, self._storage.athena_results
        allow(role, ATHENA_QUERY_ACTIONS, [catalog.workgroup_arn])
        allow(role, ATHENA_CATALOG_ACTIONS, [catalog.data_catalog_arn])
        allow(
            role,
            RESULTS_OBJECT_ACTIONS,
            [results.arn_for_objects("*")],
            wildcard_reason="Athena writes each query's results to a new key in the workgroup's "
            "results bucket, with the caller's credentials.",
        )
        allow(role, BUCKET_READ_ACTIONS, [results.bucket_arn])

    def _glue(self, role: iam.Role, *, read: list[str], write: list[str]) -> None:
        catalog = self._catalog

        def resources(layers: list[str]) -> list[str]:
            return (
                [catalog.catalog_arn]
                + [catalog.database_arn(layer) for layer in layers]
                + [catalog.tables_arn(layer) for layer in layers]
            )

        reason = (
            "Tables are made by dbt at run time (Bronze's by this stack); the database in the "
            "ARN bounds them."
        )
        allow(role, GLUE_READ_ACTIONS, resources(read + write), wildcard_reason=reason)
        if write:
            allow(role, GLUE_WRITE_ACTIONS, resources(write), wildcard_reason=reason)

    def _list(self, role: iam.Role, prefixes: list[str]) -> None:
        lake = self._storage.lake
        allow(role, ["s3:GetBucketLocation"], [lake.bucket_arn])
        allow(
            role,
            ["s3:ListBucket"],
            [lake.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
        )

    def _key(self, role: iam.Role) -> None:
        # GenerateDataKey for readers too: Athena encrypts their query results with it.
        allow(role, ["kms:Decrypt", "kms:GenerateDataKey"], [self._storage.key.key_arn])
