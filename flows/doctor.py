"""`streamlake doctor`: what stands between a user and a working run, one line per check.

Each check says what it found and, when it fails, what to do. Locally: the
Python version and packages the project declares, the DuckDB extensions, the
lake folder, a dbt parse, the Prefect server, the lake's writer lock. On the
aws target, against the account: the parameters the stack published, the lake
bucket, the workgroup and its result location, the Glue databases and Bronze
tables, every source the stack wired (its `<ssm prefix>/sources` parameter: each
DynamoDB table's stream on with NEW_AND_OLD_IMAGES and still the stream the
handler reads, each Kinesis stream active), the Prefect API with the runner's
key, and the writer lease's holder and age. No source is named here.

A check never raises: an error (permissions, a missing resource, no network)
is its failure line.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from flows.prefect_server import api_url, external_api_url, is_healthy
from flows.warehouse.lakehouse import dbt_process
from flows.warehouse.writer_lock import (
    LOCK_NAME,
    WriterBusy,
    catalog_writer,
    lease_client,
    read_lease,
)
from ingestion.bronze_catalog import QUARANTINE_TABLE
from ingestion.settings import Settings
from ingestion.ssm_parameters import (
    PLACEHOLDER_API_URL,
    PREFECT_API_URL_PARAMETER,
    PUBLISHED_SETTINGS,
    SOURCES_PARAMETER,
    parameter_name,
    prefect_key_secret_name,
)
from ingestion.store import LakeRootError, LakeStore

PROJECT = "streamlake"
INSTALL = "run `make install` (uv sync --frozen installs every pin of uv.lock)"
REDEPLOY = "deploy the stack again (docs/aws.md, step 3)"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    found: str
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"ok    {self.name}: {self.found}"
        return f"FAIL  {self.name}: {self.found} -> {self.fix}"


def passed(name: str, found: str) -> Check:
    return Check(name, True, found)


def failed(name: str, found: str, fix: str) -> Check:
    return Check(name, False, found, fix)


def _guarded(name: str, fix: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    """The check's lines, or one failure line for whatever it raised."""
    try:
        found = check()
    except Exception as error:  # each check's own failure, whatever it is
        return [failed(name, _error_text(error), fix)]
    return found if isinstance(found, list) else [found]


