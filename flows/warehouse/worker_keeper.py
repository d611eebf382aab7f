"""A lake's dbt worker kept running beside `streamlake serve`, restarted when it dies.

The served transform runs its dbt invocation in a fork of the worker
(flows/warehouse/dbt_process.py), seconds sooner than in a new interpreter.
The keeper starts `streamlake dbt-worker` for the lake as a child process,
passes its lines to the serve's log, and when it exits (killed, out of
memory) says so and starts another after a pause that doubles while it keeps
failing. Until a worker listens again a transform runs dbt in a new process,
and says so in its run's log: a dead worker costs time, never a run.

A worker the user started by hand for the same lake makes the keeper's exit
at once ("already listens"): the keeper keeps trying at its longest pause,
and the transforms use the user's worker meanwhile.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable

from flows.warehouse.lakehouse import PROJECT_DIR
from ingestion.settings import Settings

FIRST_PAUSE_SECONDS = 1.0
LONGEST_PAUSE_SECONDS = 60.0
# A worker that served this long before it died is restarted after the first pause again.
HEALTHY_AFTER_SECONDS = 60.0


def worker_command(settings: Settings) -> list[str]:
    """`streamlake dbt-worker` for the lake, through this interpreter."""
    return [
        sys.executable,
        "-m",
        "flows.cli",
        "dbt-worker",
        "--lake-root",
        settings.lake_root,
        # A serve killed outright (out of memory) takes its worker with it.
        "--exit-with-parent",
    ]


class WorkerKeeper:
    """Keeps one dbt worker process running until stopped."""

    def __init__(
        self,
        settings: Settings,
        command: list[str] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        """`say` gets the worker's lines and the keeper's notes (default: printed)."""
        self.command = command or worker_command(settings)
        self.say = say or (lambda line: print(line, flush=True))
        self.starts = 0
        self.process: subprocess.Popen[str] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="dbt-worker-keeper", daemon=True)

    def start(self) -> WorkerKeeper:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
        self._thread.join(timeout=timeout)

    def _keep(self) -> None:
        pause = FIRST_PAUSE_SECONDS
        while not self._stop.is_set():
            started = time.monotonic()
            code = self._run_once()
            if self._stop.is_set():
                return
            if time.monotonic() - started >= HEALTHY_AFTER_SECONDS:
                pause = FIRST_PAUSE_SECONDS
            self.say(
                f"the dbt worker exited (code {code}): restarting it in {pause:.0f} s; "
                "transforms run dbt in a new process meanwhile"
            )
            if self._stop.wait(pause):
                return
            pause = min(pause * 2, LONGEST_PAUSE_SECONDS)

    def _run_once(self) -> int:
        try:
            process = subprocess.Popen(
                self.command,
                cwd=PROJECT_DIR,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
        except OSError as error:
            self.say(f"the dbt worker could not start: {error}")
            return -1
        self.process = process
        self.starts += 1
        if self._stop.is_set():  # stopped while it was starting
            process.terminate()
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                if line.strip():
                    self.say(line.rstrip("\n"))
        return process.wait()
