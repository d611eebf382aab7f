"""The aws path as docs/aws.md tells it, against the stack's own names and resources.

The stack `dev` is synthesized (offline, region eu-west-2, not us-east-1), and
what of it the commands meet is created in moto with its names
(tests/stack_on_moto.py): buckets, workgroup, Glue databases and Bronze
tables, the sources' streams and tables, the SSM parameters, the key's secret.

- `streamlake doctor --target aws` passes on that stack, and every failure
  planted in it is named in one line;
- the blocks of docs/aws.md that run the aws commands are run as written,
  against the Athena emulator holding that stack, and reach its workgroup and
  databases through its SSM parameters, found in AWS_REGION;
- a dbt command whose writer lease is lost stops before its next statement.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
import yaml
from moto import mock_aws
from typer.testing import CliRunner

import infra  # noqa: F401  (first: it sets the environment aws_cdk's Node runtime reads)

# isort: split
from flows.cli import app
from infra.app import synthesize
from infra.config import InfraConfig
from ingestion.ssm_parameters import (
    PLACEHOLDER_API_URL,
    PREFECT_API_URL_PARAMETER,
    SOURCES_PARAMETER,
    parameter_name,
)
from tests.stack_on_moto import ACCOUNT, Deployed, deploy
from tests.test_doctor import doctor, failed_checks

ROOT = Path(__file__).resolve().parents[1]
AWS_PAGE = ROOT / "docs" / "aws.md"
REGION = "eu-west-2"
CONFIG = InfraConfig(env_name="dev", region=REGION, account=ACCOUNT)
PREFIX = CONFIG.ssm_prefix
KEY_SECRET = f"{PREFIX.lstrip('/')}/prefect-api-key"
GOOD_KEY = "pnu_the-right-key"
RUN_BLOCK = "<!-- the aws commands: tests/test_aws_commands.py runs this block -->"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synthesize([CONFIG], tmp_path_factory.mktemp("cdk.out"))[CONFIG.stack_name]


class _PrefectCloud(BaseHTTPRequestHandler):
    """Prefect Cloud's answer to a filter request: 200 with the right key, else 401."""

    key: ClassVar[str] = GOOD_KEY

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        ok = self.path.endswith("/flows/filter") and (
            self.headers.get("Authorization") == f"Bearer {self.key}"
        )
        body = b"[]" if ok else b'{"detail": "Invalid authentication credentials"}'
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def prefect_cloud() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _PrefectCloud)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api/accounts/a/workspaces/w"
    server.shutdown()


def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing of this machine's AWS, Streamlake or Prefect settings reaches the commands."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "STREAMLAKE_", "PREFECT_API")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def step_four(client: Any, url: str) -> None:
    """docs/aws.md step 4: the key into the stack's secret, the API URL into the stack."""
    client("secretsmanager").put_secret_value(SecretId=KEY_SECRET, SecretString=GOOD_KEY)
    client("ssm").put_parameter(
        Name=f"{PREFIX}/{PREFECT_API_URL_PARAMETER}", Value=url, Type="String", Overwrite=True
    )


@pytest.fixture
def stack(template, prefect_cloud, monkeypatch) -> Iterator[tuple[Deployed, Any]]:
    """The deployed stack in moto (in process), the shell pointed at it as step 5 says."""
    clean_environment(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("STREAMLAKE_SSM_PREFIX", PREFIX)
    monkeypatch.setenv("STREAMLAKE_TARGET", "aws")
    with mock_aws():

        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION)

        deployed = deploy(template, client, REGION)
        step_four(client, prefect_cloud)
        yield deployed, client


# ------------------------------------------------------------------ doctor


