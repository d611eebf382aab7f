"""The runner: `streamlake serve` on ECS Fargate (infra/runner.py) and its image (Dockerfile).

Three stacks, synthesized once, offline: Prefect Cloud in the stack's own VPC
with NAT; a self-hosted Prefect server in an isolated VPC reached through
interface endpoints; and Prefect Cloud in a VPC named in context, with an
existing API key secret. No Docker engine runs here: the Dockerfile is checked
as text, against Prefect's and uv's own behaviour, and the build context CDK
stages is checked file by file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from shutil import which
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

import infra  # noqa: F401  (first: it sets the environment aws_cdk's Node runtime reads)

# isort: split
import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from flows.log_marks import TRANSFORM_FINISHED
from infra import checkov
from infra.app import no_credentials
from infra.config import InfraConfig
from infra.lambdas import METRICS_NAMESPACE
from infra.runner import (
    HEALTH_CHECK_COMMAND,
    HEALTH_INTERVAL_SECONDS,
    HEALTH_PORT,
    HEALTH_RETRIES,
    HEALTH_START_PERIOD_SECONDS,
    HEALTH_TIMEOUT_SECONDS,
    HEALTH_URL,
    PREFECT_API_URL_PARAMETER,
    RUNNER_ARGUMENTS,
    RUNNER_COMMAND,
    RUNNER_ENTRYPOINT,
)
from infra.stack import StreamlakeStack, add_streamlake

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
ACCOUNT, REGION = "123456789012", "eu-west-1"
CLOUD_URL = "https://api.prefect.cloud/api/accounts/a1/workspaces/w1"
SERVER_URL = "http://prefect.internal:4200/api"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:shared/prefect-key-AbC123"
WORKER_ARN = f"arn:aws:iam::{ACCOUNT}:role/prefect-worker"
SUBNETS = ("subnet-0123456789abcdef0", "subnet-0fedcba9876543210")

CLOUD = InfraConfig(
    env_name="cloud",
    account=ACCOUNT,
    region=REGION,
    prefect_api_url=CLOUD_URL,
    runner_principal_arns=(WORKER_ARN,),
)
ISOLATED = InfraConfig(
    env_name="isolated",
    account=ACCOUNT,
    region=REGION,
    prefect_api="server",
    prefect_api_url=SERVER_URL,
    prefect_server_cidr="10.20.0.0/16",
    runner_nat_gateways=0,
    log_retention_days=90,
    transform_interval_seconds=600,
)
# The low-cost network of docs/aws.md: a public IP instead of NAT and endpoints.
PUBLIC = InfraConfig(
    env_name="public",
    account=ACCOUNT,
    region=REGION,
    prefect_api_url=CLOUD_URL,
    runner_public_ip=True,
    runner_container_insights=False,
)
# Environment-agnostic, no API URL yet: the service waits with no task.
NAMED = InfraConfig(
    env_name="named",
    runner_vpc_id="vpc-0123456789abcdef0",
    runner_subnet_ids=SUBNETS,
    prefect_api_key_secret_arn=SECRET_ARN,
    runner_architecture="x86_64",
)


@dataclass
class Runners:
    app: cdk.App
    stacks: dict[str, StreamlakeStack]
    templates: dict[str, dict[str, Any]]
    outdir: Path
    warnings: dict[str, list[str]]

    def resources(self, name: str, kind: str) -> dict[str, Any]:
        resources = self.templates[name]["Resources"]
        return {k: r for k, r in resources.items() if r["Type"] == kind}

    def only(self, name: str, kind: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(name, kind)
        assert len(found) == 1, list(found)
        return next(iter(found.items()))

    def logical_id(self, name: str, construct: Any) -> str:
        stack = self.stacks[name]
        child = construct if isinstance(construct, cdk.CfnElement) else construct.node.default_child
        return stack.get_logical_id(child)

    def container(self, name: str) -> dict[str, Any]:
        _, task = self.only(name, "AWS::ECS::TaskDefinition")
        (container,) = task["Properties"]["ContainerDefinitions"]
        return container


@pytest.fixture(scope="module")
def runners(tmp_path_factory: pytest.TempPathFactory) -> Runners:
    context = json.loads((ROOT / "infra" / "cdk.json").read_text())["context"]
    context.update(
        {
            **CLOUD.model_dump(exclude_defaults=True, mode="json"),
            "aws:cdk:bundling-stacks": [],  # nothing is installed or downloaded
        }
    )
    outdir = tmp_path_factory.mktemp("cdk.out")
    with no_credentials(outdir):
        app = cdk.App(outdir=str(outdir), context=context, stack_traces=False)
        # The cloud stack from context, as the CLI gives it; cdk-nag on synth.
        stacks = {"cloud": add_streamlake(app)}
        stacks["isolated"] = StreamlakeStack(app, ISOLATED)
        stacks["named"] = StreamlakeStack(app, NAMED)
        stacks["public"] = StreamlakeStack(app, PUBLIC)
        assembly = app.synth()
    templates = {
        name: assembly.get_stack_by_name(stack.stack_name).template
        for name, stack in stacks.items()
    }
    warnings = {
        name: [
            entry["data"]
            for entries in json.loads(
                (outdir / f"{stack.stack_name}.metadata.json").read_text()
            ).values()
            for entry in entries
            if entry["type"] == "aws:cdk:warning"
        ]
        for name, stack in stacks.items()
    }
    return Runners(app, stacks, templates, outdir, warnings)


# ---------------------------------------------------------------- the Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def last_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :]


def exec_form(instruction: str) -> list[str]:
    (arguments,) = [a for keyword, a in last_stage() if keyword == instruction]
    return json.loads(arguments)


def image_environment() -> dict[str, str]:
    environment: dict[str, str] = {}
    for keyword, arguments in last_stage():
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                environment[name] = value
    return environment


def healthcheck() -> tuple[dict[str, str], list[str]]:
    (arguments,) = [a for keyword, a in last_stage() if keyword == "HEALTHCHECK"]
    options, _, command = arguments.partition(" CMD ")
    flags = dict(option.lstrip("-").split("=") for option in options.split())
    return flags, json.loads(command)


def uv() -> str:
    """The uv that `make` uses: on PATH, or bootstrapped into .tools."""
    for candidate in (os.environ.get("UV"), str(ROOT / ".tools" / "bin" / "uv"), which("uv")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("no uv: run `make install`")


def test_the_image_runs_streamlake_serve():
    assert exec_form("ENTRYPOINT") == list(RUNNER_ENTRYPOINT)
    assert exec_form("CMD") == list(RUNNER_ARGUMENTS)
    assert " ".join([*RUNNER_ENTRYPOINT, *RUNNER_ARGUMENTS]) == RUNNER_COMMAND
    assert RUNNER_COMMAND == "streamlake serve"
    # `streamlake` is the project's console script, and `serve` one of its commands.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["streamlake"] == "flows.cli:main"
    import typer

    from flows.cli import app

    assert "serve" in typer.main.get_command(app).commands


def test_the_dockerfile_installs_the_lock_without_any_group_as_a_non_root_user():
    instructions = dockerfile_instructions()
    syncs = [a for keyword, a in instructions if keyword == "RUN" and "uv sync" in a]
    assert len(syncs) == 2  # the dependencies, then the project
    for sync in syncs:
        flags = shlex.split(sync)
        assert "--frozen" in flags
        assert "--no-default-groups" in flags
        assert not {"--group", "--all-groups", "--only-group", "--dev", "--only-dev"} & set(flags)
    # Those flags leave out every dependency group, as uv itself reads them and the lock.
    flags = [flag for flag in shlex.split(syncs[-1])[2:] if flag != "--no-install-project"]
    exported = subprocess.run(
        [uv(), "export", *flags, "--no-hashes", "--no-emit-project"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {line.split("==")[0] for line in exported.splitlines() if "==" in line}
    assert {"prefect", "dbt-athena-community", "dbt-core", "boto3"} <= installed
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    assert set(groups) >= {"dev", "emulator", "audit"}
    group_only = {"pytest", "aws-cdk-lib", "cdk-nag", "cfn-lint", "trino-query-parser", "checkov"}
    assert not group_only & installed
    # The uv of the Makefile, and a base image pinned to a patch release of 3.11.
    uv_version = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert uv_version and f"uv=={uv_version.group(1)}" in DOCKERFILE.read_text()
    (base,) = [a for keyword, a in instructions if keyword == "ARG" and "PYTHON_IMAGE" in a]
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim(-\w+)?", base)
    # Runs as a user of its own, never root.
    users = [a for keyword, a in last_stage() if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(
        keyword == "RUN" and "useradd" in a and users[-1] in a for keyword, a in last_stage()
    )


def test_the_healthcheck_asks_prefects_runner_webserver_as_the_task_does(runners):
    flags, command = healthcheck()
    assert command == list(HEALTH_CHECK_COMMAND)
    assert HEALTH_URL in command[-1] and "curl" not in command
    assert flags == {
        "interval": f"{HEALTH_INTERVAL_SECONDS}s",
        "timeout": f"{HEALTH_TIMEOUT_SECONDS}s",
        "start-period": f"{HEALTH_START_PERIOD_SECONDS}s",
        "retries": str(HEALTH_RETRIES),
    }
    environment = image_environment()
    assert environment["PREFECT_RUNNER_SERVER_ENABLE"] == "true"
    assert f"http://{environment['PREFECT_RUNNER_SERVER_HOST']}:" in HEALTH_URL
    assert environment["PREFECT_RUNNER_SERVER_PORT"] == str(HEALTH_PORT)
    # ECS ignores an image's HEALTHCHECK: the task definition carries the same check.
    assert runners.container("cloud")["HealthCheck"] == {
        "Command": ["CMD", *HEALTH_CHECK_COMMAND],
        "Interval": HEALTH_INTERVAL_SECONDS,
        "Timeout": HEALTH_TIMEOUT_SECONDS,
        "Retries": HEALTH_RETRIES,
        "StartPeriod": HEALTH_START_PERIOD_SECONDS,
    }


def test_prefect_serves_that_health_route_while_its_runner_polls(monkeypatch):
    """What the HEALTHCHECK relies on, in Prefect 3.8.8's own code: serve() starts the
    runner, whose start() runs the webserver when PREFECT_RUNNER_SERVER_ENABLE is on,
    and /health answers 503 once the runner has missed its polls."""
    import inspect

    from fastapi.testclient import TestClient
    from prefect import flows
    from prefect.runner import Runner
    from prefect.runner.server import build_server
    from prefect.settings import Settings
    from prefect.utilities.asyncutils import run_coro_as_sync

    assert "runner.start()" in inspect.getsource(flows.serve)
    assert "PREFECT_RUNNER_SERVER_ENABLE.value()" in inspect.getsource(Runner.start)
    for name, value in image_environment().items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.runner.server.enable is True
    assert (settings.runner.server.host, settings.runner.server.port) == ("127.0.0.1", HEALTH_PORT)
    tolerance = settings.runner.server.missed_polls_tolerance * settings.runner.poll_frequency
    assert 30 <= tolerance <= 120  # long enough for a blip of the API, short enough to act

    polled = SimpleNamespace(last_polled=datetime.now(UTC))
    client = TestClient(run_coro_as_sync(build_server(polled)))
    assert client.get("/health").status_code == 200
    polled.last_polled = datetime.now(UTC) - timedelta(seconds=tolerance + 60)
    assert client.get("/health").status_code == 503


def test_the_build_context_holds_only_what_the_image_needs(runners):
    assets = json.loads((runners.outdir / "Streamlake-cloud.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerFile"] == "Dockerfile"
    assert image["source"]["platform"] == "linux/arm64"
    staged = runners.outdir / image["source"]["directory"]
    # CDK staged it through .dockerignore, as Docker will read it.
    assert {path.name for path in staged.iterdir()} == {
        ".dockerignore",
        "Dockerfile",
        "README.md",  # the project's metadata names it
        "athena_emulator",  # the command line mounts its commands
        "dbt_project",
        "dbt_project.yml",
        "flows",
        "grafana",
        "ingestion",
        "profiles.yml",
        "pyproject.toml",
        "uv.lock",
    }
    leftovers = [p for p in staged.rglob("*") if p.name in ("__pycache__", ".env", "lake")]
    assert leftovers == []
    # Every folder the Dockerfile copies is there.
    copied = [
        a.split()[0] for k, a in dockerfile_instructions() if k == "COPY" and "--from" not in a
    ]
    for source in copied:
        assert (staged / source).exists(), source


# ---------------------------------------------------------------- the task and service


def test_the_task_runs_serve_on_fargate_as_the_runner_role(runners):
    _, task = runners.only("cloud", "AWS::ECS::TaskDefinition")
    properties = task["Properties"]
    assert properties["RequiresCompatibilities"] == ["FARGATE"]
    assert (properties["Cpu"], properties["Memory"]) == ("1024", "4096")
    assert properties["NetworkMode"] == "awsvpc"
    assert properties["RuntimePlatform"] == {
        "CpuArchitecture": "ARM64",  # as the handlers
        "OperatingSystemFamily": "LINUX",
    }
    stack = runners.stacks["cloud"]
    runner_role = runners.logical_id("cloud", stack.access.runner)
    assert properties["TaskRoleArn"] == {"Fn::GetAtt": [runner_role, "Arn"]}
    execution_role = runners.logical_id("cloud", stack.runner.execution_role)
    assert properties["ExecutionRoleArn"] == {"Fn::GetAtt": [execution_role, "Arn"]}
    assert execution_role != runner_role

    container = runners.container("cloud")
    # `streamlake` from the image's ENTRYPOINT, `serve` as the command.
    assert container["Command"] == ["serve"]
    assert "EntryPoint" not in container
    assert container["LinuxParameters"]["InitProcessEnabled"] is True
    assert container["StopTimeout"] == 120
    environment = {v["Name"]: v["Value"] for v in container["Environment"]}
    assert environment == {
        "STREAMLAKE_TARGET": "aws",
        "STREAMLAKE_SSM_PREFIX": "/streamlake/cloud",
        "STREAMLAKE_AWS_REGION": REGION,
        "STREAMLAKE_TRANSFORM_INTERVAL_SECONDS": "300",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    # The named stack runs on x86_64, and its image is built for it.
    _, named = runners.only("named", "AWS::ECS::TaskDefinition")
    assert named["Properties"]["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
    assets = json.loads((runners.outdir / "Streamlake-named.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["platform"] == "linux/amd64"


def test_ecs_tasks_may_assume_the_runner_role_beside_its_principals(runners):
    _, role = next(
        (k, r)
        for k, r in runners.resources("cloud", "AWS::IAM::Role").items()
        if k == runners.logical_id("cloud", runners.stacks["cloud"].access.runner)
    )
    statements = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    principals = [s["Principal"] for s in statements]
    assert {"AWS": WORKER_ARN} in principals  # the trust it had
    (ecs,) = [s for s in statements if s["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}]
    assert ecs["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"},
    }


def test_the_service_runs_one_task_in_private_subnets_without_a_public_ip(runners):
    _, service = runners.only("cloud", "AWS::ECS::Service")
    properties = service["Properties"]
    assert properties["LaunchType"] == "FARGATE"
    assert properties["DesiredCount"] == 1
    network = properties["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    subnets = runners.resources("cloud", "AWS::EC2::Subnet")
    chosen = [subnet["Ref"] for subnet in network["Subnets"]]
    assert len(chosen) == 2
    for subnet in chosen:
        assert "Private" in subnet
        assert subnets[subnet]["Properties"]["MapPublicIpOnLaunch"] is False
    # Stop the old task, then start the new: `serve` pauses its schedules on shutdown.
    deployment = properties["DeploymentConfiguration"]
    assert (deployment["MinimumHealthyPercent"], deployment["MaximumPercent"]) == (0, 100)
    assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    _, cluster = runners.only("cloud", "AWS::ECS::Cluster")
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["Properties"][
        "ClusterSettings"
    ]


def test_the_security_group_has_no_inbound_rule_and_https_out(runners):
    def runner_group(name: str) -> dict[str, Any]:
        group = runners.stacks[name].runner.security_group
        return runners.resources(name, "AWS::EC2::SecurityGroup")[runners.logical_id(name, group)][
            "Properties"
        ]

    cloud = runner_group("cloud")
    assert "SecurityGroupIngress" not in cloud
    assert not runners.resources("cloud", "AWS::EC2::SecurityGroupIngress")
    assert [
        (r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIp"])
        for r in cloud["SecurityGroupEgress"]
    ] == [("tcp", 443, 443, "0.0.0.0/0")]
    # A self-hosted server: its port too, to its network only.
    isolated = runner_group("isolated")
    assert sorted((r["FromPort"], r["CidrIp"]) for r in isolated["SecurityGroupEgress"]) == [
        (443, "0.0.0.0/0"),
        (4200, "10.20.0.0/16"),
    ]


def test_the_default_vpc_reaches_prefect_cloud_through_nat(runners):
    assert len(runners.resources("cloud", "AWS::EC2::NatGateway")) == 1
    endpoints = runners.resources("cloud", "AWS::EC2::VPCEndpoint").values()
    # The S3 gateway (free) only; interface endpoints are a knob beside NAT.
    assert [e["Properties"]["VpcEndpointType"] for e in endpoints] == ["Gateway"]
    routes = runners.resources("cloud", "AWS::EC2::Route").values()
    assert any("NatGatewayId" in r["Properties"] for r in routes)
    _, flow_log = runners.only("cloud", "AWS::EC2::FlowLog")
    assert flow_log["Properties"]["LogDestinationType"] == "s3"


def test_an_isolated_vpc_reaches_aws_through_interface_endpoints(runners):
    assert not runners.resources("isolated", "AWS::EC2::NatGateway")
    assert not runners.resources("isolated", "AWS::EC2::InternetGateway")
    endpoints = runners.resources("isolated", "AWS::EC2::VPCEndpoint").values()

    def service(name: Any) -> str:
        # The gateway's name is joined with AWS::Region; the others are literal.
        if isinstance(name, dict):
            name = "".join(p if isinstance(p, str) else REGION for p in name["Fn::Join"][1])
        return name.removeprefix(f"com.amazonaws.{REGION}.")

    services = {service(e["Properties"]["ServiceName"]): e["Properties"] for e in endpoints}
    # No Secrets Manager: a self-hosted server has no key. No KMS: no client calls it.
    assert set(services) == {"s3", "ecr.api", "ecr.dkr", "logs", "ssm", "athena", "glue", "sts"}
    group = runners.logical_id("isolated", runners.stacks["isolated"].runner.security_group)
    for name, endpoint in services.items():
        if name == "s3":
            assert endpoint["VpcEndpointType"] == "Gateway"
            continue
        assert endpoint["PrivateDnsEnabled"] is True
        (endpoint_group,) = endpoint["SecurityGroupIds"]
        (rule,) = [
            r["Properties"]
            for r in runners.resources("isolated", "AWS::EC2::SecurityGroupIngress").values()
            if r["Properties"]["GroupId"] == endpoint_group
        ]
        # HTTPS from the runner's tasks alone.
        assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
        assert (rule["FromPort"], rule["ToPort"]) == (443, 443)


def test_a_vpc_named_in_context_is_used_instead_of_a_new_one(runners):
    assert not runners.resources("named", "AWS::EC2::VPC")
    assert not runners.resources("named", "AWS::EC2::Subnet")
    assert not runners.resources("named", "AWS::EC2::NatGateway")
    _, service = runners.only("named", "AWS::ECS::Service")
    network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["Subnets"] == list(SUBNETS)
    assert network["AssignPublicIp"] == "DISABLED"
    group = runners.resources("named", "AWS::EC2::SecurityGroup")
    assert [g["Properties"]["VpcId"] for g in group.values()] == [NAMED.runner_vpc_id]


def test_the_low_cost_network_has_a_public_ip_and_no_nat_or_endpoints(runners):
    _, service = runners.only("public", "AWS::ECS::Service")
    network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "ENABLED"
    subnets = runners.resources("public", "AWS::EC2::Subnet")
    assert len(subnets) == 2 and all("Public" in name for name in subnets)
    assert sorted(subnet["Ref"] for subnet in network["Subnets"]) == sorted(subnets)
    assert not runners.resources("public", "AWS::EC2::NatGateway")
    assert len(runners.resources("public", "AWS::EC2::InternetGateway")) == 1
    endpoints = runners.resources("public", "AWS::EC2::VPCEndpoint").values()
    assert [e["Properties"]["VpcEndpointType"] for e in endpoints] == ["Gateway"]  # S3, free
    # Inbound stays closed: the same security group as behind NAT.
    group = runners.stacks["public"].runner.security_group
    properties = runners.resources("public", "AWS::EC2::SecurityGroup")[
        runners.logical_id("public", group)
    ]["Properties"]
    assert "SecurityGroupIngress" not in properties
    assert not runners.resources("public", "AWS::EC2::SecurityGroupIngress")
    _, cluster = runners.only("public", "AWS::ECS::Cluster")
    assert {"Name": "containerInsights", "Value": "disabled"} in cluster["Properties"][
        "ClusterSettings"
    ]
    # Acknowledged where chosen, with its reason, for cdk-nag and checkov alike.
    assert set(checkov.skips(runners.templates["public"]).keys()) >= {
        ("CKV_AWS_65", runners.logical_id("public", runners.stacks["public"].runner.cluster))
    }


def test_synthesis_warns_when_the_runner_gets_no_task(runners):
    (warning,) = runners.warnings["named"]
    assert "the runner gets 0 tasks" in warning and "prefect_api_url" in warning
    assert runners.warnings["cloud"] == runners.warnings["public"] == []


def test_the_runners_log_is_kept_as_configured_and_encrypted(runners):
    for name, days in (("cloud", 30), ("isolated", 90)):
        stack = runners.stacks[name]
        log_group = runners.logical_id(name, stack.runner.log_group)
        properties = runners.resources(name, "AWS::Logs::LogGroup")[log_group]["Properties"]
        assert properties["RetentionInDays"] == days
        assert properties["KmsKeyId"] == {
            "Fn::GetAtt": [runners.logical_id(name, stack.storage.logs_key), "Arn"]
        }
        options = runners.container(name)["LogConfiguration"]
        assert options["LogDriver"] == "awslogs"
        assert options["Options"]["awslogs-group"] == {"Ref": log_group}


# ---------------------------------------------------------------- the Prefect API


def execution_statements(runners: Runners, name: str) -> list[dict[str, Any]]:
    role = runners.logical_id(name, runners.stacks[name].runner.execution_role)
    return [
        statement
        for policy in runners.resources(name, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_prefect_cloud_url_and_key_come_from_ssm_and_secrets_manager(runners):
    secrets = {s["Name"]: s["ValueFrom"] for s in runners.container("cloud")["Secrets"]}
    assert set(secrets) == {"PREFECT_API_URL", "PREFECT_API_KEY"}
    parameters = runners.resources("cloud", "AWS::SSM::Parameter")
    parameter_id = runners.logical_id("cloud", runners.stacks["cloud"].runner.api_url)
    parameter = parameters[parameter_id]["Properties"]
    assert parameter["Name"] == f"/streamlake/cloud/{PREFECT_API_URL_PARAMETER}"
    assert parameter["Value"] == CLOUD_URL
    assert {"Ref": parameter_id} in secrets["PREFECT_API_URL"]["Fn::Join"][1]
    secret_id, secret = runners.only("cloud", "AWS::SecretsManager::Secret")
    assert secrets["PREFECT_API_KEY"] == {"Ref": secret_id}
    # The stack makes a placeholder for the operator to replace; it holds no key.
    assert "SecretString" not in secret["Properties"]
    assert "GenerateSecretString" in secret["Properties"]
    assert secret["Properties"]["Name"] == "streamlake/cloud/prefect-api-key"
    for template in runners.templates.values():
        for resource in template["Resources"].values():
            for container in resource["Properties"].get("ContainerDefinitions", []):
                names = {v["Name"] for v in container.get("Environment", [])}
                assert not names & {"PREFECT_API_KEY", "PREFECT_API_URL"}
    # The ECS agent reads exactly that parameter and that secret; the task's role neither.
    statements = execution_statements(runners, "cloud")
    reads = {
        json.dumps(s["Resource"]): set(s["Action"])
        if isinstance(s["Action"], list)
        else {s["Action"]}
        for s in statements
        if any(a.startswith(("ssm:", "secretsmanager:")) for a in as_list(s["Action"]))
    }
    assert reads == {
        json.dumps(secrets["PREFECT_API_URL"]): {
            "ssm:DescribeParameters",
            "ssm:GetParameter",
            "ssm:GetParameterHistory",
            "ssm:GetParameters",
        },
        json.dumps({"Ref": secret_id}): {
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
        },
    }
    runner_role = runners.logical_id("cloud", runners.stacks["cloud"].access.runner)
    task_policies = [
        p
        for p in runners.resources("cloud", "AWS::IAM::Policy").values()
        if {"Ref": runner_role} in p["Properties"]["Roles"]
    ]
    assert "secretsmanager:" not in json.dumps(task_policies)
    assert PREFECT_API_URL_PARAMETER not in json.dumps(task_policies)


def as_list(actions: str | list[str]) -> list[str]:
    return [actions] if isinstance(actions, str) else actions


def test_a_self_hosted_server_needs_its_url_and_no_key(runners):
    secrets = {s["Name"]: s["ValueFrom"] for s in runners.container("isolated")["Secrets"]}
    assert set(secrets) == {"PREFECT_API_URL"}
    assert not runners.resources("isolated", "AWS::SecretsManager::Secret")
    values = [
        p["Properties"]["Value"]
        for p in runners.resources("isolated", "AWS::SSM::Parameter").values()
    ]
    assert SERVER_URL in values
    assert "secretsmanager" not in json.dumps(execution_statements(runners, "isolated"))


def test_an_existing_secret_is_read_by_its_arn_and_nothing_else(runners):
    assert not runners.resources("named", "AWS::SecretsManager::Secret")
    secrets = {s["Name"]: s["ValueFrom"] for s in runners.container("named")["Secrets"]}
    assert secrets["PREFECT_API_KEY"] == SECRET_ARN
    resources = [
        s["Resource"]
        for s in execution_statements(runners, "named")
        if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))
    ]
    assert resources == [SECRET_ARN]


# ---------------------------------------------------------------- the alarm


def test_an_alarm_fires_when_no_transform_finished_for_three_intervals(runners):
    for name, interval in (("cloud", 300), ("isolated", 600)):
        stack = runners.stacks[name]
        _, metric_filter = runners.only(name, "AWS::Logs::MetricFilter")
        properties = metric_filter["Properties"]
        assert TRANSFORM_FINISHED in properties["FilterPattern"]
        assert properties["LogGroupName"] == {
            "Ref": runners.logical_id(name, stack.runner.log_group)
        }
        (transformation,) = properties["MetricTransformations"]
        assert (transformation["MetricNamespace"], transformation["MetricValue"]) == (
            METRICS_NAMESPACE,
            "1",
        )
        alarm = runners.resources(name, "AWS::CloudWatch::Alarm")[
            runners.logical_id(name, stack.runner.transform_alarm)
        ]["Properties"]
        assert (alarm["MetricName"], alarm["Namespace"]) == (
            transformation["MetricName"],
            METRICS_NAMESPACE,
        )
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "Sum",
            "LessThanThreshold",
            1,
        )
        assert alarm["TreatMissingData"] == "breaching"
        # Every one of three intervals without a finished run.
        assert alarm["Period"] * alarm["EvaluationPeriods"] == 3 * interval
        assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"] == 3
        # ... the interval the runner is given.
        environment = {v["Name"]: v["Value"] for v in runners.container(name)["Environment"]}
        assert environment["STREAMLAKE_TRANSFORM_INTERVAL_SECONDS"] == str(interval)
        topic = {"Ref": runners.logical_id(name, stack.operations.topic)}
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]
        assert alarm["ActionsEnabled"] is True


def test_without_an_api_url_the_service_waits_with_no_task_and_a_quiet_alarm(runners):
    _, service = runners.only("named", "AWS::ECS::Service")
    assert service["Properties"]["DesiredCount"] == 0
    stack = runners.stacks["named"]
    alarm = runners.resources("named", "AWS::CloudWatch::Alarm")[
        runners.logical_id("named", stack.runner.transform_alarm)
    ]
    assert alarm["Properties"]["ActionsEnabled"] is False
    assert InfraConfig(prefect_api_url=CLOUD_URL, runner_desired_count=0).runner_tasks == 0


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"runner_nat_gateways": 0}, "Prefect Cloud is on the internet"),
        ({"runner_vpc_id": "vpc-0123456789abcdef0"}, "together"),
        ({"runner_subnet_ids": SUBNETS}, "together"),
        ({"runner_vpc_id": "vpc-xyz", "runner_subnet_ids": SUBNETS}, "not a VPC id"),
        ({"prefect_api": "server", "prefect_api_key_secret_arn": SECRET_ARN}, "Cloud"),
        ({"prefect_api_key_secret_arn": "prefect-key"}, "complete ARN"),
        ({"prefect_api_url": "http://api.prefect.cloud/api"}, "https"),
        ({"runner_cpu": 1000}, "runner_cpu"),
        ({"runner_cpu": 256, "runner_memory_mb": 4096}, "runner_memory_mb"),
        ({"transform_interval_seconds": 90}, "whole minutes"),
        ({"transform_interval_seconds": 36_000}, "a day at most"),
        ({"runner_desired_count": 2}, "runner_desired_count"),
        ({"runner_desired_count": 1}, "needs prefect_api_url"),
        ({"prefect_server_cidr": "10.20.0.0/33"}, "prefect_server_cidr"),
        ({"runner_public_ip": True, "runner_interface_endpoints": True}, "runner_public_ip"),
        (
            {"runner_public_ip": True, "runner_vpc_id": "vpc-0123456789abcdef0"},
            "runner_public_ip",
        ),
    ],
)
def test_a_runner_that_could_not_deploy_is_refused_before_synthesis(values, message):
    with pytest.raises(ValidationError, match=message):
        InfraConfig(**values)


def test_a_self_hosted_server_may_be_reached_from_an_isolated_vpc():
    config = InfraConfig(prefect_api="server", prefect_api_url=SERVER_URL, runner_nat_gateways=0)
    assert config.runner_isolated and config.runner_tasks == 1


# ---------------------------------------------------------------- checks


def test_cdk_nag_cfn_lint_and_checkov_pass_every_runner_variant(runners):
    from cfnlint.api import lint

    report = AwsSolutionsChecks().validate_scope(runners.app)
    assert [
        (v.rule_name, [r.construct_path for r in v.violating_resources]) for v in report.violations
    ] == []
    # The cloud variant differs from test_infra_stack.py's stack only in values; the
    # others have resources of their own (endpoints, a named VPC, a given secret, a
    # public IP).
    variants = ("isolated", "named", "public")
    for name in variants:
        matches = lint(json.dumps(runners.templates[name]), regions=[REGION])
        assert {m.rule.id for m in matches} <= {"W3005"}, (name, [str(m) for m in matches])
    assert checkov.CHECKOV.exists(), f"{checkov.CHECKOV} is missing: run `make install`"
    stack_names = [runners.stacks[name].stack_name for name in variants]
    scanned = checkov.scan([runners.outdir / f"{name}.template.json" for name in stack_names])
    assert scanned["results"]["failed_checks"] == []
    assert scanned["summary"]["parsing_errors"] == 0


# ---------------------------------------------------------------- what the runner needs of flows/


def test_streamlake_serve_uses_the_prefect_api_the_task_is_given(monkeypatch, tmp_path):
    """The task gives PREFECT_API_URL; `streamlake serve` must start no local server."""
    from flows import cli
    from ingestion.settings import Settings

    started = []
    monkeypatch.setattr(cli, "ensure_server", lambda settings: started.append(settings) or True)
    # Whatever prefect_api writes into the environment is undone after the test.
    monkeypatch.setenv("PREFECT_API_URL", CLOUD_URL)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    settings = Settings(lake_root=str(tmp_path), prefect_home=str(tmp_path / ".prefect"))
    with cli.prefect_api(settings):
        assert os.environ["PREFECT_API_URL"] == CLOUD_URL
    assert started == []
