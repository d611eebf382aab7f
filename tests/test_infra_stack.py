"""The CDK app: synthesized once, offline and without credentials, then checked.

Every resource of the issue is asserted with its security properties; cdk-nag's
AWS Solutions checks and checkov leave nothing unacknowledged; cfn-lint finds no
error. The runner (infra/runner.py) has tests of its own in test_infra_runner.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import infra  # noqa: F401  (first: it sets the environment aws_cdk's Node runtime reads)

# isort: split
import aws_cdk as cdk
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from infra import checkov
from infra.app import no_credentials
from infra.config import InfraConfig
from infra.runner import PREFECT_API_URL_PARAMETER
from infra.stack import StreamlakeStack, add_streamlake
from infra.storage import STATE, WRITER_LEASE
from ingestion import observability
from ingestion.application import load_application
from ingestion.bronze_catalog import bronze_tables, glue_type
from ingestion.settings import Settings
from ingestion.ssm_parameters import PUBLISHED_SETTINGS, SOURCES_PARAMETER, parameter_name

BASIC_EXECUTION_ROLE = (
    "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
)
SHOP_CONTRACT = Path(__file__).resolve().parent / "fixtures" / "contracts" / "shop_events.yml"
CDK_JSON = Path(__file__).resolve().parent.parent / "infra" / "cdk.json"
BRONZE_TABLES = bronze_tables(load_application())
ACCOUNT, REGION = "123456789012", "eu-west-1"
EXISTING_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
# Without account or region: the stack must synthesize environment-agnostic too.
EXISTING = InfraConfig(
    env_name="existing",
    # The stream's contract is a file beside the application file.
    app_config=str(Path(__file__).resolve().parent / "fixtures" / "applications" / "existing.yml"),
    kinesis_stream_arns={"events": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/prod-clickstream"},
    dynamodb_stream_arns={
        source: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/prod-{source}/stream/2024-01-01T00:00:00.000"
        for source in ("customers", "products", "orders")
    },
    source_key_arns=(EXISTING_KEY,),
)


@dataclass
class Synthesized:
    app: cdk.App
    stack: StreamlakeStack
    existing: StreamlakeStack
    templates: dict[str, dict[str, Any]]
    outdir: Path

    def template(self, stack: StreamlakeStack | None = None) -> Template:
        return Template.from_json(self.templates[(stack or self.stack).stack_name])

    def resources(self, kind: str, stack: StreamlakeStack | None = None) -> dict[str, Any]:
        template = self.templates[(stack or self.stack).stack_name]
        return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    context = json.loads(CDK_JSON.read_text())["context"]
    context.update(
        {
            "env_name": "test",
            "account": ACCOUNT,
            "region": REGION,
            # CDK's switch to skip asset bundling: nothing is installed or downloaded.
            "aws:cdk:bundling-stacks": [],
        }
    )
    outdir = tmp_path_factory.mktemp("cdk.out")
    # No credentials anywhere: a synthesis that looked anything up would fail.
    with no_credentials(outdir):
        app = cdk.App(outdir=str(outdir), context=context, stack_traces=False)
        stack = add_streamlake(app)
        existing = StreamlakeStack(app, EXISTING)
        # Raises when cdk-nag reports an unacknowledged error: the plugin runs on synth.
        assembly = app.synth()
    templates = {
        s.stack_name: assembly.get_stack_by_name(s.stack_name).template for s in (stack, existing)
    }
    return Synthesized(app, stack, existing, templates, outdir)


def resolve(value: Any, refs: dict[str, str]) -> Any:
    """Enough of CloudFormation to read a parameter value: Ref, Fn::GetAtt and Fn::Join."""
    if isinstance(value, dict) and "Ref" in value:
        return refs[value["Ref"]]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return refs["{}.{}".format(*value["Fn::GetAtt"])]
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve(part, refs) for part in parts)
    return value


def only(resources: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.items()))


def logical_id(synth: Synthesized, construct: Any) -> str:
    return synth.stack.get_logical_id(construct.node.default_child)


def policy_statements(
    synth: Synthesized, role: Any, stack: StreamlakeStack | None = None
) -> list[dict]:
    role_id = (stack or synth.stack).get_logical_id(role.node.default_child)
    statements = []
    for policy in synth.resources("AWS::IAM::Policy", stack).values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions_on(statements: list[dict], needle: str) -> set[str]:
    """Actions of the statements whose resources mention `needle`."""
    found: set[str] = set()
    for statement in statements:
        if needle in json.dumps(statement["Resource"]):
            actions = statement["Action"]
            found |= {actions} if isinstance(actions, str) else set(actions)
    return found


# ---------------------------------------------------------------- synthesis


def test_synthesizes_offline(synth):
    assert set(synth.templates) == {"Streamlake-test", "Streamlake-existing"}
    assets = json.loads((synth.outdir / "Streamlake-test.assets.json").read_text())
    assert len(assets["files"]) >= 2  # handler code, dependencies layer
    assert len(assets["dockerImages"]) == 1  # the runner's image, built at deploy
    # Nothing was left for the CLI to look up with credentials (availability zones
    # of an environment-specific stack would be).
    manifest = json.loads((synth.outdir / "manifest.json").read_text())
    assert not manifest.get("missing")


def test_every_resource_of_the_issue_is_there(synth):
    template = synth.template()
    for kind, count in {
        "AWS::S3::Bucket": 3,  # lake, Athena results, access logs
        "AWS::KMS::Key": 4,  # lake, sources, alarms, log groups
        "AWS::Kinesis::Stream": 1,
        "AWS::DynamoDB::Table": 3,
        # The two handlers, and CDK's provider that empties the VPC's default group.
        "AWS::Lambda::Function": 3,
        "AWS::Lambda::LayerVersion": 1,
        "AWS::Lambda::EventSourceMapping": 4,
        "AWS::SQS::Queue": 1,
        "AWS::Logs::LogGroup": 3,  # two handlers, runner
        "AWS::Glue::Database": 3,
        "AWS::Glue::Table": len(BRONZE_TABLES),  # the application's sources, and quarantine
        "AWS::Athena::WorkGroup": 1,
        # Two handlers, runner, Grafana, the runner's ECS agent, CDK's provider.
        "AWS::IAM::Role": 6,
        "AWS::CloudWatch::Alarm": 8,
        "AWS::SNS::Topic": 1,
        # The published settings, the wired sources and the runner's Prefect API URL.
        "AWS::SSM::Parameter": len(PUBLISHED_SETTINGS) + 2,
        "AWS::ECS::Cluster": 1,
        "AWS::ECS::Service": 1,
        "AWS::ECS::TaskDefinition": 1,
        "AWS::EC2::VPC": 1,
        "AWS::SecretsManager::Secret": 1,
    }.items():
        template.resource_count_is(kind, count)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": Match.object_like(
                {
                    "ServerSideEncryptionConfiguration": [
                        Match.object_like(
                            {
                                "ServerSideEncryptionByDefault": Match.object_like(
                                    {"SSEAlgorithm": "aws:kms"}
                                )
                            }
                        )
                    ]
                }
            ),
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "lake/"}),
        },
    )


# ---------------------------------------------------------------- storage


def test_lake_bucket_is_versioned_encrypted_private_logged(synth):
    storage = synth.stack.storage
    lake = synth.resources("AWS::S3::Bucket")[logical_id(synth, storage.lake)]["Properties"]
    assert lake["VersioningConfiguration"] == {"Status": "Enabled"}
    (encryption,) = lake["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [logical_id(synth, storage.key), "Arn"]},
    }
    assert encryption["BucketKeyEnabled"] is True
    assert lake["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert lake["LoggingConfiguration"]["DestinationBucketName"] == {
        "Ref": logical_id(synth, storage.access_logs)
    }
    key = synth.resources("AWS::KMS::Key")[logical_id(synth, storage.key)]["Properties"]
    assert key["EnableKeyRotation"] is True


def test_lake_lifecycle_rules(synth):
    lake = synth.resources("AWS::S3::Bucket")[logical_id(synth, synth.stack.storage.lake)]
    rules = {rule["Id"]: rule for rule in lake["Properties"]["LifecycleConfiguration"]["Rules"]}
    bronze = rules["bronze-to-colder-storage"]
    assert bronze["Prefix"] == "bronze/"
    assert bronze["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": 30},
        {"StorageClass": "GLACIER_IR", "TransitionInDays": 90},
    ]
    assert (
        rules["expire-quarantine"]["Prefix"],
        rules["expire-quarantine"]["ExpirationInDays"],
    ) == (
        "quarantine/",
        90,
    )
    assert (rules["expire-exports"]["Prefix"], rules["expire-exports"]["ExpirationInDays"]) == (
        "exports/",
        30,
    )
    assert rules["expire-old-versions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    # Nothing expires or moves the Silver and Gold warehouse.
    assert not any(rule.get("Prefix", "").startswith("warehouse") for rule in rules.values())
    assert all(rule["Status"] == "Enabled" for rule in rules.values())


def test_athena_results_expire_after_30_days(synth):
    storage = synth.stack.storage
    bucket = synth.resources("AWS::S3::Bucket")[logical_id(synth, storage.athena_results)]
    properties = bucket["Properties"]
    rules = {rule["Id"]: rule for rule in properties["LifecycleConfiguration"]["Rules"]}
    assert set(rules) == {"expire-query-results", "remove-delete-markers"}
    assert rules["expire-query-results"]["ExpirationInDays"] == 30
    # Versioned (checkov CKV_AWS_21), and an old version is gone within a week.
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert rules["expire-query-results"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert rules["remove-delete-markers"]["ExpiredObjectDeleteMarker"] is True
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert properties["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert "LoggingConfiguration" in properties


def test_access_logs_are_versioned_and_expire(synth):
    storage = synth.stack.storage
    bucket = synth.resources("AWS::S3::Bucket")[logical_id(synth, storage.access_logs)]
    properties = bucket["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Id"]: rule for rule in properties["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-logs"]["ExpirationInDays"] == 365
    assert rules["expire-logs"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert rules["remove-delete-markers"]["ExpiredObjectDeleteMarker"] is True


def test_every_bucket_refuses_plain_http(synth):
    buckets = synth.resources("AWS::S3::Bucket")
    policies = {
        policy["Properties"]["Bucket"]["Ref"]: policy["Properties"]["PolicyDocument"]["Statement"]
        for policy in synth.resources("AWS::S3::BucketPolicy").values()
    }
    assert set(policies) == set(buckets)
    for bucket, statements in policies.items():
        denies = [s for s in statements if s["Effect"] == "Deny"]
        assert any(
            s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and s["Action"] == "s3:*"
            for s in denies
        ), bucket
        assert any(s["Condition"] == {"NumericLessThan": {"s3:TlsVersion": 1.2}} for s in denies), (
            bucket
        )


# ---------------------------------------------------------------- sources


def test_kinesis_stream_is_on_demand_and_encrypted(synth):
    _, stream = only(synth.resources("AWS::Kinesis::Stream"))
    properties = stream["Properties"]
    assert properties["Name"] == "streamlake-test-events"
    assert properties["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert properties["StreamEncryption"] == {
        "EncryptionType": "KMS",
        "KeyId": {"Fn::GetAtt": [logical_id(synth, synth.stack.sources.key), "Arn"]},
    }
    assert properties["RetentionPeriodHours"] == 168


def test_dynamodb_tables_stream_new_and_old_images_with_pitr(synth):
    tables = {
        t["Properties"]["TableName"]: t["Properties"]
        for t in synth.resources("AWS::DynamoDB::Table").values()
    }
    assert set(tables) == {f"streamlake-test-{s}" for s in ("customers", "products", "orders")}
    key = {"Fn::GetAtt": [logical_id(synth, synth.stack.sources.key), "Arn"]}
    for name, table in tables.items():
        assert table["BillingMode"] == "PAY_PER_REQUEST", name
        assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}, name
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionProtectionEnabled"] is True
        assert table["SSESpecification"] == {
            "KMSMasterKeyId": key,
            "SSEEnabled": True,
            "SSEType": "KMS",
        }
    assert tables["streamlake-test-orders"]["KeySchema"] == [
        {"AttributeName": "order_id", "KeyType": "HASH"}
    ]


def test_existing_sources_are_read_not_created(synth):
    existing = synth.existing
    assert not synth.resources("AWS::Kinesis::Stream", existing)
    assert not synth.resources("AWS::DynamoDB::Table", existing)
    mappings = synth.resources("AWS::Lambda::EventSourceMapping", existing).values()
    assert {m["Properties"]["EventSourceArn"] for m in mappings} == {
        *EXISTING.kinesis_stream_arns.values(),
        *EXISTING.dynamodb_stream_arns.values(),
    }
    function = synth.resources("AWS::Lambda::Function", existing)[
        existing.get_logical_id(existing.ingestion.dynamodb.function.node.default_child)
    ]
    aliases = json.loads(
        function["Properties"]["Environment"]["Variables"]["STREAMLAKE_SOURCE_ALIASES"]
    )
    assert aliases == {
        "prod-clickstream": "events",
        "prod-customers": "customers",
        "prod-products": "products",
        "prod-orders": "orders",
    }
    statements = policy_statements(synth, existing.ingestion.dynamodb.role, existing)
    assert "kms:Decrypt" in actions_on(statements, EXISTING_KEY)


# ---------------------------------------------------------------- ingestion


def test_handlers_run_python_312_on_arm64_with_the_layer(synth):
    ingestion = synth.stack.ingestion
    functions = handler_functions(synth)
    layer_id = logical_id(synth, ingestion._layer)
    expected = {
        logical_id(synth, ingestion.kinesis.function): "ingestion.kinesis.handler",
        logical_id(synth, ingestion.dynamodb.function): "ingestion.dynamodb_streams.handler",
    }
    assert set(functions) == set(expected)
    for function_id, handler in expected.items():
        properties = functions[function_id]["Properties"]
        assert properties["Handler"] == handler
        assert properties["Runtime"] == "python3.12"
        assert properties["Architectures"] == ["arm64"]
        assert properties["Layers"] == [{"Ref": layer_id}]
        variables = properties["Environment"]["Variables"]
        assert variables["STREAMLAKE_TARGET"] == "aws"
        assert variables["STREAMLAKE_AWS_REGION"] == REGION
        assert variables["STREAMLAKE_LAKE_ROOT"] == {
            "Fn::Join": ["", ["s3://", {"Ref": logical_id(synth, synth.stack.storage.lake)}]]
        }
        # The variables are settings the handlers know.
        settings_fields = {f"STREAMLAKE_{name.upper()}" for name in Settings.model_fields}
        assert {v for v in variables if v.startswith("STREAMLAKE_")} <= settings_fields
    (layer,) = synth.resources("AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]


def handler_functions(synth: Synthesized) -> dict[str, Any]:
    """The stack's own functions, without CDK's custom resource providers."""
    functions = synth.resources("AWS::Lambda::Function")
    return {k: f for k, f in functions.items() if not k.startswith("Custom")}


def environment_of(synth: Synthesized, function: Any, stack: StreamlakeStack | None = None) -> dict:
    stack = stack or synth.stack
    functions = synth.resources("AWS::Lambda::Function", stack)
    properties = functions[stack.get_logical_id(function.node.default_child)]["Properties"]
    return properties["Environment"]["Variables"]


def test_each_streams_contract_reaches_the_kinesis_handler(synth):
    ingestion = synth.stack.ingestion
    # A shipped contract travels in the code asset: the handler is told its name.
    variables = environment_of(synth, ingestion.kinesis.function)
    assert json.loads(variables["STREAMLAKE_EVENT_CONTRACTS"]) == {"events": "default"}
    assert "STREAMLAKE_EVENT_CONTRACTS" not in environment_of(synth, ingestion.dynamodb.function)
    assert ingestion.event_contracts == {}
    assert not any(
        "event_contract" in json.dumps(p["Properties"]["Name"])
        for p in synth.resources("AWS::SSM::Parameter").values()
    )


def test_a_contract_file_is_published_to_ssm_for_the_kinesis_handler(synth):
    existing = synth.existing
    parameters = {
        logical: p["Properties"]
        for logical, p in synth.resources("AWS::SSM::Parameter", existing).items()
        if p["Properties"]["Name"] == "/streamlake/existing/event_contracts/events"
    }
    ((logical, parameter),) = parameters.items()
    assert parameter["Value"] == SHOP_CONTRACT.read_text()
    assert parameter["Type"] == "String"
    variables = environment_of(synth, existing.ingestion.kinesis.function, existing)
    # A Ref (an SSM parameter's Ref is its name): the function deploys after the parameter.
    contracts = resolve(variables["STREAMLAKE_EVENT_CONTRACTS"], {logical: parameter["Name"]})
    assert json.loads(contracts) == {"events": "ssm:/streamlake/existing/event_contracts/events"}
    # The handler may read that one parameter, and the DynamoDB handler none.
    statements = policy_statements(synth, existing.ingestion.kinesis.role, existing)
    assert actions_on(statements, logical) == {"ssm:GetParameter"}
    dynamodb = policy_statements(synth, existing.ingestion.dynamodb.role, existing)
    assert not actions_on(dynamodb, logical)


def test_log_groups_are_kept_30_days_under_the_logs_key(synth):
    groups = synth.resources("AWS::Logs::LogGroup")
    assert len(groups) == 3  # two handlers, the runner
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in groups.values())
    logs_key = {"Fn::GetAtt": [logical_id(synth, synth.stack.storage.logs_key), "Arn"]}
    # Encrypted (checkov CKV_AWS_158) with a key CloudWatch Logs may use.
    assert all(g["Properties"]["KmsKeyId"] == logs_key for g in groups.values())
    for function in handler_functions(synth).values():
        assert function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] in groups


def test_the_logs_key_serves_cloudwatch_logs_for_this_accounts_log_groups_only(synth):
    key = synth.resources("AWS::KMS::Key")[logical_id(synth, synth.stack.storage.logs_key)]
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if "Service" in s["Principal"]]
    assert logs["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*"
        }
    }


def test_event_source_mappings_retry_bounded_and_report_failures(synth):
    ingestion = synth.stack.ingestion
    mappings = synth.resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 4  # the stream and three tables
    dead_letters = logical_id(synth, ingestion.dead_letters)
    kinesis = {"Ref": logical_id(synth, ingestion.kinesis.function)}
    for mapping in mappings.values():
        properties = mapping["Properties"]
        is_kinesis = properties["FunctionName"] == kinesis
        assert properties["StartingPosition"] == "TRIM_HORIZON"
        assert properties["BisectBatchOnFunctionError"] is True
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert properties["MaximumRetryAttempts"] == 10
        assert properties["MaximumRecordAgeInSeconds"] == (86_400 if is_kinesis else 21_600)
        assert properties["BatchSize"] == (10_000 if is_kinesis else 1_000)
        assert properties["MaximumBatchingWindowInSeconds"] == (10 if is_kinesis else 5)
        assert properties["DestinationConfig"] == {
            "OnFailure": {"Destination": {"Fn::GetAtt": [dead_letters, "Arn"]}}
        }


def test_dead_letter_queue_is_encrypted_and_tls_only(synth):
    queue_id, queue = only(synth.resources("AWS::SQS::Queue"))
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    (policy,) = synth.resources("AWS::SQS::QueuePolicy").values()
    assert policy["Properties"]["Queues"] == [{"Ref": queue_id}]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )


# ---------------------------------------------------------------- catalog


def test_glue_databases_for_the_three_layers(synth):
    names = {
        d["Properties"]["DatabaseInput"]["Name"]
        for d in synth.resources("AWS::Glue::Database").values()
    }
    assert names == {"streamlake_test_bronze", "streamlake_test_silver", "streamlake_test_gold"}


@pytest.mark.parametrize("table", BRONZE_TABLES, ids=lambda t: t.name)
def test_bronze_glue_table_matches_the_parquet_the_handlers_write(synth, table):
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]
        for t in synth.resources("AWS::Glue::Table").values()
    }
    glue = tables[table.name]
    assert glue["DatabaseName"] == "streamlake_test_bronze"
    columns = glue["TableInput"]["StorageDescriptor"]["Columns"]
    # Column for column, straight from the Arrow schema the handlers write.
    assert [(c["Name"], c["Type"]) for c in columns] == [
        (f.name, glue_type(f.type)) for f in table.schema
    ]
    parameters = glue["TableInput"]["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.dt.type"] == "date"
    location = resolve(
        parameters["storage.location.template"],
        {logical_id(synth, synth.stack.storage.lake): "lake"},
    )
    assert location.startswith(f"s3://lake/{table.prefix}/")
    assert location.endswith("dt=${dt}/")
    assert [k["Name"] for k in glue["TableInput"]["PartitionKeys"]] == list(table.partition_keys)


def test_athena_workgroup_enforces_engine_v3_encryption_and_a_scan_cap(synth):
    _, workgroup = only(synth.resources("AWS::Athena::WorkGroup"))
    properties = workgroup["Properties"]
    assert properties["Name"] == "streamlake-test"
    configuration = properties["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert configuration["BytesScannedCutoffPerQuery"] == 100 * 1024**3
    results = configuration["ResultConfiguration"]
    assert results["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": {"Fn::GetAtt": [logical_id(synth, synth.stack.storage.key), "Arn"]},
    }
    results_bucket = logical_id(synth, synth.stack.storage.athena_results)
    assert resolve(results["OutputLocation"], {results_bucket: "results"}) == "s3://results/"


# ---------------------------------------------------------------- access


def test_no_iam_policy_has_a_wildcard_action(synth):
    for stack in (synth.stack, synth.existing):
        documents = [
            p["Properties"]["PolicyDocument"]
            for p in synth.resources("AWS::IAM::Policy", stack).values()
        ]
        for name, role in synth.resources("AWS::IAM::Role", stack).items():
            managed = role["Properties"].get("ManagedPolicyArns", [])
            if name.startswith("Custom"):
                # CDK's own provider (it empties the runner VPC's default security
                # group at deploy) logs with Lambda's basic execution policy.
                assert managed == [{"Fn::Sub": BASIC_EXECUTION_ROLE}], name
            else:
                assert managed == [], name
            documents += [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
        assert documents
        for document in documents:
            for statement in document["Statement"]:
                actions = statement["Action"]
                for action in [actions] if isinstance(actions, str) else actions:
                    assert "*" not in action, statement


def test_handlers_write_only_their_own_bronze_prefixes(synth):
    ingestion = synth.stack.ingestion
    expected = {
        ingestion.kinesis.role: {"/bronze/events/*", "/quarantine/*"},
        ingestion.dynamodb.role: {
            "/bronze/customers/*",
            "/bronze/products/*",
            "/bronze/orders/*",
            "/quarantine/*",
        },
    }
    for role, prefixes in expected.items():
        writes = [s for s in policy_statements(synth, role) if "s3:PutObject" in s["Action"]]
        resources = {
            part
            for statement in writes
            for resource in statement["Resource"]
            for part in resource["Fn::Join"][1]
            if isinstance(part, str)
        }
        assert resources == prefixes


def test_grafana_role_reads_gold_and_writes_nothing_but_query_results(synth):
    access, storage = synth.stack.access, synth.stack.storage
    statements = policy_statements(synth, access.grafana)
    lake = logical_id(synth, storage.lake)
    lake_object_actions = set()
    for statement in statements:
        for resource in (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        ):
            if "Fn::Join" in json.dumps(resource) and lake in json.dumps(resource):
                lake_object_actions |= set(
                    statement["Action"]
                    if isinstance(statement["Action"], list)
                    else [statement["Action"]]
                )
                assert "/warehouse/streamlake_test_gold/" in json.dumps(resource)
    assert lake_object_actions == {"s3:GetObject"}
    glue = [s for s in statements if any(a.startswith("glue:") for a in s["Action"])]
    assert all(
        a.startswith("glue:Get") or a.startswith("glue:BatchGet") for s in glue for a in s["Action"]
    )
    assert "silver" not in json.dumps(glue) and "bronze" not in json.dumps(glue)
    writes = {"s3:PutObject", "s3:DeleteObject"}
    results = logical_id(synth, storage.athena_results)
    for statement in statements:
        if writes & set(statement["Action"]):
            assert results in json.dumps(statement["Resource"])


def test_runner_role_builds_silver_and_gold_and_maintains_bronze(synth):
    statements = policy_statements(synth, synth.stack.access.runner)
    glue_writes = [s for s in statements if "glue:CreateTable" in s["Action"]]
    assert glue_writes
    assert "bronze" not in json.dumps(glue_writes)
    assert "streamlake_test_silver" in json.dumps(glue_writes)
    assert "streamlake_test_gold" in json.dumps(glue_writes)
    # Bronze objects: read, and rewritten only by maintenance (compaction, the
    # Bronze check's quarantine moves); never a Bronze Glue table.
    bronze_writes = [
        s
        for s in statements
        if {"s3:PutObject", "s3:DeleteObject"} & set(s["Action"])
        and "/bronze/" in json.dumps(s["Resource"])
    ]
    assert bronze_writes
    for statement in bronze_writes:  # CDK merges statements of the same resources
        assert {"s3:DeleteObject", "s3:PutObject"} <= set(statement["Action"])
        assert set(statement["Action"]) <= {"s3:DeleteObject", "s3:GetObject", "s3:PutObject"}
    assert "/quarantine/" in json.dumps([s["Resource"] for s in bronze_writes])
    # The writer lease and the check's state are the runner's own objects.
    assert actions_on(statements, WRITER_LEASE) == {
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObject",
    }
    assert actions_on(statements, "/_state/") >= {"s3:GetObject", "s3:PutObject"}
    assert actions_on(statements, "parameter/streamlake/test") == {"ssm:GetParametersByPath"}


def test_the_runners_own_objects_are_where_the_flows_put_them():
    from flows.bronze_check import STATE_PATH
    from flows.warehouse.writer_lock import LOCK_NAME

    assert WRITER_LEASE == LOCK_NAME
    assert STATE_PATH.startswith(STATE)


# ---------------------------------------------------------------- operations


def test_alarms_on_iterator_age_dead_letters_and_handler_errors_go_to_sns(synth):
    template = synth.template()
    topic_id, topic = only(synth.resources("AWS::SNS::Topic"))
    assert topic["Properties"]["KmsMasterKeyId"] == {
        "Fn::GetAtt": [logical_id(synth, synth.stack.operations.key), "Arn"]
    }
    alarms = synth.resources("AWS::CloudWatch::Alarm").values()
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": topic_id}] for a in alarms)
    metrics = sorted(a["Properties"]["MetricName"] for a in alarms)
    per_handler = ["Errors", "IteratorAge", "BatchItemFailures"]
    assert metrics == sorted(
        [*per_handler, *per_handler, "ApproximateNumberOfMessagesVisible", "TransformsFinished"]
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "IteratorAge", "Threshold": 15 * 60_000, "Statistic": "Maximum"},
    )
    # The alarms on the handlers' own metrics watch the namespace the handlers are given.
    function = next(iter(handler_functions(synth).values()))
    namespace = function["Properties"]["Environment"]["Variables"]["STREAMLAKE_METRICS_NAMESPACE"]
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "BatchItemFailures",
            "Namespace": namespace,
            "Dimensions": Match.array_with(
                [{"Name": "service", "Value": observability.metrics.service}]
            ),
        },
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        Match.object_like(
            {
                "PolicyDocument": Match.object_like(
                    {
                        "Statement": Match.array_with(
                            [
                                Match.object_like(
                                    {
                                        "Effect": "Deny",
                                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                    }
                                )
                            ]
                        )
                    }
                )
            }
        ),
    )


def test_ssm_parameters_are_the_ones_settings_read(synth, monkeypatch):
    import boto3
    from moto import mock_aws

    parameters = {
        p["Properties"]["Name"]: p["Properties"]["Value"]
        for p in synth.resources("AWS::SSM::Parameter").values()
    }
    assert set(parameters) == {
        *(parameter_name("/streamlake/test", s) for s in PUBLISHED_SETTINGS),
        # Not a setting: what doctor checks (see the next test).
        parameter_name("/streamlake/test", SOURCES_PARAMETER),
        # One level down, where Settings (GetParametersByPath, not recursive) never look.
        f"/streamlake/test/{PREFECT_API_URL_PARAMETER}",
    }
    del parameters[parameter_name("/streamlake/test", SOURCES_PARAMETER)]
    refs = {
        logical_id(synth, synth.stack.storage.lake): "the-lake",
        logical_id(synth, synth.stack.storage.athena_results): "the-results",
    }
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    for name in ("STREAMLAKE_ATHENA_WORKGROUP", "STREAMLAKE_LAKE_ROOT", "STREAMLAKE_GOLD_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        ssm = boto3.client("ssm", region_name=REGION)
        for name, value in parameters.items():
            ssm.put_parameter(Name=name, Value=resolve(value, refs), Type="String")
        settings = Settings(ssm_prefix="/streamlake/test", aws_region=REGION, _env_file=None)
    assert settings.lake_root == "s3://the-lake"
    assert settings.warehouse == "s3://the-lake/warehouse"
    assert settings.athena_workgroup == "streamlake-test"
    assert settings.athena_s3_staging_dir == "s3://the-results/"
    assert settings.gold_database == "streamlake_test_gold"
    assert settings.source_for("streamlake-test-orders") == "orders"


def test_the_wired_sources_are_published_for_doctor(synth):
    """Each Bronze source with the table or stream the handlers read: created ones by
    their ARNs at deploy, existing ones as given in context."""

    def published(stack: StreamlakeStack) -> dict[str, dict[str, str]]:
        (value,) = [
            p["Properties"]["Value"]
            for p in synth.resources("AWS::SSM::Parameter", stack).values()
            if p["Properties"]["Name"] == parameter_name(stack.config.ssm_prefix, SOURCES_PARAMETER)
        ]
        arns = {
            f"{name}.{attribute}": f"arn-of-{name}"
            for name in synth.templates[stack.stack_name]["Resources"]
            for attribute in ("Arn", "StreamArn")
        }
        return json.loads(resolve(value, arns))

    def arn(child: str) -> str:
        construct = synth.stack.sources.node.find_child(child)
        return f"arn-of-{synth.stack.get_logical_id(construct.node.default_child)}"

    created = published(synth.stack)
    assert created == {
        "events": {
            "kind": "kinesis",
            "stream_name": "streamlake-test-events",
            "stream_arn": arn("Events"),
        },
        **{
            source: {
                "kind": "dynamodb",
                "table_name": f"streamlake-test-{source}",
                "stream_arn": arn(source.capitalize()),
            }
            for source in ("customers", "products", "orders")
        },
    }
    existing = published(synth.existing)
    assert existing["events"]["stream_arn"] == EXISTING.kinesis_stream_arns["events"]
    assert existing["events"]["stream_name"] == "prod-clickstream"
    for source, arn in EXISTING.dynamodb_stream_arns.items():
        assert existing[source] == {
            "kind": "dynamodb",
            "table_name": f"prod-{source}",
            "stream_arn": arn,
        }


# ---------------------------------------------------------------- checks


def test_cdk_nag_leaves_nothing_unacknowledged(synth):
    # The plugin already ran on synth (errors would have raised); this sees warnings too.
    report = AwsSolutionsChecks().validate_scope(synth.app)
    assert [
        (v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations
    ] == []
    assert report.success


def test_every_acknowledgement_names_one_finding_and_says_why(synth):
    acknowledged: dict[str, str] = {}
    for template in synth.templates.values():
        for resource in template["Resources"].values():
            for rule in (
                resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
            ):
                assert len(rule["reason"].strip()) >= 40, rule
                if rule["id"].startswith("CloudFormation-Validate::"):
                    # CDK's own, on the VPC flow log: its DestinationOptions are camelCase.
                    assert resource["Type"] == "AWS::EC2::FlowLog", rule
                    continue
                acknowledged[rule["id"]] = rule["reason"]
    rules = {rule.split("[")[0] for rule in acknowledged}
    # Any new kind of acknowledgement is a decision to review here.
    assert rules == {
        "AwsSolutions-ECS2",
        "AwsSolutions-IAM5",
        "AwsSolutions-KDS3",
        "AwsSolutions-L1",
        "AwsSolutions-S1",
        "AwsSolutions-SMG4",
        "AwsSolutions-SQS3",
    }
    # IAM5 is acknowledged for wildcard resources only, never for wildcard actions.
    assert all(
        rule.startswith("AwsSolutions-IAM5[Resource::") for rule in acknowledged if "IAM5" in rule
    )


def test_cfn_lint_finds_no_errors(synth):
    from cfnlint.api import lint

    for name, template in synth.templates.items():
        matches = lint(json.dumps(template), regions=[REGION])
        errors = [str(m) for m in matches if m.rule.id.startswith("E")]
        assert errors == [], name
        # The only warning: the DependsOn CDK adds from a function to its role.
        assert {m.rule.id for m in matches} <= {"W3005"}, [str(m) for m in matches]


def test_checkov_leaves_nothing_unacknowledged(synth):
    # checkov comes from uv.lock's audit group, in a venv of its own: `make install`.
    assert checkov.CHECKOV.exists(), f"{checkov.CHECKOV} is missing: run `make install`"
    paths = [synth.outdir / f"{name}.template.json" for name in synth.templates]
    report = checkov.scan(paths)
    summary = report["summary"]
    failed = [
        (f["check_id"], f["resource"], f["check_name"]) for f in report["results"]["failed_checks"]
    ]
    acknowledged = {
        (check, f"{name}/{resource}"): reason
        for name, template in synth.templates.items()
        for (check, resource), reason in checkov.skips(template).items()
    }
    print(
        f"\ncheckov {summary['checkov_version']}: {summary['passed']} passed, "
        f"{summary['skipped']} acknowledged, {summary['failed']} failed "
        f"on {summary['resource_count']} resources"
    )
    for (check, resource), reason in sorted(acknowledged.items()):
        print(f"  {check} {resource}: {reason}")
    assert failed == []
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 100
    # Every acknowledgement names a check that ran on its resource: none is a typo,
    # none sits on a resource the check does not look at.
    assert summary["skipped"] == len(acknowledged)


def test_every_checkov_acknowledgement_says_why(synth):
    acknowledged = {
        check: reason
        for template in synth.templates.values()
        for (check, _), reason in checkov.skips(template).items()
    }
    assert all(len(reason.strip()) >= 40 for reason in acknowledged.values())
    # Any new kind of acknowledgement is a decision to review here; versioning and
    # KMS for log groups (CKV_AWS_21, CKV_AWS_158) were fixed, not acknowledged.
    assert set(acknowledged) == {
        "CKV_AWS_18",  # access-log bucket: the log target itself
        "CKV_AWS_27",  # dead-letter queue: SSE-SQS, which the check does not see
        "CKV_AWS_115",  # stream handlers and CDK's provider: concurrency by shards
        "CKV_AWS_116",  # no async invocations: on-failure destination instead
        "CKV_AWS_117",  # nothing in a VPC to reach
        "CKV_AWS_149",  # the Prefect key's secret: AWS-managed key
        "CKV_AWS_173",  # no secrets in the handlers' variables
    }
