"""Settings read the parameters the CDK app publishes, through moto's SSM."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from ingestion import ssm_parameters
from ingestion.settings import Settings
from ingestion.ssm_parameters import PUBLISHED_SETTINGS, parameter_name

PREFIX = "/streamlake/test"
REGION = "eu-west-1"
PUBLISHED = {
    "lake_root": "s3://streamlake-test-lake",
    "warehouse_uri": "s3://streamlake-test-lake/warehouse",
    "athena_workgroup": "streamlake-test",
    "athena_s3_staging_dir": "s3://streamlake-test-results/",
    "bronze_database": "streamlake_test_bronze",
    "silver_database": "streamlake_test_silver",
    "gold_database": "streamlake_test_gold",
    "source_aliases": '{"streamlake-test-events": "events", "streamlake-test-orders": "orders"}',
}


@pytest.fixture
def ssm(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    # Nothing of the developer's own environment may leak into these settings.
    for name in ("STREAMLAKE_ATHENA_WORKGROUP", "STREAMLAKE_LAKE_ROOT", "STREAMLAKE_SSM_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("ssm", region_name=REGION)
        for setting, value in PUBLISHED.items():
            client.put_parameter(Name=parameter_name(PREFIX, setting), Value=value, Type="String")
        # Neighbours that must not be read: another environment, an unknown name.
        client.put_parameter(Name="/streamlake/prod/lake_root", Value="s3://prod", Type="String")
        client.put_parameter(Name=f"{PREFIX}/not_a_setting", Value="x", Type="String")
        yield client


def test_every_published_setting_is_a_settings_field():
    assert set(PUBLISHED_SETTINGS) <= set(Settings.model_fields)
    assert set(PUBLISHED) == set(PUBLISHED_SETTINGS)


def test_settings_read_the_published_parameters(ssm):
    settings = Settings(ssm_prefix=PREFIX, aws_region=REGION, _env_file=None)
    assert settings.lake_root == "s3://streamlake-test-lake"
    assert settings.warehouse == "s3://streamlake-test-lake/warehouse"
    assert settings.athena_workgroup == "streamlake-test"
    assert settings.athena_s3_staging_dir == "s3://streamlake-test-results/"
    assert (settings.bronze_database, settings.silver_database, settings.gold_database) == (
        "streamlake_test_bronze",
        "streamlake_test_silver",
        "streamlake_test_gold",
    )
    # The JSON parameter becomes the dict the handlers use to name Bronze sources.
    assert settings.source_for("streamlake-test-orders") == "orders"


def test_prefix_from_the_environment_and_a_trailing_slash(ssm, monkeypatch):
    monkeypatch.setenv("STREAMLAKE_SSM_PREFIX", PREFIX + "/")
    monkeypatch.setenv("STREAMLAKE_AWS_REGION", REGION)
    assert Settings(_env_file=None).athena_workgroup == "streamlake-test"


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_the_aws_sdks_region_finds_the_parameters(ssm, monkeypatch, variable):
    """A stack outside us-east-1 is reached with the SDK's own variable alone."""
    for name in ("STREAMLAKE_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, REGION)
    settings = Settings(ssm_prefix=PREFIX, _env_file=None)
    assert settings.aws_region == REGION
    assert settings.athena_workgroup == "streamlake-test"
    # Streamlake's own variable still comes first, and AWS_REGION before AWS_DEFAULT_REGION.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.setenv("AWS_REGION", REGION)
    assert Settings(_env_file=None).aws_region == REGION
    monkeypatch.setenv("STREAMLAKE_AWS_REGION", "us-west-2")
    assert Settings(_env_file=None).aws_region == "us-west-2"


def test_explicit_values_win_over_published_ones(ssm, monkeypatch):
    monkeypatch.setenv("STREAMLAKE_ATHENA_WORKGROUP", "from-env")
    settings = Settings(
        ssm_prefix=PREFIX, aws_region=REGION, lake_root="./local-lake", _env_file=None
    )
    assert settings.athena_workgroup == "from-env"
    assert settings.lake_root == "./local-lake"
    assert settings.gold_database == "streamlake_test_gold"


def test_an_empty_path_leaves_the_defaults(ssm):
    settings = Settings(ssm_prefix="/streamlake/nothing-here", aws_region=REGION, _env_file=None)
    assert settings.athena_workgroup == Settings.model_fields["athena_workgroup"].default
    assert settings.lake_root == "./lake"


def test_no_prefix_means_no_aws_call(monkeypatch):
    monkeypatch.delenv("STREAMLAKE_SSM_PREFIX", raising=False)

    def fail(*args, **kwargs):
        raise AssertionError("SSM read without a prefix")

    monkeypatch.setattr(ssm_parameters, "read_published", fail)
    assert Settings(_env_file=None).lake_root == "./lake"
