"""The local lakehouse: dbt builds on DuckDB with DuckLake, and a look at what each layer holds."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from flows.warehouse.dbt_command import LEASE_FLAG
from flows.warehouse.duckdb_connect import connect
from flows.warehouse.writer_lock import S3Lease, current_hold
from ingestion.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parents[2]
LAYERS = ("bronze", "silver", "gold")


class DbtFailed(RuntimeError):
    """dbt reported a failing model or test; its own output says which."""


def catalog_path(settings: Settings) -> Path:
    return Path(settings.lake_root).resolve() / "catalog" / "streamlake.ducklake"


def dbt_target_path(settings: Settings) -> Path:
    """Where dbt keeps its manifest, compiled SQL and logs for this lake.

    dbt re-parses the whole project (about 5 s here) whenever the environment
    that dbt_project.yml and profiles.yml read differs from the last parse in
    the same target folder, and the lake root is part of it. A folder per lake
    keeps partial parsing working for every lake: the repository's `target/`
    for the default lake (shared with a hand-run `dbt build`),
    `target/s3/<bucket and prefix>` for an s3:// lake (so that the aws target's
    commands neither re-parse the local lake's project nor race with it), and
    `<lake>/_dbt/target` for any other folder.
    """
    lake_root = settings.lake_root
    if lake_root.startswith("s3://"):
        folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", lake_root.removeprefix("s3://")).strip("_")
        return PROJECT_DIR / "target" / "s3" / folder
    lake = Path(lake_root).resolve()
    if lake == PROJECT_DIR / "lake":
        return PROJECT_DIR / "target"
    return lake / "_dbt" / "target"


TestScope = Literal["all", "changed"]


def dbt_environment(settings: Settings, test_scope: TestScope = "all") -> dict[str, str]:
    """What profiles.yml, dbt_project.yml and the project's macros read, from the
    one settings object.

    The aws target's values (region, workgroup, result and warehouse locations,
    Glue databases) are exported whatever the target, so that `--target aws`
    works from the same environment. Credentials stay with the AWS chain.
    `test_scope` "changed" has the data tests look at the rows this run wrote
    only (dbt_project/macros/tests/test_scope.sql); it is an environment
    variable rather than a dbt var because dbt re-parses the whole project
    whenever its command-line vars change.
    """
    lake_root = settings.lake_root
    if not lake_root.startswith("s3://"):
        lake_root = str(Path(lake_root).resolve())  # views keep working from any folder
    target_path = dbt_target_path(settings)
    environment = {
        "DBT_TARGET_PATH": str(target_path),
        "DBT_LOG_PATH": str(target_path.parent / "logs"),
        "STREAMLAKE_TEST_SCOPE": test_scope,
        "STREAMLAKE_TARGET": settings.target,
        "STREAMLAKE_LAKE_ROOT": lake_root,
        "STREAMLAKE_DUCKDB_EXTENSION_DIR": str(Path(settings.duckdb_extension_dir).resolve()),
        "STREAMLAKE_AWS_REGION": settings.aws_region,
        "STREAMLAKE_ATHENA_WORKGROUP": settings.athena_workgroup,
        "STREAMLAKE_ATHENA_S3_STAGING_DIR": settings.athena_s3_staging_dir or "",
        "STREAMLAKE_WAREHOUSE_URI": settings.warehouse_uri or f"{lake_root}/warehouse",
        "STREAMLAKE_BRONZE_DATABASE": settings.bronze_database,
        "STREAMLAKE_SILVER_DATABASE": settings.silver_database,
        "STREAMLAKE_GOLD_DATABASE": settings.gold_database,
    }
    if settings.s3_endpoint_url:
        # boto3's own variable for an S3 stand-in; dbt-athena's S3 calls honour it.
        environment["AWS_ENDPOINT_URL_S3"] = settings.s3_endpoint_url
    return environment


# The Bronze files a scheduled build has not seen (flows/bronze_changes.py), as a JSON
# list of lake-relative paths; read by the DuckDB Silver merges, and only while they run.
NEW_BRONZE_FILES = "STREAMLAKE_NEW_BRONZE_FILES"
# Longer lists (a lake that waited long for its build) are not passed: the models
# then read by the watermark alone, as any build does. An environment string may
# hold 128 kB on Linux.
NEW_BRONZE_FILES_MAX_CHARACTERS = 64_000


def new_bronze_files_environment(paths: Sequence[str]) -> dict[str, str]:
    """The variable that names a scheduled build's new Bronze files; empty when there
    are too many to name."""
    listed = json.dumps(list(paths))
    return {NEW_BRONZE_FILES: listed} if len(listed) <= NEW_BRONZE_FILES_MAX_CHARACTERS else {}


@contextmanager
def environment_set(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block (profiles.yml and the handlers' S3
    client read them there); what was there before comes back afterwards, so
    nothing of one run's settings leaks into the next."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_dbt(
    settings: Settings,
    args: list[str],
    test_scope: TestScope = "all",
    project_dir: Path = PROJECT_DIR,
) -> None:
    """Run a dbt command against this project (or a copy of it) and its profiles.yml;
    DbtFailed when it fails."""
    code = dbt_exit_code(settings, args, test_scope, project_dir)
    if code != 0:
        raise DbtFailed(f"dbt {' '.join(args)} failed with exit code {code}")


def dbt_exit_code(
    settings: Settings,
    args: list[str],
    test_scope: TestScope = "all",
    project_dir: Path = PROJECT_DIR,
) -> int:
    """Run a dbt command against this project (or a copy of it) and its profiles.yml;
    dbt's exit code.

    In a child process: dbt-duckdb keeps its DuckDB (and so the DuckLake catalog)
    attached for the life of the process, and a catalog file can be attached
    only once per process. The child is flows.warehouse.dbt_command: dbt's command line
    with the garbage collector set for a short-lived process. When this process
    holds the S3 writer lease, the child checks it before each AWS write.
    """
    return dbt_process(settings, args, test_scope, project_dir).returncode


def dbt_process(
    settings: Settings,
    args: list[str],
    test_scope: TestScope = "all",
    project_dir: Path = PROJECT_DIR,
    capture: bool = False,
) -> subprocess.CompletedProcess[str]:
    """dbt_exit_code()'s child process, its output captured when `capture`."""
    command = [
        sys.executable,
        "-m",
        "flows.warehouse.dbt_command",
        *lease_guard(),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
    ]
    env = {**os.environ, **dbt_environment(settings, test_scope)}
    return subprocess.run(
        command, env=env, cwd=project_dir, check=False, capture_output=capture, text=True
    )


