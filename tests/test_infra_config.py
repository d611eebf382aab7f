"""The CDK app's configuration: read from context, validated before anything is built."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import infra  # noqa: F401  (first: it sets the environment aws_cdk's Node runtime reads)

# isort: split
import aws_cdk as cdk

from infra.config import InfraConfig

SHOP_CONTRACT = Path(__file__).resolve().parent / "fixtures" / "contracts" / "shop_events.yml"
ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/shop-orders/stream/2024-05-01T00:00:00.000"


def from_context(monkeypatch: pytest.MonkeyPatch, **context: object) -> InfraConfig:
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    return InfraConfig.from_context(cdk.App(context=context).node)


def test_defaults_synthesize_without_account_or_region(monkeypatch):
    config = from_context(monkeypatch)
    assert (config.env_name, config.account, config.region) == ("dev", None, None)
    assert config.stack_name == "Streamlake-dev"
    assert config.ssm_prefix == "/streamlake/dev"
    assert config.source_aliases == {
        "streamlake-dev-events": "events",
        "streamlake-dev-customers": "customers",
        "streamlake-dev-products": "products",
        "streamlake-dev-orders": "orders",
    }


def test_command_line_context_is_text(monkeypatch):
    # `cdk deploy -c key=value` passes every value as a string.
    config = from_context(
        monkeypatch,
        env_name="prod-eu",
        account="123456789012",
        region="eu-central-1",
        kinesis_batch_size="500",
        dynamodb_stream_arns=f'{{"orders": "{ARN}"}}',
        runner_principal_arns='["arn:aws:iam::123456789012:role/prefect-worker"]',
    )
    assert config.kinesis_batch_size == 500
    assert config.dynamodb_table_name("orders") == "shop-orders"
    assert config.dynamodb_table_name("customers") == "streamlake-prod-eu-customers"
    assert config.runner_principal_arns == ("arn:aws:iam::123456789012:role/prefect-worker",)
    # Glue names cannot have hyphens.
    assert config.glue_database("gold") == "streamlake_prod_eu_gold"


def test_the_cli_account_and_region_are_used_when_context_has_none(monkeypatch):
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "210987654321")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "us-west-2")
    config = InfraConfig.from_context(cdk.App().node)
    assert (config.account, config.region) == ("210987654321", "us-west-2")


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"env_name": "Prod"}, "env_name"),
        ({"account": "12345"}, "account"),
        ({"kinesis_stream_arn": "arn:aws:sqs:eu-west-1:123456789012:q"}, "Kinesis stream ARN"),
        ({"dynamodb_stream_arns": {"carts": ARN}}, "no such DynamoDB source"),
        ({"dynamodb_stream_arns": {"orders": "arn:aws:dynamodb:x"}}, "DynamoDB stream ARN"),
        ({"log_retention_days": 31}, "CloudWatch Logs"),
        ({"kinesis_batch_size": 20_000}, "kinesis_batch_size"),
        ({"kinesis_retention_hours": 24, "kinesis_max_record_age_hours": 24}, "longer"),
        ({"@aws-cdk/core:someFeatureFlag": True, "retry_attempts": -1}, "retry_attempts"),
        ({"event_contract": "kebab_case"}, "no shipped contract of that name"),
        ({"event_contract": "no/such/contract.yml"}, "no such file"),
        ({"event_contract": "ssm:/streamlake/dev/event_contract"}, "publishes the file to SSM"),
    ],
)
def test_bad_configuration_is_refused_before_synthesis(monkeypatch, context, message):
    with pytest.raises(ValidationError, match=message):
        from_context(monkeypatch, **context)


def test_the_event_contract_is_a_shipped_name_or_a_file(monkeypatch, tmp_path):
    assert from_context(monkeypatch).event_contract == "default"
    camel = from_context(monkeypatch, event_contract="camel_case")
    assert (camel.event_contract, camel.shipped_contract) == ("camel_case", True)
    path = tmp_path / "shop.yml"
    path.write_text(SHOP_CONTRACT.read_text())
    shop = from_context(monkeypatch, event_contract=str(path))
    assert not shop.shipped_contract
    assert shop.event_contract_text == SHOP_CONTRACT.read_text()


def test_a_broken_or_oversized_contract_file_is_refused_before_synthesis(monkeypatch, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(SHOP_CONTRACT.read_text().replace("epoch_seconds", "epoch_minutes"))
    with pytest.raises(ValidationError, match="unknown timestamp form 'epoch_minutes'"):
        from_context(monkeypatch, event_contract=str(broken))
    large = tmp_path / "large.yml"
    large.write_text(SHOP_CONTRACT.read_text() + "# padding\n" * 1000)
    with pytest.raises(ValidationError, match="more than an SSM parameter holds"):
        from_context(monkeypatch, event_contract=str(large))
