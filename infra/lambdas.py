"""The two Lambda handlers of ingestion/, their roles and their event source mappings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.checkov import skip
from infra.config import LOG_RETENTION_DAYS, InfraConfig
from infra.lambda_assets import ARCHITECTURE, RUNTIME, dependencies_layer, handler_code
from infra.nag import acknowledge, allow
from infra.sources import Sources, construct_name
from infra.storage import BRONZE, QUARANTINE, LakeStorage
from ingestion.event_contract import SSM_PREFIX, is_shipped

KINESIS_READ_ACTIONS = [
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
    "kinesis:ListStreams",
    "kinesis:SubscribeToShard",
]
DYNAMODB_STREAM_READ_ACTIONS = [
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
]
METRICS_NAMESPACE = "Streamlake"
# HEAD of a missing key answers 404 only with s3:ListBucket, else 403; the
# handlers look for yesterday's file of a retried batch.
LANDING_OBJECT_ACTIONS = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
# A contract given as a file is published under the environment's SSM path, per stream.
EVENT_CONTRACT_PARAMETER = "event_contracts"
STANDARD_PARAMETER_BYTES = 4096  # larger values need the advanced tier (up to 8 KB)
# checkov's Lambda checks that do not fit a function fed by event source mappings.
STREAM_HANDLER_SKIPS = {
    "CKV_AWS_115": "Concurrency is bounded by the event source mappings: one batch per shard "
    "at a time (parallelization factor 1). A reservation would only throttle the handler, "
    "and let it fall behind its stream, when an on-demand stream adds shards.",
    "CKV_AWS_116": "A dead-letter queue serves asynchronous invocations only; stream "
    "mappings invoke synchronously, and their on-failure destination (the SQS queue) "
    "receives every batch that gives up.",
    "CKV_AWS_117": "The handlers call only S3 and SSM, through their public endpoints with "
    "IAM; there is nothing in a VPC for them to reach, and a VPC would add NAT or "
    "endpoints for no gain.",
    "CKV_AWS_173": "The variables hold names and URIs, no secrets (the API key of the runner "
    "is in Secrets Manager); Lambda encrypts them at rest with its AWS-managed key.",
}


@dataclass(frozen=True)
class Handler:
    function: lambda_.Function
    role: iam.Role
    log_group: logs.LogGroup


class Ingestion(Construct):
    """Kinesis and DynamoDB Streams to Bronze Parquet, with a dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: InfraConfig,
        storage: LakeStorage,
        sources: Sources,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._storage = storage

        # The on-failure destination receives where a batch was in its shard
        # (never the records themselves): enough to replay it from the stream.
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        acknowledge(
            self.dead_letters,
            "AwsSolutions-SQS3",
            "This queue is the event source mappings' on-failure destination, the end of the "
            "line: it holds shard positions to replay, and an alarm watches its depth.",
        )
        skip(
            self.dead_letters,
            "CKV_AWS_27",
            "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled), which the check "
            "does not look for; the queue holds shard positions, never records.",
        )
        self._layer = dependencies_layer(self, "Dependencies")
        self._code = handler_code()

        # Each stream's contract: a shipped one travels in the code asset (under
        # ingestion/contracts/), a file is published as an SSM parameter of its own.
        app = config.application
        self.event_contracts: dict[str, ssm.StringParameter] = {}
        contracts: dict[str, str] = {}
        for stream in app.kinesis_streams:
            reference = config.event_contract(stream)
            if is_shipped(reference):
                contracts[stream.source] = reference
                continue
            text = Path(reference).read_text(encoding="utf-8")
            parameter = ssm.StringParameter(
                self,
                f"{construct_name(stream.source)}EventContract",
                parameter_name=f"{config.ssm_prefix}/{EVENT_CONTRACT_PARAMETER}/{stream.source}",
                string_value=text,
                description=f"The payload contract (YAML) of the {stream.source} stream.",
                tier=(
                    ssm.ParameterTier.STANDARD
                    if len(text.encode()) <= STANDARD_PARAMETER_BYTES
                    else ssm.ParameterTier.ADVANCED
                ),
            )
            self.event_contracts[stream.source] = parameter
            contracts[stream.source] = f"{SSM_PREFIX}{parameter.parameter_name}"

        self.kinesis: Handler | None = None
        if sources.kinesis:
            self.kinesis = self._handler(
                "Kinesis",
                "ingestion.kinesis.handler",
                "Kinesis events to Bronze.",
                list(sources.kinesis),
                {"STREAMLAKE_EVENT_CONTRACTS": json.dumps(contracts, sort_keys=True)},
            )
            allow(
                self.kinesis.role,
                KINESIS_READ_ACTIONS,
                [stream.stream_arn for stream in sources.kinesis.values()],
            )
            if self.event_contracts:
                allow(
                    self.kinesis.role,
                    ["ssm:GetParameter"],
                    [parameter.parameter_arn for parameter in self.event_contracts.values()],
                )
            self._may_decrypt_sources(self.kinesis.role, sources)
            for source, stream in sources.kinesis.items():
                self._mapping(
                    source,
                    self.kinesis,
                    stream.stream_arn,
                    batch_size=config.kinesis_batch_size,
                    batching_window_seconds=config.kinesis_batching_window_seconds,
                    max_record_age_hours=config.kinesis_max_record_age_hours,
                )

        self.dynamodb: Handler | None = None
        if sources.dynamodb:
            self.dynamodb = self._handler(
                "DynamoDb",
                "ingestion.dynamodb_streams.handler",
                "DynamoDB Streams changes to Bronze.",
                list(sources.dynamodb),
            )
            stream_arns = [source.stream_arn for source in sources.dynamodb.values()]
            allow(self.dynamodb.role, DYNAMODB_STREAM_READ_ACTIONS, stream_arns)
            # Lambda lists a table's streams to find the one it reads.
            allow(
                self.dynamodb.role,
                ["dynamodb:ListStreams"],
                ["*"],
                wildcard_reason="dynamodb:ListStreams supports no resource-level permission; "
                "it returns stream names, never data.",
            )
            self._may_decrypt_sources(self.dynamodb.role, sources)
            for source, table in sources.dynamodb.items():
                self._mapping(
                    source,
                    self.dynamodb,
                    table.stream_arn,
                    batch_size=config.dynamodb_batch_size,
                    batching_window_seconds=config.dynamodb_batching_window_seconds,
                    max_record_age_hours=config.dynamodb_max_record_age_hours,
                )

    def _mapping(
        self,
        source: str,
        handler: Handler,
        stream_arn: str,
        *,
        batch_size: int,
        batching_window_seconds: int,
        max_record_age_hours: int,
    ) -> None:
        """A source's stream to its handler: bisected and retried on error, a failed
        record's batch reported, what gives up sent to the dead-letter queue."""
        lambda_.EventSourceMapping(
            self,
            f"{construct_name(source)}Mapping",
            target=handler.function,
            event_source_arn=stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=batch_size,
            max_batching_window=cdk.Duration.seconds(batching_window_seconds),
            bisect_batch_on_error=True,
            report_batch_item_failures=True,
            retry_attempts=self._config.retry_attempts,
            max_record_age=cdk.Duration.hours(max_record_age_hours),
            parallelization_factor=1,
            on_failure=event_sources.SqsDlq(self.dead_letters),
        )

    @property
    def handlers(self) -> tuple[Handler, ...]:
        """The handlers the application needs: one per kind of source it has."""
        return tuple(h for h in (self.kinesis, self.dynamodb) if h is not None)

    def _handler(
        self,
        name: str,
        entry_point: str,
        description: str,
        bronze_sources: list[str],
        environment: dict[str, str] | None = None,
    ) -> Handler:
        config, lake = self._config, self._storage.lake
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            retention=logs.RetentionDays[LOG_RETENTION_DAYS[config.log_retention_days]],
            encryption_key=self._storage.logs_key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Streamlake {name} handler: reads its source, writes its Bronze prefixes.",
        )
        allow(role, ["logs:CreateLogStream", "logs:PutLogEvents"], [log_group.log_group_arn])
        prefixes = [f"{BRONZE}{source}/*" for source in bronze_sources] + [f"{QUARANTINE}*"]
        allow(
            role,
            LANDING_OBJECT_ACTIONS,
            [lake.arn_for_objects(prefix) for prefix in prefixes],
            wildcard_reason="The handler writes each batch to a new key under its own Bronze "
            "and quarantine prefixes; keys are only known when the batch arrives.",
        )
        allow(
            role,
            ["s3:ListBucket"],
            [lake.bucket_arn],
            conditions={"StringLike": {"s3:prefix": prefixes}},
        )
        allow(role, ["kms:Decrypt", "kms:GenerateDataKey"], [self._storage.key.key_arn])

        function = lambda_.Function(
            self,
            f"{name}Handler",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=entry_point,
            code=self._code,
            layers=[self._layer],
            role=role,
            memory_size=config.handler_memory_mb,
            timeout=cdk.Duration.seconds(config.handler_timeout_seconds),
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                "STREAMLAKE_TARGET": "aws",
                "STREAMLAKE_LAKE_ROOT": self._storage.lake_uri,
                "STREAMLAKE_AWS_REGION": cdk.Stack.of(self).region,
                "STREAMLAKE_SOURCE_ALIASES": json.dumps(config.source_aliases, sort_keys=True),
                # The namespace the alarms on the handlers' own metrics watch.
                "STREAMLAKE_METRICS_NAMESPACE": METRICS_NAMESPACE,
                # DuckDB resolves ~ when it starts; Lambda's home is not writable.
                "HOME": "/tmp",
                **(environment or {}),
            },
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Python 3.12 on purpose: the dependencies layer is built from cp312 wheels for it; "
            "moving to a newer runtime is a change of its own, with the layer rebuilt.",
        )
        for check, reason in STREAM_HANDLER_SKIPS.items():
            skip(function, check, reason)
        return Handler(function, role, log_group)

    @staticmethod
    def _may_decrypt_sources(role: iam.Role, sources: Sources) -> None:
        allow(role, ["kms:Decrypt"], sources.key_arns)
