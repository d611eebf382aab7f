"""Where the data comes from: the demo application's stream and tables, or existing ones."""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.config import DYNAMODB_SOURCES, InfraConfig
from infra.nag import acknowledge


@dataclass(frozen=True)
class DynamoDbSource:
    table_name: str
    stream_arn: str


class Sources(Construct):
    """The Kinesis stream and the DynamoDB tables' streams the handlers read.

    Sources named in the configuration are used as they are; the others are
    created for the demo application: an on-demand, KMS-encrypted stream and
    on-demand tables with NEW_AND_OLD_IMAGES streams and point-in-time recovery.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: InfraConfig) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "SourcesKey",
            alias=f"alias/{config.name_prefix}-sources",
            description="Encrypts the Streamlake demo application's stream and tables.",
            enable_key_rotation=True,
        )
        # Keys the handlers decrypt records with: ours, and those of existing sources.
        self.key_arns: list[str] = [self.key.key_arn, *config.source_key_arns]

        if config.kinesis_stream_arn:
            self.kinesis_stream_arn = config.kinesis_stream_arn
        else:
            stream = kinesis.Stream(
                self,
                "Events",
                stream_name=config.kinesis_stream_name,
                stream_mode=kinesis.StreamMode.ON_DEMAND,
                encryption=kinesis.StreamEncryption.KMS,
                encryption_key=self.key,
                retention_period=cdk.Duration.hours(config.kinesis_retention_hours),
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            acknowledge(
                stream,
                "AwsSolutions-KDS3",
                "A customer-managed key on purpose: one key policy governs who can read the "
                "demo application's stream and tables; Kinesis reuses data keys, so KMS calls "
                "stay few.",
            )
            self.kinesis_stream_arn = stream.stream_arn
        self.kinesis_stream_name = config.kinesis_stream_name

        self.dynamodb: dict[str, DynamoDbSource] = {}
        for source, partition_key in DYNAMODB_SOURCES.items():
            table_name = config.dynamodb_table_name(source)
            existing = config.dynamodb_stream_arns.get(source)
            if existing:
                self.dynamodb[source] = DynamoDbSource(table_name, existing)
                continue
            table = dynamodb.Table(
                self,
                source.capitalize(),
                table_name=table_name,
                partition_key=dynamodb.Attribute(
                    name=partition_key, type=dynamodb.AttributeType.STRING
                ),
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
            assert table.table_stream_arn is not None  # a stream is configured above
            self.dynamodb[source] = DynamoDbSource(table_name, table.table_stream_arn)
