"""What the CDK app is told: the environment, where it deploys, names and knobs.

Every value comes from CDK context: `cdk.json`, or `-c key=value` on the command
line (lists and maps as JSON). Nothing here needs credentials, so the app
synthesizes offline; account and region stay unresolved unless given.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Any, Literal, get_origin

from constructs import Node
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ingestion.application import (
    Application,
    ApplicationError,
    KinesisStream,
    application_path,
    contract_reference,
    current_application,
)
from ingestion.event_contract import ContractError, is_shipped, is_ssm, load_contract
from ingestion.settings import Settings

SSM_PARAMETER_LIMIT_BYTES = 8192  # the advanced tier's limit
_KINESIS_ARN = re.compile(r"^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/([A-Za-z0-9_.-]+)$")
_DYNAMODB_STREAM_ARN = re.compile(
    r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/([A-Za-z0-9_.-]+)/stream/[^/]+$"
)
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
)
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
# Fargate's task sizes (Linux, x86_64 and arm64): cpu units -> memory MiB (min, max, step).
FARGATE_SIZES: dict[int, tuple[int, int, int]] = {
    256: (512, 2048, 512),
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}
# The transform alarm fires after this many intervals without a finished run.
TRANSFORM_SILENT_INTERVALS = 3
# The retention periods CloudWatch Logs accepts, by their names in aws_logs.RetentionDays.
LOG_RETENTION_DAYS: dict[int, str] = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1827: "FIVE_YEARS",
    3653: "TEN_YEARS",
}


class InfraConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    env_name: str = Field(default="dev", pattern=r"^[a-z][a-z0-9-]{0,15}$")
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")

    # The application file (ingestion/application.py): which tables and streams the
    # stack feeds from, and how they are modeled. Relative to the repository's root.
    app_config: str = "streamlake.yml"
    # Existing sources by Bronze source, for this environment, over the file's stream_arn:
    # the stack reads these instead of creating a table or stream.
    kinesis_stream_arns: dict[str, str] = Field(default_factory=dict)
    dynamodb_stream_arns: dict[str, str] = Field(default_factory=dict)
    # Customer-managed keys of existing sources, which the handlers need to decrypt.
    source_key_arns: tuple[str, ...] = ()

    # Event source mappings
    kinesis_batch_size: int = Field(default=10_000, ge=1, le=10_000)
    kinesis_batching_window_seconds: int = Field(default=10, ge=0, le=300)
    kinesis_max_record_age_hours: int = Field(default=24, ge=1, le=168)
    dynamodb_batch_size: int = Field(default=1_000, ge=1, le=10_000)
    dynamodb_batching_window_seconds: int = Field(default=5, ge=0, le=300)
    # DynamoDB Streams keep records 24 hours; the rest of the day is for replaying
    # a batch named in the dead-letter queue.
    dynamodb_max_record_age_hours: int = Field(default=6, ge=1, le=24)
    retry_attempts: int = Field(default=10, ge=0, le=10_000)

    # Handlers
    handler_memory_mb: int = Field(default=1024, ge=256, le=10_240)
    handler_timeout_seconds: int = Field(default=120, ge=10, le=900)
    log_retention_days: int = 30

    # Storage and query
    quarantine_expiration_days: int = Field(default=90, ge=1)
    exports_expiration_days: int = Field(default=30, ge=1)
    athena_bytes_scanned_cutoff_gb: int = Field(default=100, ge=1)

    # Operations and access
    iterator_age_alarm_minutes: int = Field(default=15, ge=1)
    alarm_email: str | None = None
    runner_principal_arns: tuple[str, ...] = ()
    grafana_principal_arn: str | None = None
    grafana_external_id: str | None = None

    # The runner: `streamlake serve` on ECS Fargate, against Prefect Cloud or the
    # user's own Prefect server (infra/runner.py).
    prefect_api: Literal["cloud", "server"] = "cloud"
    # Published as an SSM parameter and given to the runner as PREFECT_API_URL.
    # Without it the runner's service is created with no task (nothing to serve to).
    prefect_api_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # Prefect Cloud's API key: an existing Secrets Manager secret (its complete ARN),
    # or, without one, a secret the stack creates for the operator to fill.
    prefect_api_key_secret_arn: str | None = None
    # A self-hosted Prefect server: where the runner may connect besides 443.
    prefect_server_port: int = Field(default=4200, ge=1, le=65_535)
    prefect_server_cidr: str = "0.0.0.0/0"
    # None: one task when prefect_api_url is given, else none.
    runner_desired_count: int | None = Field(default=None, ge=0, le=1)
    runner_cpu: int = 1024
    runner_memory_mb: int = 4096
    runner_architecture: Literal["arm64", "x86_64"] = "arm64"
    # An existing VPC and its private subnets; without them the stack makes a VPC.
    runner_vpc_id: str | None = None
    runner_subnet_ids: tuple[str, ...] = ()
    # The stack's own VPC: its range (mind it when peering with a Prefect server's
    # network), and NAT gateways (0: isolated subnets, AWS reached through interface
    # endpoints only, which suits a Prefect server reachable privately).
    runner_vpc_cidr: str = "10.0.0.0/16"
    runner_nat_gateways: int = Field(default=1, ge=0, le=2)
    # Interface endpoints beside NAT: AWS API traffic stays off the internet, at
    # about 7 USD a month per endpoint and zone. Always made when there is no NAT.
    runner_interface_endpoints: bool = False
    # The low-cost network: the task in a public subnet with a public IP, no NAT
    # gateway and no interface endpoints. Inbound stays closed (no inbound rule);
    # its AWS and Prefect calls leave through the internet gateway, over TLS.
    runner_public_ip: bool = False
    # Container Insights' per-cluster, service and task metrics (custom metrics, a
    # few dollars a month); the transform alarm reads the runner's log, not these.
    runner_container_insights: bool = True
    # The transform's schedule, given to the runner and watched by its alarm.
    transform_interval_seconds: int = Field(
        default=Settings.model_fields["transform_interval_seconds"].default, ge=60
    )

    @field_validator("log_retention_days")
    @classmethod
    def _valid_retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs keeps logs {sorted(LOG_RETENTION_DAYS)} days")
        return value

    @field_validator("app_config")
    @classmethod
    def _readable_application(cls, value: str) -> str:
        # Checked at synthesis, each problem on a line naming the file and field.
        try:
            app = current_application(value)
        except ApplicationError as error:
            raise ValueError(str(error)) from None
        for stream in app.kinesis_streams:
            _usable_contract(value, stream)
        return value

    @model_validator(mode="after")
    def _known_sources(self) -> InfraConfig:
        app = self.application
        for field, arns, pattern, kind in (
            ("kinesis_stream_arns", self.kinesis_stream_arns, _KINESIS_ARN, "Kinesis stream"),
            (
                "dynamodb_stream_arns",
                self.dynamodb_stream_arns,
                _DYNAMODB_STREAM_ARN,
                "DynamoDB stream",
            ),
        ):
            known = (
                [s.source for s in app.kinesis_streams]
                if field.startswith("kinesis")
                else [t.source for t in app.dynamodb_tables]
            )
            unknown = sorted(set(arns) - set(known))
            if unknown:
                raise ValueError(
                    f"{field}: no such source in {self.app_config}: {unknown}; sources: {known}"
                )
            for source, arn in arns.items():
                if not pattern.match(arn):
                    raise ValueError(f"{field}.{source}: not a {kind} ARN: {arn}")
        return self

    @field_validator("prefect_api_key_secret_arn")
    @classmethod
    def _secret_arn(cls, value: str | None) -> str | None:
        # The complete ARN (with its six-character suffix) names exactly one secret,
        # so the runner's execution role may read that one and no other.
        if value is not None and not _SECRET_ARN.match(value):
            raise ValueError(f"not the complete ARN of a Secrets Manager secret: {value}")
        return value

    @field_validator("prefect_server_cidr", "runner_vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(ipaddress.IPv4Network(value))

    @field_validator("runner_vpc_id")
    @classmethod
    def _vpc_id(cls, value: str | None) -> str | None:
        if value is not None and not _VPC_ID.match(value):
            raise ValueError(f"not a VPC id: {value}")
        return value

    @field_validator("runner_subnet_ids")
    @classmethod
    def _subnet_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [subnet for subnet in value if not _SUBNET_ID.match(subnet)]
        if bad:
            raise ValueError(f"not subnet ids: {bad}")
        return value

    @field_validator("transform_interval_seconds")
    @classmethod
    def _alarm_period(cls, value: int) -> int:
        # The alarm's period is the interval: CloudWatch takes whole minutes, and
        # a day at most for all its evaluation periods together.
        if value % 60 or value * TRANSFORM_SILENT_INTERVALS > 86_400:
            raise ValueError(
                "the transform interval must be whole minutes, and three of them a day at most"
            )
        return value

    @model_validator(mode="after")
    def _retention_outlives_record_age(self) -> InfraConfig:
        for stream in self.application.kinesis_streams:
            if stream.retention_hours <= self.kinesis_max_record_age_hours:
                raise ValueError(
                    f"{self.app_config}: kinesis_streams {stream.source}: the stream must keep "
                    "records longer than the handler retries them (kinesis_max_record_age_hours)"
                )
        return self

    @model_validator(mode="after")
    def _runner_is_deployable(self) -> InfraConfig:
        memory = FARGATE_SIZES.get(self.runner_cpu)
        if memory is None:
            raise ValueError(f"runner_cpu: Fargate takes {sorted(FARGATE_SIZES)} cpu units")
        low, high, step = memory
        if not (low <= self.runner_memory_mb <= high and self.runner_memory_mb % step == 0):
            raise ValueError(
                f"runner_memory_mb: with {self.runner_cpu} cpu units Fargate takes "
                f"{low} to {high} MiB in steps of {step}"
            )
        if self.runner_desired_count and not self.prefect_api_url:
            raise ValueError("a runner task needs prefect_api_url: the Prefect API it serves to")
        if bool(self.runner_vpc_id) != bool(self.runner_subnet_ids):
            raise ValueError("give runner_vpc_id and runner_subnet_ids together")
        if self.runner_public_ip and (self.runner_vpc_id or self.runner_interface_endpoints):
            raise ValueError(
                "runner_public_ip puts the runner in the stack's own VPC without NAT or "
                "interface endpoints: leave out runner_vpc_id and runner_interface_endpoints"
            )
        if self.prefect_api == "cloud":
            if self.runner_isolated:
                raise ValueError(
                    "Prefect Cloud is on the internet: the runner's VPC needs a NAT gateway "
                    "(runner_nat_gateways >= 1), or name a VPC of yours (runner_vpc_id)"
                )
            if self.prefect_api_url and not self.prefect_api_url.startswith("https://"):
                raise ValueError("Prefect Cloud's API URL is https://")
        elif self.prefect_api_key_secret_arn:
            raise ValueError("an API key secret is for Prefect Cloud (prefect_api=cloud) only")
        return self

    @classmethod
    def from_context(cls, node: Node) -> InfraConfig:
        """Read every field from CDK context; JSON text for lists and maps given with -c."""
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            raw = node.try_get_context(name)
            if raw is None or raw == "":
                continue
            if isinstance(raw, str) and get_origin(field.annotation) in (dict, tuple):
                raw = json.loads(raw)
            values[name] = raw
        # The CDK CLI sets these from the credentials it finds; synthesis needs neither.
        values.setdefault("account", os.environ.get("CDK_DEFAULT_ACCOUNT"))
        values.setdefault("region", os.environ.get("CDK_DEFAULT_REGION"))
        return cls.model_validate(values)

    @property
    def stack_name(self) -> str:
        return f"Streamlake-{self.env_name}"

    @property
    def name_prefix(self) -> str:
        return f"streamlake-{self.env_name}"

    @property
    def ssm_prefix(self) -> str:
        return f"/streamlake/{self.env_name}"

    @property
    def athena_workgroup(self) -> str:
        return self.name_prefix

    def glue_database(self, layer: str) -> str:
        # Glue names are lowercase letters, digits and underscores.
        return f"streamlake_{self.env_name.replace('-', '_')}_{layer}"

    @property
    def runner_tasks(self) -> int:
        """How many runner tasks run: one once there is a Prefect API to serve to."""
        if self.runner_desired_count is not None:
            return self.runner_desired_count
        return 1 if self.prefect_api_url else 0

    @property
    def runner_isolated(self) -> bool:
        """The stack's own VPC without NAT: AWS is reached through endpoints only."""
        own_vpc = not self.runner_vpc_id and not self.runner_public_ip
        return own_vpc and self.runner_nat_gateways == 0

    @property
    def runner_nat(self) -> int:
        """The NAT gateways the stack's VPC gets: none for a runner with a public IP."""
        return 0 if self.runner_public_ip else self.runner_nat_gateways

    @property
    def application(self) -> Application:
        return current_application(self.app_config)

    def kinesis_stream_arn(self, source: str) -> str | None:
        """An existing stream's ARN (context first, then the file); None: the stack creates it."""
        stream = self.application.stream(source)
        return self.kinesis_stream_arns.get(source) or (stream.stream_arn if stream else None)

    def kinesis_stream_name(self, source: str) -> str:
        arn = self.kinesis_stream_arn(source)
        if arn:
            match = _KINESIS_ARN.match(arn)
            assert match  # validated above
            return match.group(1)
        stream = self.application.stream(source)
        return (stream.stream_name if stream else None) or f"{self.name_prefix}-{source}"

    def dynamodb_stream_arn(self, source: str) -> str | None:
        """An existing table's stream ARN (context, then the file); None: the stack creates it."""
        table = self.application.table(source)
        return self.dynamodb_stream_arns.get(source) or (table.stream_arn if table else None)

    def dynamodb_table_name(self, source: str) -> str:
        arn = self.dynamodb_stream_arn(source)
        if arn:
            match = _DYNAMODB_STREAM_ARN.match(arn)
            assert match  # validated above
            return match.group(1)
        table = self.application.table(source)
        return (table.table_name if table else None) or f"{self.name_prefix}-{source}"

    @property
    def source_aliases(self) -> dict[str, str]:
        """Stream and table names -> Bronze sources, for the handlers' settings."""
        app = self.application
        aliases = {self.kinesis_stream_name(s.source): s.source for s in app.kinesis_streams}
        aliases.update({self.dynamodb_table_name(t.source): t.source for t in app.dynamodb_tables})
        return aliases

    def event_contract(self, stream: KinesisStream) -> str:
        """A stream's contract: a shipped name, or its file's absolute path."""
        return contract_reference(stream, application_path(self.app_config))


def _usable_contract(app_config: str, stream: KinesisStream) -> None:
    """A stream's contract loads, and a file fits an SSM parameter (the stack publishes it)."""
    where = f"{app_config}: kinesis_streams {stream.source}: contract"
    if is_ssm(stream.contract):
        raise ValueError(
            f"{where}: give a shipped contract's name or a YAML file; the stack publishes "
            "the file to SSM itself"
        )
    reference = contract_reference(stream, application_path(app_config))
    try:
        load_contract(reference)
    except ContractError as error:
        raise ValueError(f"{where}: {error}") from None
    if is_shipped(reference):
        return
    size = Path(reference).stat().st_size
    if size > SSM_PARAMETER_LIMIT_BYTES:
        raise ValueError(
            f"{where}: {reference} is {size} bytes, more than an SSM parameter holds (8 KB): "
            "put it in ingestion/contracts/ and give its name"
        )