def lease_guard() -> list[str]:
    """The arguments that have a dbt command in another process check this process's
    S3 writer lease before each AWS write (flows/warehouse/dbt_command.py); none
    when it holds no lease (locally, or no writer lock at all)."""
    lease = current_hold()
    return [LEASE_FLAG, str(lease.state_file)] if isinstance(lease, S3Lease) else []


@contextmanager
def open_lake(settings: Settings, read_only: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with the lake's DuckLake catalog attached as `lake`."""
    catalog = catalog_path(settings)
    if not catalog.exists():
        raise FileNotFoundError(f"no DuckLake catalog at {catalog}: run `streamlake run` first")
    con = connect(extension_dir=settings.duckdb_extension_dir)
    try:
        con.execute("set TimeZone = 'UTC'")
        mode = " (read_only)" if read_only else ""
        con.execute(f"attach 'ducklake:{catalog}' as lake{mode}")
        con.execute("use lake")
        yield con
    finally:
        con.close()


@dataclass(frozen=True)
class TableCount:
    layer: str
    table: str
    kind: str
    rows: int


def layer_counts(con: duckdb.DuckDBPyConnection) -> list[TableCount]:
    found = con.execute(
        """
        select table_schema, table_name, table_type
        from information_schema.tables
        where table_catalog = 'lake' and table_schema in ('bronze', 'silver', 'gold')
        order by table_schema, table_name
        """
    ).fetchall()
    counts = []
    for schema, table, kind in found:
        (rows,) = con.execute(f'select count(*) from lake."{schema}"."{table}"').fetchone()
        counts.append(TableCount(schema, table, "view" if kind == "VIEW" else "table", rows))
    return sorted(counts, key=lambda c: (LAYERS.index(c.layer), c.table))
