"""The one typed settings object of Streamlake.

Every knob the code reads comes from here, set through environment variables
with the prefix ``STREAMLAKE_`` (or a ``.env`` file). Nothing else in the code
reads the environment for configuration.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ingestion.event_contract import (
    DEFAULT_CONTRACT,
    EventContract,
    is_ssm,
    load_contract,
    ssm_parameter,
)
from ingestion.ssm_parameters import SsmParameterSource

_SOURCE_NAME = re.compile(r"[^a-z0-9_]+")


def normalise_source_name(name: str) -> str:
    """Glue and dbt want lowercase names of letters, digits and underscores.

    A name of punctuation only (`---` is a legal DynamoDB table name) keeps its
    bytes in hex instead of becoming empty, so its files still get a folder of
    their own under bronze/ (and the same one on every delivery).
    """
    return _SOURCE_NAME.sub("_", name.lower()).strip("_") or f"source_{name.encode().hex()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="STREAMLAKE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    target: Literal["local", "aws"] = "local"
    lake_root: str = Field(
        default="./lake",
        description="A local folder, or an s3://bucket/prefix URI, for bronze/ and quarantine/.",
    )
    aws_region: str = Field(
        default="us-east-1",
        # The AWS SDKs' own variables come before the default: a stack in another
        # region is reached without naming it twice.
        validation_alias=AliasChoices(
            "STREAMLAKE_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "aws_region"
        ),
        description="STREAMLAKE_AWS_REGION, else AWS_REGION, else AWS_DEFAULT_REGION.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Only for S3 stand-ins such as moto; empty means AWS itself."
    )

    # The application: its DynamoDB tables and Kinesis streams (ingestion/application.py).
    app_config: str = Field(
        default="streamlake.yml",
        description="The application file, relative to the project's root or absolute.",
    )

    # Landing
    source_aliases: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Maps a Kinesis stream or DynamoDB table name to the Bronze source it lands as, "
            'e.g. {"prod-orders": "orders"}. Unmapped names land under their own name.'
        ),
    )
    max_record_bytes: int = Field(
        default=1_048_576, gt=0, description="Larger decoded records go to quarantine."
    )
    parquet_compression: str = "zstd"
    event_contract: str = Field(
        default=DEFAULT_CONTRACT,
        description=(
            "The Kinesis payload contract: a shipped one by name (default, camel_case), a "
            "YAML file, or ssm:<parameter> holding the YAML (see ingestion/contracts/)."
        ),
    )

    event_contracts: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "The contract of each Bronze source of a Kinesis stream whose contract is not "
            'event_contract, e.g. {"app_events": "camel_case"}; the values take the same forms.'
        ),
    )

    # Local lakehouse (DuckDB with DuckLake)
    duckdb_extension_dir: str = Field(
        default=".duckdb/extensions",
        description="Where the pinned DuckDB extensions are installed from their PyPI packages.",
    )

    # The aws target (Athena engine v3 with Iceberg, Glue catalog)
    athena_workgroup: str = "streamlake"
    athena_s3_staging_dir: str | None = Field(
        default=None,
        description="s3:// prefix for Athena query results; empty means the workgroup's own.",
    )
    warehouse_uri: str | None = Field(
        default=None,
        description="s3:// prefix of Silver and Gold Iceberg data; default <lake_root>/warehouse.",
    )
    bronze_database: str = "bronze"
    silver_database: str = "silver"
    gold_database: str = "gold"
    ssm_prefix: str | None = Field(
        default=None,
        description=(
            "SSM path the CDK app publishes this environment's settings under, e.g. "
            "/streamlake/dev; environment variables still win over published values."
        ),
    )

    # Orchestration (Prefect)
    prefect_port: int = Field(default=4200, gt=0, lt=65536, description="Local server port.")
    prefect_home: str = Field(
        default=".prefect", description="The local Prefect server's database and logs."
    )
    transform_interval_seconds: int = Field(default=300, gt=0)
    transform_poll_seconds: float = Field(
        default=1,
        ge=0,
        description=(
            "How often `streamlake serve` looks for new Bronze to start a transform at once; "
            "0: on the interval alone. Off on the aws target unless set."
        ),
    )
    transform_min_interval_seconds: float = Field(
        default=0,
        ge=0,
        description=(
            "The least time between two transforms that new Bronze starts (the cost guard "
            "of the Bronze-triggered mode on aws, where each run is billed per statement)."
        ),
    )
    serve_simulator: bool = Field(
        default=True,
        description=(
            "`streamlake serve` on the local target also serves the simulator's ingest "
            "deployment, which lands demo slices; false for a lake fed otherwise."
        ),
    )
    transform_changed_sources_only: bool = Field(
        default=True,
        description=(
            "A scheduled transform builds only what is downstream of the Bronze sources "
            "that got new files since its last successful build (flows/bronze_changes.py): "
            "on Athena each statement is billed, and locally a run spends its time on what "
            "changed. False: every scheduled run builds everything."
        ),
    )
    maintenance_cron: str = "0 3 * * *"
    ingest_interval_seconds: float = Field(
        default=5, gt=0, description="How often the local ingest flow lands a batch."
    )
    snapshot_retention_hours: float = Field(
        default=168, ge=0, description="Table snapshots younger than this survive maintenance."
    )
    writer_wait_seconds: float = Field(
        default=600, ge=0, description="How long a writer waits for the catalog before giving up."
    )
    writer_lease_seconds: float = Field(
        default=60,
        gt=0,
        le=120,
        description=(
            "The S3 writer lease: a holder renews it every quarter of this, and a lease "
            "not renewed for this long is taken over (flows/warehouse/writer_lock.py)."
        ),
    )
    writer_poll_seconds: float = Field(
        default=2, gt=0, le=60, description="How often a waiting writer looks at the lease."
    )
    alert_rules_path: str = "flows/alert_rules.yml"
    alert_webhook_url: str | None = Field(
        default=None, description="Firing alerts are POSTed here as JSON; empty means log only."
    )
    export_url_expiry_seconds: int = Field(default=3600, gt=0, le=3600)

    # Observability
    log_level: str = "INFO"
    metrics_namespace: str = "Streamlake"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Published SSM parameters rank below everything set explicitly, above defaults.
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            file_secret_settings,
            SsmParameterSource(settings_cls),
        )

    @field_validator("lake_root")
    @classmethod
    def _lake_root_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("lake_root must not be empty")
        return value.rstrip("/") or "/"

    @field_validator("event_contract")
    @classmethod
    def _contract_is_usable(cls, value: str) -> str:
        # Checked when the settings are read, so a bad contract stops the start
        # with its one-line reason; one in SSM is checked when first read.
        return _usable_contract(value)

    @field_validator("event_contracts")
    @classmethod
    def _contracts_are_usable(cls, value: dict[str, str]) -> dict[str, str]:
        return {source: _usable_contract(contract) for source, contract in value.items()}

    @field_validator("bronze_database", "silver_database", "gold_database")
    @classmethod
    def _glue_name(cls, value: str) -> str:
        if value != normalise_source_name(value):
            raise ValueError("Glue database names are lowercase letters, digits and underscores")
        return value

    @property
    def warehouse(self) -> str:
        return self.warehouse_uri or f"{self.lake_root}/warehouse"

    @property
    def contract(self) -> EventContract:
        return load_contract(self.event_contract, self.aws_region)

    def contract_for(self, source: str) -> EventContract:
        """The contract of a stream's Bronze source: its own, or event_contract."""
        return load_contract(self.event_contracts.get(source, self.event_contract), self.aws_region)

    def source_for(self, stream_or_table: str) -> str:
        return normalise_source_name(self.source_aliases.get(stream_or_table, stream_or_table))


def _usable_contract(value: str) -> str:
    value = value.strip()
    if is_ssm(value):
        ssm_parameter(value)
    else:
        load_contract(value)
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process (a Lambda container keeps them warm)."""
    return Settings()
