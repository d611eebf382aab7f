"""flows.warehouse.dbt_command: dbt's command line with the garbage collector set for a short process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PYTHON = sys.executable


def launch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "flows.warehouse.dbt_command", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def tiny_project(root: Path) -> Path:
    """A dbt project on an in-memory DuckDB: one model that builds, one that cannot."""
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: tiny\nversion: '1.0'\nconfig-version: 2\nprofile: tiny\n"
        "flags:\n  send_anonymous_usage_stats: false\n"
    )
    (root / "profiles.yml").write_text(
        textwrap.dedent(
            """\
            tiny:
              target: dev
              outputs:
                dev:
                  type: duckdb
                  path: ":memory:"
                  threads: 1
            """
        )
    )
    (root / "models" / "builds.sql").write_text("select 1 as answer\n")
    (root / "models" / "breaks.sql").write_text("select answer from no_such_table\n")
    return root


def assert_dbts_exit_codes_and_output(tmp_path: Path) -> None:
    """`python -m flows.warehouse.dbt_command run` on the tiny project: dbt's output and exit codes."""
    project = tiny_project(tmp_path / "tiny")
    common = ["--project-dir", str(project), "--profiles-dir", str(project)]
    common += ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]

    built = launch("run", "--select", "builds", *common, cwd=project)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Completed successfully" in built.stdout

    broken = launch("run", *common, cwd=project)
    assert broken.returncode == 1
    assert "no_such_table" in broken.stdout


def test_exit_codes_and_output_are_dbts(tmp_path) -> None:
    assert_dbts_exit_codes_and_output(tmp_path)

    usage = launch("no-such-command")
    assert usage.returncode == 2
    assert "No such command" in usage.stderr


def test_dbts_objects_are_frozen_out_of_the_collectors_walks() -> None:
    """What the dbt import built sits in the permanent generation, the collector
    is back on for the run, and the command's result comes back as its exit code."""
    probe = textwrap.dedent(
        """
        import gc
        from flows.warehouse.dbt_command import run
        code = run(["--version"])
        print(code, gc.isenabled(), gc.get_freeze_count(), len(gc.get_objects()))
        """
    )
    completed = subprocess.run(
        [PYTHON, "-c", probe], capture_output=True, text=True, check=False, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    code, enabled, frozen, tracked = completed.stdout.split()[-4:]
    assert (code, enabled) == ("0", "True")
    # dbt's import leaves over 100,000 objects; the collector walks few of them
    assert int(frozen) > 100_000
    assert int(tracked) < int(frozen) / 10


def test_on_the_aws_target_every_boto3_session_shares_one_loader() -> None:
    """dbt-athena opens a boto3 session per connection; with the shared loader the
    second session reuses the service descriptions the first one parsed."""
    probe = textwrap.dedent(
        """
        import os, sys
        from flows.warehouse.dbt_command import _targets_aws, run
        os.environ.pop("STREAMLAKE_TARGET", None)
        run(["--version"])  # the local target: botocore is left alone
        print("probe", _targets_aws(["run", "--target", "aws"]), _targets_aws(["run", "-t", "local"]))
        import boto3
        def models(session):
            session.client("athena", region_name="us-east-1")
            return session._session.get_component("data_loader")
        print("probe", models(boto3.session.Session()) is models(boto3.session.Session()))
        run(["--version", "--target", "aws"])
        first, second = boto3.session.Session(), boto3.session.Session()
        print("probe", models(first) is models(second))
        """
    )
    completed = subprocess.run(
        [PYTHON, "-c", probe], capture_output=True, text=True, check=False, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    probed = [
        line.split()[1:] for line in completed.stdout.splitlines() if line.startswith("probe")
    ]
    assert probed == [["True", "False"], ["False"], ["True"]]


def test_a_command_on_the_workers_parse_shares_the_loader_on_aws_too() -> None:
    """flows.warehouse.dbt_command.run_parsed, the dbt worker's fork on its own parse, prepares
    the process as run() does (dbt's run on the parse itself is stood in for)."""
    probe = textwrap.dedent(
        """
        import botocore.session
        import flows.warehouse.parsed_project
        from flows.warehouse.dbt_command import run_parsed
        flows.warehouse.parsed_project.run_on = lambda parsed, args: 0
        run_parsed(None, ["run"])
        print("probe", hasattr(botocore.session.create_loader, "cache_info"))
        run_parsed(None, ["run", "--target", "aws"])
        print("probe", hasattr(botocore.session.create_loader, "cache_info"))
        """
    )
    completed = subprocess.run(
        [PYTHON, "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "STREAMLAKE_TARGET"},
    )
    assert completed.returncode == 0, completed.stderr
    probed = [line.split()[1] for line in completed.stdout.splitlines() if line.startswith("probe")]
    assert probed == ["False", "True"]
