"""flows.warehouse.dbt_worker: dbt commands in forks of a warm process, with the caller's
streams, environment, exit code and fate."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flows.warehouse import dbt_worker
from ingestion.settings import Settings
from tests.test_dbt_command import assert_dbts_exit_codes_and_output

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[1]

# A worker whose commands note their process id before they run: by dbt
# (flows.warehouse.dbt_command.run_here) or, for "sleep", by sleeping.
_WORKER = """
import os, sys, time
from pathlib import Path
from flows.warehouse import dbt_worker
from flows.warehouse.dbt_command import run_here

pids = Path(sys.argv[2])

def prepare(args, environment):
    return "as the test asks", lambda: run(args)

def run(args):
    with pids.open("a") as noted:
        noted.write(f"{os.getpid()}\\n")
    if args[0] == "sleep":
        print("sleeping", flush=True)
        time.sleep(120)
        return 0
    if args[0] == "env":
        print(os.environ["ASKED"], os.getcwd(), flush=True)
        return int(args[1])
    return run_here(args)

dbt_worker.preload()
dbt_worker.serve(Path(sys.argv[1]), prepare, ready=lambda: print("ready", flush=True))
"""


def start_worker(socket: Path, pids: Path) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [PYTHON, "-c", _WORKER, str(socket), str(pids)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "ready"
    return worker


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[Path, Path, subprocess.Popen[str]]]:
    socket, pids = dbt_worker.socket_path(tmp_path / "target"), tmp_path / "pids"
    process = start_worker(socket, pids)
    yield socket, pids, process
    process.terminate()
    process.wait(timeout=30)


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:  # gone, and reaped
        return False
    return status.split("State:")[1].split()[0] != "Z"


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_dbt_runs_in_a_fork_of_the_worker_with_dbts_output_and_exit_codes(tmp_path, worker) -> None:
    _socket, pids, process = worker
    # The worker's socket is found from the commands' --target-path.
    assert_dbts_exit_codes_and_output(tmp_path)

    # Both ran in forks of the worker, not in the launching processes.
    forks = [int(pid) for pid in pids.read_text().split()]
    assert len(forks) == 2
    assert all(pid != process.pid for pid in forks)
    assert process.poll() is None  # a failing command leaves the worker serving


def test_the_fork_takes_the_callers_environment_folder_and_exit_code(tmp_path, worker) -> None:
    socket, _pids, _process = worker
    caller = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from flows.warehouse import dbt_worker
        answer = dbt_worker.run_in_worker(Path({str(socket)!r}), ["env", "3"])
        print("answer", answer.exit_code, answer.peak_mb > 0)
        """
    )
    here = tmp_path / "elsewhere"
    here.mkdir()
    done = subprocess.run(
        [PYTHON, "-c", caller],
        cwd=here,
        env={**os.environ, "ASKED": "from the caller", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == [f"from the caller {here}", "answer 3 True"]


def sleeping_caller(socket: Path, pids: Path) -> tuple[subprocess.Popen[str], int]:
    """A process whose command sleeps in the worker; it and its fork's process id."""
    caller = subprocess.Popen(
        [
            PYTHON,
            "-c",
            f"import sys; from pathlib import Path; from flows.warehouse import dbt_worker; "
            f"sys.exit(dbt_worker.run_in_worker(Path({str(socket)!r}), ['sleep']).exit_code)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert caller.stdout is not None
    assert caller.stdout.readline().strip() == "sleeping"
    fork = int(pids.read_text().split()[0])
    assert alive(fork)
    return caller, fork


def test_a_caller_killed_outright_takes_its_command_with_it(tmp_path, worker) -> None:
    socket, pids, _process = worker
    caller, fork = sleeping_caller(socket, pids)
    caller.kill()
    caller.wait()
    assert wait_for(lambda: not alive(fork)), "the fork outlived its caller"


def test_sigterm_to_the_caller_reaches_the_command(tmp_path, worker) -> None:
    socket, pids, _process = worker
    caller, fork = sleeping_caller(socket, pids)
    caller.send_signal(signal.SIGTERM)
    assert caller.wait(timeout=20) == 1
    assert caller.stderr is not None
    assert "ended without an exit code" in caller.stderr.read()
    assert wait_for(lambda: not alive(fork))


def test_without_a_worker_the_command_runs_in_process(tmp_path) -> None:
    socket = dbt_worker.socket_path(tmp_path / "target")
    assert dbt_worker.run_in_worker(socket, ["run"]) is None
    socket.write_text("")  # a file left by a worker that was killed
    try:
        assert dbt_worker.run_in_worker(socket, ["run"]) is None
    finally:
        socket.unlink()


def test_one_worker_per_lake_and_a_stopped_worker_removes_its_socket(tmp_path, worker) -> None:
    socket, _pids, process = worker
    with pytest.raises(dbt_worker.WorkerRunning, match="already listens"):
        dbt_worker.serve(socket, lambda args, environment: ("", lambda: 0))
    process.terminate()
    assert process.wait(timeout=30) == 0
    assert not socket.exists()
    assert dbt_worker.run_in_worker(socket, ["run"]) is None


@contextlib.contextmanager
def dbt_worker_for(settings: Settings) -> Iterator[list[str]]:
    """`streamlake dbt-worker` for a lake while the block runs; yields the lines
    it has written so far (one per command it served)."""
    worker = subprocess.Popen(
        [PYTHON, "-m", "flows.cli", "dbt-worker", "--lake-root", settings.lake_root],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    assert "listening at" in worker.stdout.readline()
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(worker.stdout), daemon=True)
    reader.start()
    try:
        yield lines
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        reader.join(timeout=10)


def test_streamlake_dbt_worker_serves_the_lakes_dbt_commands(tmp_path) -> None:
    """The command a user starts: it parses the project for the lake, then the
    project's own dbt commands for that lake (flows.warehouse.lakehouse.run_dbt) run in it."""
    lake = tmp_path / "lake"
    environment = {**os.environ, "STREAMLAKE_LAKE_ROOT": str(lake)}
    worker = subprocess.Popen(
        [PYTHON, "-m", "flows.cli", "dbt-worker"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        ready = worker.stdout.readline()
        assert "listening at" in ready, ready
        # The parse opened no DuckDB connection: the first one would have created the
        # lake's DuckLake catalog (flows/warehouse/dbt_duckdb_plugin.py), and a fork must not
        # inherit a database's threads and open catalog.
        assert not (lake / "catalog").exists()
        assert not [
            fd
            for fd in os.listdir(f"/proc/{worker.pid}/fd")
            if "duck" in os.readlink(f"/proc/{worker.pid}/fd/{fd}")
        ]
        second = subprocess.run(
            [PYTHON, "-m", "flows.cli", "dbt-worker"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert second.returncode == 2
        assert "already listens" in second.stderr
        assert "Traceback" not in second.stderr
        # The worker's parse left the manifest in the lake's dbt folder.
        assert (lake / "_dbt" / "target" / "manifest.json").exists()
        listed = subprocess.run(
            [PYTHON, "-c", _LIST_MODELS, str(lake)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert "streamlake.gold.shop.key_metrics" in listed.stdout
        # ... in a fork of the worker, which notes each command it runs, on its parse.
        served = worker.stdout.readline()
        assert served.startswith("dbt ls --resource-type model"), served
        assert "the worker's parse" in served
    finally:
        worker.terminate()
        _, errors = worker.communicate(timeout=30)
    # The fork's locks went with it: no semaphore left for a resource tracker to report.
    assert "leaked semaphore" not in errors, errors


# `dbt ls` through flows.warehouse.dbt_command for a lake, as the project's commands run dbt.
_LIST_MODELS = """
import os, sys
from ingestion.settings import Settings
from flows.warehouse.dbt_command import run_measured
from flows.warehouse.lakehouse import PROJECT_DIR, dbt_environment
os.environ.update(dbt_environment(Settings(lake_root=sys.argv[1])))
project = str(PROJECT_DIR)
code, _ = run_measured(["ls", "--resource-type", "model", "--project-dir", project,
                        "--profiles-dir", project])
"""