def test_doctor_passes_on_the_deployed_stack(stack) -> None:
    code, lines = doctor("--target", "aws")
    print("\n" + "\n".join(lines))
    assert code == 0, "\n".join(lines)
    checks = [line.split(":", 1)[0].split(maxsplit=1)[1] for line in lines]
    assert checks == [
        "aws credentials",
        "ssm parameters",
        "lake bucket",
        "workgroup",
        "glue databases",
        "bronze tables",
        "source events",
        "source customers",
        "source products",
        "source orders",
        "prefect api",
        "writer lease",
    ]
    joined = "\n".join(lines)
    assert "streamlake-dev, results to s3://" in joined
    assert "streamlake_dev_bronze, streamlake_dev_silver, streamlake_dev_gold" in joined
    assert "DynamoDB table streamlake-dev-orders streams NEW_AND_OLD_IMAGES" in joined
    assert "Kinesis stream streamlake-dev-events is ACTIVE" in joined
    assert f"in {REGION}" in joined


def _drop_table(client: Any, name: str, view: str) -> None:
    """The table deleted and made again, streaming `view` (a new stream ARN)."""
    dynamodb = client("dynamodb")
    described = dynamodb.describe_table(TableName=name)["Table"]
    dynamodb.delete_table(TableName=name)
    time.sleep(0.01)  # a stream label of its own
    dynamodb.create_table(
        TableName=name,
        KeySchema=described["KeySchema"],
        AttributeDefinitions=described["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )


def _empty_bucket_then_delete(client: Any, bucket: str) -> None:
    s3 = client("s3")
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    s3.delete_bucket(Bucket=bucket)


def _stale_lease(client: Any, deployed: Deployed) -> None:
    lake = client("ssm").get_parameter(Name=f"{PREFIX}/lake_root")["Parameter"]["Value"]
    body = {"state": "held", "lease_seconds": 1, "holder": {"purpose": "transform", "pid": 7}}
    client("s3").put_object(
        Bucket=lake.removeprefix("s3://"), Key="catalog/writer.lock", Body=json.dumps(body)
    )
    time.sleep(2.2)  # a lease of 1 s, and the whole seconds of S3's clock


def _plant(name: str, client: Any, deployed: Deployed, prefect_cloud: str) -> None:
    ssm, glue, athena = client("ssm"), client("glue"), client("athena")
    if name == "a parameter":
        ssm.delete_parameter(Name=f"{PREFIX}/source_aliases")
    elif name == "the sources parameter":
        ssm.delete_parameter(Name=parameter_name(PREFIX, SOURCES_PARAMETER))
    elif name == "the lake bucket":
        lake = ssm.get_parameter(Name=f"{PREFIX}/lake_root")["Parameter"]["Value"]
        _empty_bucket_then_delete(client, lake.removeprefix("s3://"))
    elif name == "the workgroup":
        athena.delete_work_group(WorkGroup=CONFIG.athena_workgroup)
    elif name == "the workgroup's result location":
        athena.delete_work_group(WorkGroup=CONFIG.athena_workgroup)
        athena.create_work_group(Name=CONFIG.athena_workgroup, Configuration={})
    elif name == "a database":
        glue.delete_database(Name=CONFIG.glue_database("gold"))
    elif name == "a bronze table":
        glue.delete_table(DatabaseName=CONFIG.glue_database("bronze"), Name="orders")
    elif name == "a table's stream":
        client("dynamodb").update_table(
            TableName="streamlake-dev-customers", StreamSpecification={"StreamEnabled": False}
        )
    elif name == "a table's stream view":
        _drop_table(client, "streamlake-dev-orders", "KEYS_ONLY")
    elif name == "a table's stream ARN":
        _drop_table(client, "streamlake-dev-products", "NEW_AND_OLD_IMAGES")
    elif name == "the kinesis stream":
        client("kinesis").delete_stream(StreamName="streamlake-dev-events")
    elif name == "the prefect url":
        ssm.put_parameter(
            Name=f"{PREFIX}/{PREFECT_API_URL_PARAMETER}",
            Value=PLACEHOLDER_API_URL,
            Type="String",
            Overwrite=True,
        )
    elif name == "the prefect key":
        client("secretsmanager").put_secret_value(SecretId=KEY_SECRET, SecretString="stale")
    elif name == "the prefect server":
        ssm.put_parameter(
            Name=f"{PREFIX}/{PREFECT_API_URL_PARAMETER}",
            Value="http://127.0.0.1:9/api",
            Type="String",
            Overwrite=True,
        )
    elif name == "the writer lease":
        _stale_lease(client, deployed)
    else:
        raise AssertionError(name)


# planted failure -> the failing checks, and what the first one's line must say
PLANTED = {
    "a parameter": (
        {"ssm parameters"},
        "missing source_aliases under /streamlake/dev in eu-west-2",
    ),
    "the sources parameter": ({"ssm parameters", "sources"}, "missing sources"),
    "the lake bucket": ({"lake bucket", "writer lease"}, "no bucket streamlake-storagelake"),
    "the workgroup": ({"workgroup"}, "streamlake-dev"),
    "the workgroup's result location": ({"workgroup"}, "streamlake-dev has no result location"),
    "a database": ({"glue databases"}, "missing streamlake_dev_gold"),
    "a bronze table": ({"bronze tables"}, "missing orders in streamlake_dev_bronze"),
    "a table's stream": ({"source customers"}, "streamlake-dev-customers has no stream"),
    "a table's stream view": ({"source orders"}, "streamlake-dev-orders streams KEYS_ONLY"),
    "a table's stream ARN": ({"source products"}, "the handler reads arn:aws:dynamodb:"),
    "the kinesis stream": ({"source events"}, "ResourceNotFoundException"),
    "the prefect url": ({"prefect api"}, "the runner has 0 tasks"),
    "the prefect key": ({"prefect api"}, "refused the key (HTTP 401)"),
    "the prefect server": ({"prefect api"}, "is out of reach"),
    "the writer lease": ({"writer lease"}, "not renewed for longer than its 1 s lease"),
}


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_doctor_names_each_planted_failure_in_one_line(stack, prefect_cloud, planted) -> None:
    deployed, client = stack
    _plant(planted, client, deployed, prefect_cloud)
    code, lines = doctor("--target", "aws")
    expected, says = PLANTED[planted]
    assert code == 1
    assert set(failed_checks(lines)) == expected, "\n".join(lines)
    first = next(line for line in lines if line.startswith("FAIL"))
    assert says in first and " -> " in first, first
    assert len(lines) == len({line.split(":", 1)[0] for line in lines})  # one line per check


# ------------------------------------------------------------------ the documented commands


def documented_commands() -> list[str]:
    """The command lines of the blocks docs/aws.md marks as the aws commands, in order."""
    text = AWS_PAGE.read_text()
    commands = []
    for block in re.findall(re.escape(RUN_BLOCK) + r"\s*```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command:
                commands.append(command)
    return commands


def test_the_page_marks_the_aws_commands() -> None:
    commands = documented_commands()
    assert commands[0].startswith("export AWS_REGION=<region> ")
    assert "uv run streamlake doctor --target aws" in commands
    dbt = [c.split(" -- ", 1)[1] for c in commands if c.startswith("uv run streamlake dbt -- ")]
    assert dbt == ["debug", "seed", "build", "run-operation iceberg_maintenance"]


def test_grafanas_compose_file_takes_the_stacks_names_from_streamlake_env() -> None:
    compose = yaml.safe_load((ROOT / "grafana" / "docker-compose.yml").read_text())
    environment = dict(
        entry.split("=", 1)
        for entry in compose["services"]["grafana"]["environment"]
        if "=" in entry
    )
    variables = {
        name: value for name, value in environment.items() if name.startswith("STREAMLAKE_")
    }
    printed = CliRunner().invoke(app, ["env"]).output
    exported = {line.split()[1].split("=")[0] for line in printed.splitlines()}
    # `eval "$(streamlake env)"` sets every Streamlake variable the compose file reads...
    assert set(variables) <= exported
    # ...and without it, the defaults are the dev stack's names, region from AWS_REGION.
    gold = InfraConfig().glue_database("gold")
    assert variables["STREAMLAKE_GOLD_DATABASE"] == f"${{STREAMLAKE_GOLD_DATABASE:-{gold}}}"
    assert variables["STREAMLAKE_ATHENA_WORKGROUP"].endswith(
        f":-{InfraConfig().athena_workgroup}}}"
    )
    assert "${AWS_REGION:-" in variables["STREAMLAKE_AWS_REGION"]


def shell_environment(emulator: Any, exports: str) -> dict[str, str]:
    """A shell with credentials for the emulator (as the user's for AWS), without its region,
    then the page's export line."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "STREAMLAKE_", "DBT_", "PREFECT_API"))
    }
    environment.update(emulator.environment())
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        environment.pop(name)
    environment.update(
        {
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    for assignment in shlex.split(exports)[1:]:
        name, _, value = assignment.partition("=")
        environment[name] = value.replace("<region>", REGION)
    return environment


@pytest.mark.slow
def test_the_documented_aws_commands_reach_the_stacks_names(
    template, prefect_api, tmp_path
) -> None:
    from athena_emulator.landing import land
    from athena_emulator.server import AthenaEmulator
    from flows.demo_app.delivery import DeliveryConfig, deliveries
    from flows.demo_app.workload import WorkloadConfig, generate

    commands = documented_commands()
    with AthenaEmulator(tmp_path / "statements.log", region=REGION) as emulator:
        deploy(template, emulator.client, REGION)
        step_four(emulator.client, prefect_api)
        lake = emulator.client("ssm").get_parameter(Name=f"{PREFIX}/lake_root")["Parameter"]
        plan = WorkloadConfig(seed=3, customers=8, products=5, orders=30, events=200, days=3)
        land(emulator, deliveries(generate(plan), DeliveryConfig(seed=3)), lake["Value"])
        environment = shell_environment(emulator, commands[0])
        assert "AWS_REGION" in environment and environment["AWS_REGION"] == REGION
        streamlake = str(Path(sys.executable).with_name("streamlake"))
        for command in commands[1:]:
            argv = shlex.split(command)
            assert argv[:3] == ["uv", "run", "streamlake"], command
            done = subprocess.run(
                [streamlake, *argv[3:]],
                cwd=ROOT,
                env=environment,
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, f"{command}\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
            if argv[3] == "doctor":
                assert "FAIL" not in done.stdout

        athena, glue = emulator.client("athena"), emulator.client("glue")
        sent = {statement.query_id for statement in emulator.statements}
        assert len(sent) > 50
        in_workgroup = set(
            athena.list_query_executions(WorkGroup=CONFIG.athena_workgroup)["QueryExecutionIds"]
        )
        assert sent == in_workgroup
        assert not athena.list_query_executions(WorkGroup="primary")["QueryExecutionIds"]
        tables = {
            layer: {
                t["Name"]
                for t in glue.get_tables(DatabaseName=CONFIG.glue_database(layer))["TableList"]
            }
            for layer in ("silver", "gold")
        }
        assert {"orders", "events", "customers"} <= tables["silver"]
        assert {"daily_sales_by_region", "key_metrics", "pipeline_health"} <= tables["gold"]
        names = {d["Name"] for d in glue.get_databases()["DatabaseList"]}
        assert names == {CONFIG.glue_database(layer) for layer in ("bronze", "silver", "gold")}

        # A writer that lost its lease: its dbt stops before its next statement, and says so.
        state = tmp_path / "lease.json"
        state.write_text(json.dumps({"valid_until": 0, "lost": None, "purpose": "transform"}))
        before = len(emulator.statements)
        lost = subprocess.run(
            [
                sys.executable,
                "-m",
                "flows.warehouse.dbt_command",
                "--writer-lease-file",
                str(state),
                "run",
                "--select",
                "orders",
                "--project-dir",
                str(ROOT),
                "--profiles-dir",
                str(ROOT),
            ],
            cwd=ROOT,
            env={**environment, **_dbt_settings(environment)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert lost.returncode != 0
        assert "the writer lease was not renewed in time" in lost.stdout + lost.stderr
        assert len(emulator.statements) == before


def _dbt_settings(environment: dict[str, str]) -> dict[str, str]:
    """What `streamlake dbt` hands dbt, for a dbt started without it."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("streamlake")), "env"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(
        shlex.split(line)[1].split("=", 1)
        for line in done.stdout.splitlines()
        if line.startswith("export ")
    )