def _error_text(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        return f"{response['Error'].get('Code')}: {response['Error'].get('Message')}"
    if isinstance(error, LakeRootError):  # ours: its message says it all
        return str(error)
    return f"{type(error).__name__}: {error}"


# ------------------------------------------------------------------ local


def _requires_python() -> str:
    return importlib.metadata.metadata(PROJECT)["Requires-Python"]


def _requirements() -> list[str]:
    return importlib.metadata.requires(PROJECT) or []


def python_version() -> Check:
    running = ".".join(map(str, sys.version_info[:3]))
    wanted = _requires_python()
    if SpecifierSet(wanted).contains(running):
        return passed("python", f"{running} ({wanted})")
    return failed(
        "python", f"{running}, the project needs {wanted}", f"install Python 3.11, then {INSTALL}"
    )


def packages() -> Check:
    wrong = []
    for text in _requirements():
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{requirement.name} missing")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            wrong.append(f"{requirement.name} {version} (wants {requirement.specifier})")
    if wrong:
        return failed("packages", ", ".join(wrong), INSTALL)
    return passed("packages", f"the {len(_requirements())} the project declares, at its pins")


def extensions(settings: Settings) -> Check:
    from flows.warehouse.duckdb_connect import PINNED_EXTENSIONS, connect  # noqa: PLC0415

    connect(extension_dir=settings.duckdb_extension_dir).close()
    return passed(
        "duckdb extensions",
        f"{', '.join(PINNED_EXTENSIONS)} loaded from {settings.duckdb_extension_dir}",
    )


def lake_folder(settings: Settings) -> Check:
    store = LakeStore.from_settings(settings)
    store.check_writable()
    return passed("lake folder", f"{store.local_path()} is writable")


def dbt_parse(settings: Settings) -> Check:
    done = dbt_process(settings, ["parse", "--quiet"], capture=True)
    if done.returncode == 0:
        return passed("dbt parse", "the project parses with its profile")
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return failed(
        "dbt parse",
        lines[-1].strip() if lines else f"exit code {done.returncode}",
        "run `uv run streamlake dbt -- parse` for dbt's whole message",
    )


def prefect_local(settings: Settings) -> Check:
    external = external_api_url(settings)
    if external is not None:
        if is_healthy(external):
            return passed("prefect", f"the API at {external} answers")
        return failed(
            "prefect",
            f"PREFECT_API_URL={external} does not answer",
            "start that server, or unset PREFECT_API_URL to use a local one",
        )
    local = api_url(settings)
    if is_healthy(local):
        return passed("prefect", f"the local server answers at {local}")
    if not Path(sys.executable).with_name("prefect").exists():
        return failed("prefect", "no `prefect` beside this Python", INSTALL)
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", settings.prefect_port))
        except OSError:
            return failed(
                "prefect",
                f"port {settings.prefect_port} is taken by something that is no Prefect server",
                "stop it, or set STREAMLAKE_PREFECT_PORT to a free port",
            )
    return passed("prefect", f"not running; `streamlake run` or `serve` starts it on {local}")


def lake_lock(settings: Settings) -> Check:
    lock = Path(settings.lake_root) / LOCK_NAME
    if not lock.parent.parent.is_dir():
        return passed("writer lock", "no lake yet")
    try:
        with catalog_writer(settings, "doctor", wait_seconds=0):
            pass
    except WriterBusy as busy:
        return failed(
            "writer lock",
            busy.holder,
            "a run holds the lake: wait for it, or stop that process (its pid is above)",
        )
    return passed("writer lock", f"free ({lock})")


def local_checks(settings: Settings) -> Iterator[Check]:
    yield from _guarded("python", INSTALL, python_version)
    yield from _guarded("packages", INSTALL, packages)
    yield from _guarded("duckdb extensions", INSTALL, lambda: extensions(settings))
    yield from _guarded(
        "lake folder",
        "set STREAMLAKE_LAKE_ROOT to a folder you can write",
        lambda: lake_folder(settings),
    )
    yield from _guarded("dbt parse", INSTALL, lambda: dbt_parse(settings))
    yield from _guarded("prefect", INSTALL, lambda: prefect_local(settings))
    yield from _guarded("writer lock", "see the message", lambda: lake_lock(settings))


# ------------------------------------------------------------------ aws


class Account:
    """boto3 clients in the settings' region, made once each."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        import boto3  # noqa: PLC0415 (the local checks need no boto3)

        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.settings.aws_region)
        return self._clients[service]

    def parameters(self) -> dict[str, str]:
        """Every parameter under the prefix, by its name below it."""
        prefix = (self.settings.ssm_prefix or "").rstrip("/")
        found: dict[str, str] = {}
        for page in (
            self.client("ssm")
            .get_paginator("get_parameters_by_path")
            .paginate(Path=prefix, Recursive=True)
        ):
            for parameter in page["Parameters"]:
                found[parameter["Name"][len(prefix) + 1 :]] = parameter["Value"]
        return found


def _bucket(uri: str) -> str:
    return urlparse(uri).netloc


def identity(account: Account) -> Check:
    caller = account.client("sts").get_caller_identity()
    return passed(
        "aws credentials",
        f"{caller['Arn']} in {account.settings.aws_region}",
    )


def published(account: Account, parameters: dict[str, str]) -> Check:
    settings = account.settings
    if not settings.ssm_prefix:
        return failed(
            "ssm parameters",
            "STREAMLAKE_SSM_PREFIX is not set",
            "export STREAMLAKE_SSM_PREFIX=/streamlake/<env_name> (stack output SettingsPrefix)",
        )
    wanted = [*PUBLISHED_SETTINGS, SOURCES_PARAMETER, PREFECT_API_URL_PARAMETER]
    missing = [name for name in wanted if name not in parameters]
    where = f"under {settings.ssm_prefix} in {settings.aws_region}"
    if missing:
        return failed(
            "ssm parameters",
            f"missing {', '.join(missing)} {where}",
            f"check the prefix and AWS_REGION, or {REDEPLOY}",
        )
    return passed("ssm parameters", f"{len(wanted)} {where}")


def _missing_bucket(account: Account, uri: str) -> str | None:
    """Why the bucket of `uri` cannot be used, or None when it can."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    bucket = _bucket(uri)
    try:
        account.client("s3").head_bucket(Bucket=bucket)
    except ClientError as error:
        code = error.response["Error"].get("Code")
        if code in ("404", "NoSuchBucket"):
            return f"no bucket {bucket} in this account"
        return f"bucket {bucket}: {_error_text(error)}"
    return None


def lake_bucket(account: Account) -> Check:
    lake = account.settings.lake_root
    missing = _missing_bucket(account, lake)
    if missing:
        return failed("lake bucket", missing, f"check STREAMLAKE_SSM_PREFIX, or {REDEPLOY}")
    return passed("lake bucket", lake)


def workgroup(account: Account) -> Check:
    name = account.settings.athena_workgroup
    group = account.client("athena").get_work_group(WorkGroup=name).get("WorkGroup")
    if not group:
        region = account.settings.aws_region
        return failed("workgroup", f"no workgroup {name} in {region}", REDEPLOY)
    if group.get("State", "ENABLED") != "ENABLED":
        return failed("workgroup", f"{name} is {group['State']}", "enable it in the Athena console")
    results = group.get("Configuration", {}).get("ResultConfiguration", {}).get("OutputLocation")
    if not results:
        return failed("workgroup", f"{name} has no result location", REDEPLOY)
    missing = _missing_bucket(account, results)
    if missing:
        return failed("workgroup", f"{name} puts results where there is {missing}", REDEPLOY)
    return passed("workgroup", f"{name}, results to {results}")


def databases(account: Account) -> Check:
    settings = account.settings
    names = [settings.bronze_database, settings.silver_database, settings.gold_database]
    missing = []
    for name in names:
        try:
            account.client("glue").get_database(Name=name)
        except account.client("glue").exceptions.EntityNotFoundException:
            missing.append(name)
    if missing:
        return failed("glue databases", f"missing {', '.join(missing)}", REDEPLOY)
    return passed("glue databases", ", ".join(names))


def wired_sources(parameters: dict[str, str]) -> dict[str, dict[str, str]]:
    return json.loads(parameters[SOURCES_PARAMETER])


def bronze_tables(account: Account, sources: dict[str, dict[str, str]]) -> Check:
    database = account.settings.bronze_database
    glue = account.client("glue")
    missing = []
    for table in [*sources, QUARANTINE_TABLE]:
        try:
            glue.get_table(DatabaseName=database, Name=table)
        except glue.exceptions.EntityNotFoundException:
            missing.append(table)
    if missing:
        return failed(
            "bronze tables",
            f"missing {', '.join(missing)} in {database}",
            f"{REDEPLOY}, or `streamlake dbt -- run-operation create_bronze_tables`",
        )
    return passed("bronze tables", f"{len(sources) + 1} in {database}")


def source(account: Account, name: str, wired: dict[str, str]) -> Check:
    label = f"source {name}"
    if wired.get("kind") == "dynamodb":
        table = wired["table_name"]
        described = account.client("dynamodb").describe_table(TableName=table)["Table"]
        stream = described.get("StreamSpecification") or {}
        if not stream.get("StreamEnabled"):
            return failed(
                label,
                f"DynamoDB table {table} has no stream",
                f"enable its stream with NEW_AND_OLD_IMAGES, then {REDEPLOY} with its ARN",
            )
        view = stream.get("StreamViewType")
        if view != "NEW_AND_OLD_IMAGES":
            return failed(
                label,
                f"DynamoDB table {table} streams {view}",
                "the handler needs NEW_AND_OLD_IMAGES: disable the stream, enable it with "
                f"that view, then {REDEPLOY} with the new stream ARN",
            )
        latest = described.get("LatestStreamArn")
        if latest != wired["stream_arn"]:
            return failed(
                label,
                f"DynamoDB table {table} streams to {latest}, the handler reads "
                f"{wired['stream_arn']}",
                f"the stream was enabled again: {REDEPLOY} with the new stream ARN",
            )
        return passed(label, f"DynamoDB table {table} streams NEW_AND_OLD_IMAGES")
    if wired.get("kind") == "kinesis":
        stream_name = wired["stream_name"]
        summary = account.client("kinesis").describe_stream_summary(StreamName=stream_name)
        status = summary["StreamDescriptionSummary"]["StreamStatus"]
        if status not in ("ACTIVE", "UPDATING"):
            return failed(label, f"Kinesis stream {stream_name} is {status}", REDEPLOY)
        return passed(label, f"Kinesis stream {stream_name} is {status}")
    return failed(label, f"unknown kind {wired.get('kind')!r}", REDEPLOY)


def prefect_key(account: Account) -> str | None:
    """The runner's Prefect API key: PREFECT_API_KEY when set, else the stack's secret."""
    # Prefect's own variable, as flows.prefect_server reads PREFECT_API_URL.
    key = os.environ.get("PREFECT_API_KEY")
    if key:
        return key
    secrets = account.client("secretsmanager")
    name = prefect_key_secret_name(account.settings.ssm_prefix or "")
    try:
        return secrets.get_secret_value(SecretId=name)["SecretString"]
    except secrets.exceptions.ResourceNotFoundException:
        return None  # a self-hosted server needs none


def prefect_api(account: Account, parameters: dict[str, str]) -> Check:
    url = parameters.get(PREFECT_API_URL_PARAMETER, "")
    if not url or url == PLACEHOLDER_API_URL:
        return failed(
            "prefect api",
            "the stack has no Prefect API URL: the runner has 0 tasks",
            "deploy with -c prefect_api_url=<your Prefect API> (docs/aws.md, step 4)",
        )
    key = prefect_key(account)
    request = urllib.request.Request(
        f"{url.rstrip('/')}/flows/filter",
        data=json.dumps({"limit": 1}).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {key}"} if key else {}),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            return failed(
                "prefect api",
                f"{url} refused the key (HTTP {error.code})",
                "put the right key in: aws secretsmanager put-secret-value (docs/aws.md, step 4)",
            )
        return failed("prefect api", f"{url} answered HTTP {error.code}", "check the URL")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        return failed(
            "prefect api",
            f"{url} is out of reach ({getattr(error, 'reason', error)})",
            "check the URL, and that this machine (and the runner) can reach it",
        )
    return passed("prefect api", f"{url} answers{' with the key' if key else ''}")


def writer_lease(account: Account) -> Check:
    settings = account.settings
    bucket, key = LakeStore.from_settings(settings).s3_object(LOCK_NAME)
    lease = read_lease(lease_client(settings), bucket, key)
    if lease is None:
        return passed("writer lease", "never taken yet")
    holder = lease.describe()
    if lease.released:
        return passed("writer lease", f"free; last held by {holder}")
    if lease.stale(settings.writer_lease_seconds):
        seconds = lease.lease_seconds(settings.writer_lease_seconds)
        return failed(
            "writer lease",
            f"held by {holder}: not renewed for longer than its {seconds:g} s lease",
            "its holder died or hangs; the next run takes it over. If runs keep waiting, "
            "look at the runner (docs/runbook.md, TransformStopped)",
        )
    return passed("writer lease", f"held by {holder}")


def aws_checks(settings: Settings) -> Iterator[Check]:
    account = Account(settings)
    yield from _guarded(
        "aws credentials",
        "configure AWS credentials (aws configure, AWS_PROFILE) and AWS_REGION",
        lambda: identity(account),
    )
    parameters: dict[str, str] = {}

    def read_parameters() -> Check:
        if settings.ssm_prefix:
            parameters.update(account.parameters())
        return published(account, parameters)

    yield from _guarded(
        "ssm parameters", "check your permission to read the prefix", read_parameters
    )
    yield from _guarded("lake bucket", REDEPLOY, lambda: lake_bucket(account))
    yield from _guarded("workgroup", REDEPLOY, lambda: workgroup(account))
    yield from _guarded("glue databases", REDEPLOY, lambda: databases(account))
    if SOURCES_PARAMETER not in parameters:
        yield failed(
            "sources",
            f"no {parameter_name(settings.ssm_prefix or '<prefix>', SOURCES_PARAMETER)}",
            f"{REDEPLOY}: this version of the stack publishes the sources it wired",
        )
    else:
        sources = wired_sources(parameters)
        yield from _guarded("bronze tables", REDEPLOY, lambda: bronze_tables(account, sources))
        for name, wired in sources.items():
            yield from _guarded(
                f"source {name}",
                "check the table or stream, and your permission to describe it",
                lambda name=name, wired=wired: source(account, name, wired),
            )
    yield from _guarded(
        "prefect api", "see docs/aws.md, step 4", lambda: prefect_api(account, parameters)
    )
    yield from _guarded("writer lease", "check the lake bucket", lambda: writer_lease(account))
