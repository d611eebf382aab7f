"""The CDK app's configuration: read from context, validated before anything is built."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

import infra  # noqa: F401  (first: it sets the environment aws_cdk's Node runtime reads)

# isort: split
import aws_cdk as cdk

from infra.config import InfraConfig

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHOP_CONTRACT = FIXTURES / "contracts" / "shop_events.yml"
EXISTING_APPLICATION = FIXTURES / "applications" / "existing.yml"
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
        (
            {"kinesis_stream_arns": {"events": "arn:aws:sqs:eu-west-1:123456789012:q"}},
            "kinesis_stream_arns.events: not a Kinesis stream ARN",
        ),
        (
            {"dynamodb_stream_arns": {"carts": ARN}},
            r"no such source in streamlake.yml: \['carts'\]",
        ),
        ({"dynamodb_stream_arns": {"orders": "arn:aws:dynamodb:x"}}, "DynamoDB stream ARN"),
        ({"log_retention_days": 31}, "CloudWatch Logs"),
        ({"kinesis_batch_size": 20_000}, "kinesis_batch_size"),
        ({"kinesis_max_record_age_hours": 168}, "longer"),
        ({"@aws-cdk/core:someFeatureFlag": True, "retry_attempts": -1}, "retry_attempts"),
        ({"app_config": "no/such/streamlake.yml"}, "no application file"),
    ],
)
def test_bad_configuration_is_refused_before_synthesis(monkeypatch, context, message):
    with pytest.raises(ValidationError, match=message):
        from_context(monkeypatch, **context)


def application_with_contract(tmp_path: Path, contract: str) -> Path:
    """The fixture application with its stream's contract set; a contract file beside it."""
    path = tmp_path / "streamlake.yml"
    text = EXISTING_APPLICATION.read_text()
    path.write_text(text.replace("contract: ../contracts/shop_events.yml", f"contract: {contract}"))
    return path


@pytest.mark.parametrize(
    ("contract", "message"),
    [
        ("kebab_case", "no shipped contract of that name"),
        ("no/such/contract.yml", "no such file"),
        ("ssm:/streamlake/dev/event_contract", "the stack publishes the file to SSM itself"),
    ],
)
def test_a_bad_contract_in_the_application_is_refused(monkeypatch, tmp_path, contract, message):
    path = application_with_contract(tmp_path, contract)
    with pytest.raises(ValidationError, match=message):
        from_context(monkeypatch, app_config=str(path))


def test_a_streams_contract_is_a_shipped_name_or_a_file_beside_the_application(
    monkeypatch, tmp_path
):
    config = from_context(monkeypatch)
    assert config.event_contract(config.application.kinesis_streams[0]) == "default"
    (tmp_path / "shop.yml").write_text(SHOP_CONTRACT.read_text())
    shop = from_context(
        monkeypatch, app_config=str(application_with_contract(tmp_path, "shop.yml"))
    )
    assert shop.event_contract(shop.application.kinesis_streams[0]) == str(tmp_path / "shop.yml")


def test_a_broken_or_oversized_contract_file_is_refused_before_synthesis(monkeypatch, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(SHOP_CONTRACT.read_text().replace("epoch_seconds", "epoch_minutes"))
    with pytest.raises(ValidationError, match="unknown timestamp form 'epoch_minutes'"):
        from_context(monkeypatch, app_config=str(application_with_contract(tmp_path, "broken.yml")))
    large = tmp_path / "large.yml"
    large.write_text(SHOP_CONTRACT.read_text() + "# padding\n" * 1000)
    with pytest.raises(ValidationError, match="more than an SSM parameter holds"):
        from_context(monkeypatch, app_config=str(application_with_contract(tmp_path, "large.yml")))
