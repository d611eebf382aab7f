"""Where the data comes from: the application file's streams and tables, created or existing."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import InfraConfig
from infra.nag import acknowledge
from ingestion.application import DynamoDbTable

KEY_TYPES = {"string": dynamodb.AttributeType.STRING, "number": dynamodb.AttributeType.NUMBER}


@dataclass(frozen=True)
class DynamoDbSource:
    table_name: str
    stream_arn: str


@dataclass(frozen=True)
class KinesisSource:
    stream_name: str
    stream_arn: str


def construct_name(source: str) -> str:
    """A source's name as a construct id: app_events -> AppEvents."""
    return "".join(part.capitalize() for part in source.split("_"))


class Sources(Construct):
    """The Kinesis streams and the DynamoDB tables' streams the handlers read.

    Every source of the application file (ingestion/application.py). One with a
    stream ARN (in the file, or for this environment in the CDK context) is used
    as it is; the others are created: on-demand, KMS-encrypted streams, and
    on-demand tables with their key schema, NEW_AND_OLD_IMAGES streams, point-in-time
    recovery and the file's time-to-live attribute.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: InfraConfig) -> None:
        super().__init__(scope, construct_id)
        app = config.application
        self.key = kms.Key(
            self,
            "SourcesKey",
            alias=f"alias/{config.name_prefix}-sources",
            description="Encrypts the streams and tables the Streamlake stack creates.",
            enable_key_rotation=True,
        )
        # Keys the handlers decrypt records with: ours, and those of existing sources.
        self.key_arns: list[str] = [self.key.key_arn, *config.source_key_arns]

        self.kinesis: dict[str, KinesisSource] = {}
        for source in app.kinesis_streams:
            name = config.kinesis_stream_name(source.source)
            existing = config.kinesis_stream_arn(source.source)
            if existing:
                self.kinesis[source.source] = KinesisSource(name, existing)
                continue
            stream = kinesis.Stream(
                self,
                construct_name(source.source),
                stream_name=name,
                stream_mode=kinesis.StreamMode.ON_DEMAND,
                encryption=kinesis.StreamEncryption.KMS,
                encryption_key=self.key,
                retention_period=cdk.Duration.hours(source.retention_hours),
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            acknowledge(
                stream,
                "AwsSolutions-KDS3",
                "A customer-managed key on purpose: one key policy governs who can read the "
                "streams and tables the stack creates; Kinesis reuses data keys, so KMS calls "
                "stay few.",
            )
            self.kinesis[source.source] = KinesisSource(name, stream.stream_arn)

        self.dynamodb: dict[str, DynamoDbSource] = {}
        for source in app.dynamodb_tables:
            table_name = config.dynamodb_table_name(source.source)
            existing = config.dynamodb_stream_arn(source.source)
            if existing:
                self.dynamodb[source.source] = DynamoDbSource(table_name, existing)
                continue
            self.dynamodb[source.source] = DynamoDbSource(
                table_name, self._table(source, table_name).table_stream_arn or ""
            )

    def _table(self, source: DynamoDbTable, table_name: str) -> dynamodb.Table:
        sort_key = (
            dynamodb.Attribute(name=source.sort_key, type=KEY_TYPES[source.sort_key_type])
            if source.sort_key
            else None
        )
        return dynamodb.Table(
            self,
            construct_name(source.source),
            table_name=table_name,
            partition_key=dynamodb.Attribute(
                name=source.partition_key, type=KEY_TYPES[source.partition_key_type]
            ),
            sort_key=sort_key,
            time_to_live_attribute=source.ttl_attribute,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
