"""What `streamlake serve` runs dbt with: a fork of the lake's dbt worker, which serve keeps
running, or a new process when none listens; the flow run itself never imports dbt."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flows.demo_app.slices import land_slice
from flows.warehouse import dbt_worker
from flows.warehouse.lakehouse import PROJECT_DIR, dbt_target_path
from flows.warehouse.worker_keeper import WorkerKeeper
from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.test_dbt_command import tiny_project
from tests.test_dbt_worker import alive, dbt_worker_for

pytestmark = pytest.mark.slow

# A transform flow run in a process of its own, as a served run is: its status, and
# every module of dbt it has imported by its end.
_TRANSFORM = """
import sys
from flows.transform import transform
report = transform(if_busy="wait", evaluate_alerts=False)
print("status", report.status, flush=True)
print("dbt modules", sorted(m for m in sys.modules if m == "dbt" or m.startswith("dbt.")))
"""


def _transform(settings: Settings, api_url: str) -> str:
    environment = {
        **os.environ,
        "STREAMLAKE_LAKE_ROOT": settings.lake_root,
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    done = subprocess.run(
        [sys.executable, "-c", _TRANSFORM],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    return output


def test_a_transform_imports_no_dbt_with_or_without_the_lakes_worker(prefect_api, tmp_path):
    settings = Settings(lake_root=str(tmp_path / "lake"))
    store = LakeStore.from_settings(settings)
    land_slice(settings, store, 0, 300, 10)

    alone = _transform(settings, prefect_api)
    assert "status succeeded" in alone
    assert "dbt modules []" in alone
    # No worker listens: dbt ran in a new process, and the run's log says so.
    assert "no dbt worker listens for this lake" in alone
    assert "OK created sql incremental model silver.events" in alone  # dbt's lines

    land_slice(settings, store, 1, 300, 10)
    with dbt_worker_for(settings) as served:
        helped = _transform(settings, prefect_api)
    assert "status succeeded" in helped
    assert "dbt modules []" in helped
    assert "no dbt worker listens" not in helped
    assert "OK created sql incremental model silver.events" in helped
    # The worker ran the build in a fork, on its own parse.
    (build,) = [line for line in served if line.startswith("dbt build")]
    assert "the worker's parse" in build


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_serve_restarts_a_dbt_worker_that_died(tmp_path) -> None:
    settings = Settings(lake_root=str(tmp_path / "lake"))
    socket = dbt_worker.socket_path(dbt_target_path(settings))
    lines: list[str] = []
    keeper = WorkerKeeper(settings, say=lines.append).start()
    try:
        assert _wait(lambda: any("listening at" in line for line in lines), 180), lines
        first = keeper.process
        assert first is not None
        first.kill()  # out of memory, say
        assert _wait(lambda: sum("listening at" in line for line in lines) == 2, 180), lines
        assert keeper.starts == 2 and keeper.process is not first
        assert any("the dbt worker exited (code -9): restarting it" in line for line in lines)
        assert dbt_worker.run_in_worker(socket, ["--version"]) is not None
    finally:
        keeper.stop()
    assert keeper.process is not None and keeper.process.poll() is not None
    assert not socket.exists()


_SERVE_STAND_IN = """
import sys, time
from flows.warehouse.worker_keeper import WorkerKeeper
from ingestion.settings import Settings
keeper = WorkerKeeper(Settings(lake_root=sys.argv[1]), say=lambda line: print(line, flush=True))
keeper.start()
while keeper.process is None:
    time.sleep(0.1)
print("worker", keeper.process.pid, flush=True)
time.sleep(600)
"""


def test_a_serve_killed_outright_takes_its_worker_with_it(tmp_path) -> None:
    serve = subprocess.Popen(
        [sys.executable, "-c", _SERVE_STAND_IN, str(tmp_path / "lake")],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert serve.stdout is not None
    worker = int(serve.stdout.readline().split()[1])
    assert "listening at" in serve.stdout.readline()
    serve.kill()
    serve.wait()
    assert _wait(lambda: not alive(worker), 30), "the worker outlived serve"


# A dbt command that runs until stopped, in the tiny project.
_SLOW_MODEL = "select count(*) as forever from range(100000000000)\n"


def test_a_caller_killed_outright_takes_its_new_dbt_process_with_it(tmp_path) -> None:
    """With no worker, dbt runs in a new process (flows.warehouse.dbt_process); a caller
    killed outright (a flow run killed) leaves no dbt behind."""
    project = tiny_project(tmp_path / "tiny")
    (project / "models" / "slow.sql").write_text(_SLOW_MODEL)
    caller = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from flows.warehouse.dbt_process import run_apart
        project = {str(project)!r}
        def said(line):
            print(line, flush=True)
        run_apart(
            ["run", "--select", "slow", "--project-dir", project, "--profiles-dir", project],
            dict(os.environ), Path(project), Path(project) / "target", said,
            lambda: print("new process", os.getpid(), flush=True),
        )
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", caller],
        cwd=PROJECT_DIR,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("new process")
    while "START sql" not in process.stdout.readline():
        pass
    (dbt,) = [
        int(pid)
        for pid in os.listdir("/proc")
        if pid.isdigit() and _parent(int(pid)) == process.pid
    ]
    process.kill()
    process.wait()
    try:
        assert _wait(lambda: not alive(dbt), 30), "dbt outlived its caller"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(dbt, signal.SIGKILL)


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])
