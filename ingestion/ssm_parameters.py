"""Settings the CDK app publishes as SSM parameters, and the settings source that reads them.

The stack (infra/) writes one String parameter per entry of PUBLISHED_SETTINGS
under `/streamlake/<environment>/`, named after the Settings field it feeds.
Setting `STREAMLAKE_SSM_PREFIX=/streamlake/<environment>` makes Settings read
them: environment variables, `.env` and explicit arguments still win, and the
published values win over the defaults. Both sides take their names from here.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

# Settings field -> what its parameter holds (the parameter's description).
PUBLISHED_SETTINGS: dict[str, str] = {
    "lake_root": "s3:// URI of the lake bucket (bronze/, quarantine/, warehouse/, exports/).",
    "warehouse_uri": "s3:// prefix of the Silver and Gold Iceberg data.",
    "athena_workgroup": "Athena workgroup (engine v3) that dbt, Prefect and Grafana query through.",
    "athena_s3_staging_dir": "s3:// prefix of Athena query results (the workgroup enforces it).",
    "bronze_database": "Glue database of the Bronze tables.",
    "silver_database": "Glue database of the Silver models.",
    "gold_database": "Glue database of the Gold models.",
    "source_aliases": "JSON map from the stream and table names to their Bronze sources.",
}


# Beside the settings, for `streamlake doctor` only: JSON of each Bronze source and
# the DynamoDB table or Kinesis stream the stack wired to it (infra/published_sources.py).
SOURCES_PARAMETER = "sources"
# One level down, where Settings never look: the runner's PREFECT_API_URL (an ECS
# secret), and what it holds until the stack is given one.
PREFECT_API_URL_PARAMETER = "prefect/api_url"
PLACEHOLDER_API_URL = "unset: give prefect_api_url in the CDK context"
# The Prefect Cloud key's secret the stack creates when none is given.
PREFECT_API_KEY_SECRET = "prefect-api-key"


def parameter_name(prefix: str, setting: str) -> str:
    """The SSM parameter that publishes `setting` under `prefix`."""
    return f"{prefix.rstrip('/')}/{setting}"


def prefect_key_secret_name(prefix: str) -> str:
    """The Secrets Manager secret of the runner's Prefect API key, named beside the
    stack's parameters (without their leading slash: a secret's name is no path)."""
    return f"{prefix.strip('/')}/{PREFECT_API_KEY_SECRET}"


def read_published(prefix: str, region: str | None) -> dict[str, str]:
    """The published values under `prefix`, keyed by setting; unknown names are ignored."""
    # Imported here: the Lambda handlers import Settings but never read SSM, and
    # importing boto3 would add to every cold start.
    import boto3  # noqa: PLC0415

    client = boto3.client("ssm", region_name=region)
    values: dict[str, str] = {}
    for page in client.get_paginator("get_parameters_by_path").paginate(
        Path=prefix.rstrip("/"), Recursive=False
    ):
        for parameter in page["Parameters"]:
            setting = parameter["Name"].rsplit("/", 1)[-1]
            if setting in PUBLISHED_SETTINGS:
                values[setting] = parameter["Value"]
    return values


class SsmParameterSource(PydanticBaseSettingsSource):
    """Settings values from the parameters under `ssm_prefix`, when one is set.

    It runs after the environment and `.env` sources, so `current_state` already
    holds `ssm_prefix` and `aws_region` from them (or from explicit arguments).
    """

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Required by the base class; __call__ reads every parameter at once instead.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        prefix = self._current("ssm_prefix")
        if not prefix:
            return {}
        region = self._current("aws_region") or self._default("aws_region")
        fields = self.settings_cls.model_fields
        values: dict[str, Any] = {}
        for setting, raw in read_published(prefix, region).items():
            field = fields.get(setting)
            if field is None:
                continue
            values[setting] = json.loads(raw) if self.field_is_complex(field) else raw
        return values

    def _current(self, name: str) -> Any:
        """A value the earlier sources found, under the field's name or any of its aliases
        (aws_region is found under STREAMLAKE_AWS_REGION, AWS_REGION or AWS_DEFAULT_REGION)."""
        alias = self.settings_cls.model_fields[name].validation_alias
        names = [name, *(getattr(alias, "choices", None) or ([alias] if alias else []))]
        return next((self.current_state[n] for n in names if n in self.current_state), None)

    def _default(self, name: str) -> Any:
        return self.settings_cls.model_fields[name].default
