"""The streamlake command line, run as a user runs it: a console script in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.conftest import read_area

STREAMLAKE = str(Path(sys.executable).with_name("streamlake"))


def streamlake(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [STREAMLAKE, *args],
        capture_output=True,
        text=True,
        timeout=120,
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


def test_run_is_the_main_job(tmp_path) -> None:
    result = streamlake("run", env={"STREAMLAKE_LAKE_ROOT": str(tmp_path / "demo")})
    assert result.returncode == 0, result.stderr
    assert "Lake at" in result.stdout and "done" in result.stdout
    assert "What each layer holds" in result.stdout
    assert "daily_sales_by_region" in result.stdout
    assert (tmp_path / "demo" / "bronze" / "events").is_dir()
    assert (tmp_path / "demo" / "catalog" / "streamlake.ducklake").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["simulate", "--events", "-5"], "Invalid value"),
        (["simulate", "--malformed-fraction", "2"], "Invalid value"),
        (["simulate", "--kinesis-batch-size", "20000"], "Invalid value"),
        (["simulate", "--events", "lots"], "Invalid value"),
        (["no-such-command"], "No such command"),
    ],
)
def test_bad_arguments_get_one_clear_error(args, message) -> None:
    result = streamlake(*args)
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
