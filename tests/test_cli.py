"""The streamlake command line, run as a user runs it: a console script in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from flows.prefect_server import free_port
from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.conftest import read_area

STREAMLAKE = str(Path(sys.executable).with_name("streamlake"))


def streamlake(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, input: str | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [STREAMLAKE, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        check=False,
    )


def test_simulate_lands_the_workload_and_shows_the_lake(tmp_path) -> None:
    lake = tmp_path / "lake"
    result = streamlake(
        "simulate",
        "--lake-root",
        str(lake),
        "--events",
        "1500",
        "--orders",
        "120",
        "--customers",
        "20",
        "--products",
        "10",
        "--malformed-fraction",
        "0.01",
    )
    assert result.returncode == 0, result.stderr
    assert "bronze" in result.stdout and "quarantine" in result.stdout
    store = LakeStore.from_settings(Settings(lake_root=str(lake)))
    assert read_area(store, "bronze", "events").num_rows == 1500
    assert read_area(store, "bronze", "orders").num_rows >= 120
    assert (lake / "_logs" / "ingestion.jsonl").stat().st_size > 0


@pytest.mark.slow
def test_run_is_the_main_job(tmp_path) -> None:
    """The main job starts a real Prefect server, runs the transform flow on it, and
    leaves the server up for the UI until `server-stop`."""
    port = free_port()
    env = {
        "STREAMLAKE_LAKE_ROOT": str(tmp_path / "demo"),
        "STREAMLAKE_PREFECT_PORT": str(port),
        "STREAMLAKE_PREFECT_HOME": str(tmp_path / "prefect"),
    }
    try:
        result = streamlake("run", env=env, timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "Lake at" in result.stdout and "done" in result.stdout
        assert "What each layer holds" in result.stdout
        assert "daily_sales_by_region" in result.stdout
        assert f"http://127.0.0.1:{port}" in result.stdout
        assert "tests passed" in result.stdout
        assert "Starting temporary server" not in result.stdout + result.stderr
        assert (tmp_path / "demo" / "bronze" / "events").is_dir()
        assert (tmp_path / "demo" / "catalog" / "streamlake.ducklake").is_file()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as health:
            assert health.status == 200
        # The first hour's next steps: query Gold, then reset the lake alone.
        queried = streamlake(
            "query", "select bronze_source, rows_landed from gold.pipeline_health order by 1",
            env=env,
        )  # fmt: skip
        assert queried.returncode == 0, queried.stderr
        assert "customers" in queried.stdout and "4 rows" in queried.stdout
        wrong = streamlake("query", "select nothing from gold.nowhere", env=env)
        assert wrong.returncode == 2 and wrong.stderr.startswith("error: query failed:")
        refused = streamlake("reset", env=env, input="n\n")
        assert refused.returncode == 1 and (tmp_path / "demo").is_dir()
        reset = streamlake("reset", "--yes", env=env)
        assert reset.returncode == 0, reset.stderr
        assert not (tmp_path / "demo").exists()
        assert (tmp_path / "prefect").is_dir(), "the Prefect server's history stays"
    finally:
        stopped = streamlake("server-stop", env=env)
    assert "stopped" in stopped.stdout


@pytest.fixture(scope="module")
def empty_lake(tmp_path_factory) -> Path:
    """An empty lake: the arguments are refused before it is read. One for all the
    cases, so that the commands that check model names parse the project once."""
    lake = tmp_path_factory.mktemp("empty") / "lake"
    lake.mkdir()
    return lake


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--events", "-5"], "Invalid value"),
        (["simulate", "--malformed-fraction", "2"], "Invalid value"),
        (["simulate", "--kinesis-batch-size", "20000"], "Invalid value"),
        (["simulate", "--events", "lots"], "Invalid value"),
        (["no-such-command"], "No such command"),
        (["--target", "azure", "inventory"], "--target must be local or aws"),
        (["export", "no_such_model"], "unknown Gold model 'no_such_model'"),
        (["export", "key_metrics", "--format", "xlsx"], "--format must be one of"),
        (["export", "key_metrics", "--filter", "metric_name"], "--filter takes column=value"),
        (["export", "key_metrics", "--filter", "nope=1"], "has no column 'nope'"),
        (["export", "key_metrics", "--start", "yesterday"], "--start must be a date"),
        (["backfill"], "backfill needs --start"),
        (["backfill", "--start", "2026-13-01"], "--start must be a date"),
        (["backfill", "--full-refresh", "no_such_model"], "unknown model(s): no_such_model"),
        (["maintenance", "--retention-hours", "-1"], "Invalid value"),
    ],
)
def test_bad_arguments_get_one_clear_error(empty_lake, args, message) -> None:
    result = streamlake(*args, env={"STREAMLAKE_LAKE_ROOT": str(empty_lake)})
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_lake_root_that_is_a_file_is_refused(tmp_path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    result = streamlake("simulate", "--lake-root", str(not_a_folder), "--events", "10")
    assert result.returncode == 2
    assert "is not a folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_lake_root_that_cannot_be_written_is_refused(tmp_path) -> None:
    if os.geteuid() == 0:
        target = "/proc/streamlake-lake"  # even root cannot create folders here
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "lake")
    result = streamlake("simulate", "--lake-root", target, "--events", "10")
    assert result.returncode == 2
    assert "cannot create lake root" in result.stderr or "not writable" in result.stderr
    assert "Traceback" not in result.stderr


def test_unsupported_lake_uri_and_bad_setting_are_refused(tmp_path) -> None:
    result = streamlake("inventory", "--lake-root", "gs://bucket/lake")
    assert result.returncode == 2 and "only local folders and s3://" in result.stderr
    result = streamlake("inventory", env={"STREAMLAKE_TARGET": "azure"})
    assert result.returncode == 2 and "setting target" in result.stderr
    result = streamlake("inventory", "--lake-root", str(tmp_path / "missing"))
    assert result.returncode == 2 and "does not exist" in result.stderr


# Every command that works on an existing lake, with arguments otherwise valid.
LAKE_COMMANDS = [
    ["build"],
    ["transform"],
    ["maintenance"],
    ["export", "key_metrics"],
    ["backfill", "--start", "2026-11-01"],
    ["inventory"],
]


def _read_only_folder(tmp_path: Path) -> str:
    if os.geteuid() == 0:
        return "/proc/sys"  # root may write anywhere but here
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    return str(locked)


# Every command with a missing lake; each other kind of bad root with a few (each case
# is a fresh interpreter, ~2 s).
BAD_ROOTS = [(command, "missing") for command in LAKE_COMMANDS] + [
    (LAKE_COMMANDS[0], "file"),
    (LAKE_COMMANDS[3], "file"),
    (LAKE_COMMANDS[1], "read-only"),
    (LAKE_COMMANDS[2], "read-only"),
    (LAKE_COMMANDS[4], "read-only"),
    (LAKE_COMMANDS[2], "unsupported"),
]


@pytest.mark.parametrize(("command", "root"), BAD_ROOTS, ids=[f"{c[0]}-{r}" for c, r in BAD_ROOTS])
def test_a_bad_lake_root_gets_one_line_before_any_work(tmp_path, command, root) -> None:
    target = {
        "missing": str(tmp_path / "missing"),
        "file": str(tmp_path / "file"),
        "read-only": _read_only_folder(tmp_path),
        "unsupported": "gs://bucket/lake",
    }[root]
    (tmp_path / "file").write_text("x")
    # A port nothing listens on: a command that started a Prefect server would hang or say so.
    env = {"STREAMLAKE_PREFECT_PORT": str(free_port()), "STREAMLAKE_PREFECT_HOME": str(tmp_path)}
    result = streamlake(*command, "--lake-root", target, env=env, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error:"), result.stderr
    assert len(result.stderr.replace("\n", " ").split("error:")) == 2, "one error only"
    expected = {
        "missing": "does not exist",
        "file": "is not a folder",
        "read-only": "not writable",
        "unsupported": "only local folders and s3://",
    }[root]
    assert expected in " ".join(result.stderr.split())
    assert "Traceback" not in result.stdout + result.stderr
    assert "Prefect" not in result.stdout, "no server is started for a lake that cannot be used"
    assert not (tmp_path / "missing").exists(), "a missing lake root is not created"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dashboards", "render", "--at", "yesterday"], "Invalid value for '--at'"),
        (["dashboards", "render", "--dashboard", "nope"], "no dashboard named nope"),
        (["dashboards", "render", "--lake-root", "s3://b/lake"], "lake root is on S3"),
        (["export", "key_metrics", "--end", "2026-02-30"], "--end must be a date"),
        (["backfill", "--start", "2026-11-02", "--end", "soon"], "--end must be a date"),
        (["dbt"], "give dbt's arguments after --"),
        (["dbt", "--", "build", "--target", "gcp"], "--target must be local or aws"),
        (["doctor", "--target", "azure"], "--target must be local or aws"),
    ],
)
def test_more_bad_arguments_get_one_clear_error(tmp_path, args, message) -> None:
    result = streamlake(*args, env={"STREAMLAKE_LAKE_ROOT": str(tmp_path)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert "Traceback" not in result.stderr + result.stdout


def test_dbt_runs_any_dbt_command_and_writes_only_under_the_writer_lock(tmp_path) -> None:
    """`streamlake dbt -- <args>`: dbt's own exit code; a command that only reads runs
    beside a writer, one that writes waits for the lock (here: gives up at once)."""
    from flows.warehouse.writer_lock import catalog_writer

    lake = tmp_path / "lake"
    lake.mkdir()
    env = {"STREAMLAKE_LAKE_ROOT": str(lake), "STREAMLAKE_WRITER_WAIT_SECONDS": "0"}
    with catalog_writer(Settings(lake_root=str(lake)), "maintenance"):
        listed = streamlake(
            "dbt", "--", "ls", "-s", "key_metrics", "--resource-type", "model", "--quiet", env=env
        )
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert [name.rsplit(".", 1)[-1] for name in listed.stdout.split()] == ["key_metrics"]
        seeded = streamlake("dbt", "--", "seed", env=env)
        assert seeded.returncode == 1
        assert "error: dbt seed: the catalog is busy" in seeded.stderr
        assert '"purpose": "maintenance"' in seeded.stderr
    unknown = streamlake("dbt", "--", "no-such-command", env=env)
    assert unknown.returncode == 2  # dbt's own
    assert "No such command" in unknown.stderr
