"""The lake bucket, the Athena results bucket, their access-log bucket, the lake key
and the key of the stack's log groups."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.checkov import skip
from infra.config import InfraConfig
from infra.nag import acknowledge

# Top-level prefixes of the lake bucket; the handlers and dbt write under these.
BRONZE = "bronze/"
QUARANTINE = "quarantine/"
WAREHOUSE = "warehouse/"
EXPORTS = "exports/"
# The runner's own objects: the writer lease (flows/warehouse/writer_lock.py) and _state/.
WRITER_LEASE = "catalog/writer.lock"
STATE = "_state/"

ATHENA_RESULTS_EXPIRATION = cdk.Duration.days(30)
ACCESS_LOG_EXPIRATION = cdk.Duration.days(365)
NONCURRENT_VERSION_EXPIRATION = cdk.Duration.days(30)
# Versioning of logs and query results guards against overwrites and deletes; an
# old version needs to outlive neither by long.
SHORT_NONCURRENT_EXPIRATION = cdk.Duration.days(7)
# What CloudWatch Logs does with a log group's key.
LOGS_KEY_ACTIONS = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
]


class LakeStorage(Construct):
    """Encrypted, versioned, TLS-only, private and logged storage for the lake."""

    def __init__(self, scope: Construct, construct_id: str, *, config: InfraConfig) -> None:
        super().__init__(scope, construct_id)

        self.key = kms.Key(
            self,
            "LakeKey",
            alias=f"alias/{config.name_prefix}-lake",
            description="Encrypts the Streamlake lake bucket and Athena query results.",
            enable_key_rotation=True,
        )

        self.logs_key = self._logs_key(config)

        # S3 delivers server access logs only to buckets with S3-managed encryption.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            # An audit trail: a deleted or overwritten log keeps its old version a week.
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-logs",
                    expiration=ACCESS_LOG_EXPIRATION,
                    noncurrent_version_expiration=SHORT_NONCURRENT_EXPIRATION,
                ),
                s3.LifecycleRule(id="remove-delete-markers", expired_object_delete_marker=True),
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        reason = (
            "This bucket is the target of the other buckets' server access logs; logging it "
            "into itself would loop."
        )
        acknowledge(self.access_logs, "AwsSolutions-S1", reason)
        skip(self.access_logs, "CKV_AWS_18", reason)

        self.lake = s3.Bucket(
            self,
            "Lake",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="lake/",
            lifecycle_rules=self._lake_lifecycle(config),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

        self.athena_results = s3.Bucket(
            self,
            "AthenaResults",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="athena-results/",
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-query-results",
                    expiration=ATHENA_RESULTS_EXPIRATION,
                    noncurrent_version_expiration=SHORT_NONCURRENT_EXPIRATION,
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                ),
                s3.LifecycleRule(id="remove-delete-markers", expired_object_delete_marker=True),
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def _logs_key(self, config: InfraConfig) -> kms.Key:
        """A key for the stack's log groups, usable by CloudWatch Logs for this account's
        log groups in this region only."""
        stack = cdk.Stack.of(self)
        key = kms.Key(
            self,
            "LogsKey",
            alias=f"alias/{config.name_prefix}-logs",
            description="Encrypts the Streamlake log groups (handlers, runner).",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=LOGS_KEY_ACTIONS,
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        return key

    @staticmethod
    def _lake_lifecycle(config: InfraConfig) -> list[s3.LifecycleRule]:
        return [
            # Bronze is read hard while Silver catches up, then rarely (replays, audits).
            s3.LifecycleRule(
                id="bronze-to-colder-storage",
                prefix=BRONZE,
                transitions=[
                    s3.Transition(
                        storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                        transition_after=cdk.Duration.days(30),
                    ),
                    # Instant Retrieval keeps millisecond reads, so Athena still reads it.
                    s3.Transition(
                        storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                        transition_after=cdk.Duration.days(90),
                    ),
                ],
            ),
            s3.LifecycleRule(
                id="expire-quarantine",
                prefix=QUARANTINE,
                expiration=cdk.Duration.days(config.quarantine_expiration_days),
            ),
            s3.LifecycleRule(
                id="expire-exports",
                prefix=EXPORTS,
                expiration=cdk.Duration.days(config.exports_expiration_days),
            ),
            # Versioning protects against mistakes; Iceberg's VACUUM and expired
            # objects leave old versions behind that are removed after a month.
            s3.LifecycleRule(
                id="expire-old-versions",
                noncurrent_version_expiration=NONCURRENT_VERSION_EXPIRATION,
                expired_object_delete_marker=True,
                abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
            ),
        ]

    @property
    def lake_uri(self) -> str:
        return f"s3://{self.lake.bucket_name}"

    @property
    def athena_results_uri(self) -> str:
        return f"s3://{self.athena_results.bucket_name}/"
