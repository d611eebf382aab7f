"""dbt in a process apart from the caller, its output read line by line through a pipe.

A flow's dbt invocation runs in a fork of the lake's dbt worker when one
listens (flows/warehouse/dbt_worker.py, which `streamlake serve` keeps
running): dbt imported and the project parsed already, so the command starts
at its first model. When none listens it runs in a new interpreter
(`python -m flows.warehouse.dbt_process`), seconds slower, with the same
arguments and output. Either way the caller imports no dbt, and dbt's
process-wide state (dbt-duckdb's DuckDB, the DuckLake catalog it attaches,
dbt's global flags) ends with the command.

The command ends with its caller: a fork of the worker kills itself when the
caller's socket closes; a new interpreter, when its standard input (a pipe
from the caller, never written to) reaches its end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from flows.warehouse import dbt_worker


def run_apart(
    args: list[str],
    environment: Mapping[str, str],
    cwd: Path,
    target_path: Path,
    on_line: Callable[[str], None],
    on_fallback: Callable[[], None] = lambda: None,
) -> tuple[int, bool]:
    """`dbt <args>`, every line it writes (standard output and error) passed to
    `on_line` as it comes; returns dbt's exit code and whether the lake's dbt
    worker ran it. `on_fallback` is called when no worker listens, before dbt
    starts in a new process."""
    code = _in_worker(args, environment, cwd, target_path, on_line)
    if code is not None:
        return code, True
    on_fallback()
    return _in_new_process(args, environment, cwd, on_line), False


def _in_worker(
    args: list[str],
    environment: Mapping[str, str],
    cwd: Path,
    target_path: Path,
    on_line: Callable[[str], None],
) -> int | None:
    read_end, write_end = os.pipe()
    reader = threading.Thread(
        target=_forward, args=(os.fdopen(read_end, "r", errors="replace"), on_line), daemon=True
    )
    reader.start()
    try:
        with open(os.devnull, "rb") as nothing:
            answer = dbt_worker.run_in_worker(
                dbt_worker.socket_path(target_path),
                args,
                environment,
                cwd,
                (nothing.fileno(), write_end, write_end),
            )
    finally:
        # The fork holds its own copies: the reader sees the end once it has exited.
        os.close(write_end)
        reader.join()
    return None if answer is None else answer.exit_code


def _in_new_process(
    args: list[str], environment: Mapping[str, str], cwd: Path, on_line: Callable[[str], None]
) -> int:
    with subprocess.Popen(
        [sys.executable, "-m", "flows.warehouse.dbt_process", *args],
        env=dict(environment),
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as process:
        assert process.stdout is not None
        try:
            _forward(process.stdout, on_line)
            return process.wait()
        except BaseException:
            process.kill()  # the caller gave up (an interrupt): dbt goes with it
            raise


def _forward(stream: IO[str], on_line: Callable[[str], None]) -> None:
    with stream:
        for line in stream:
            on_line(line.rstrip("\n"))


def _die_with_caller() -> None:
    """In the new interpreter: end when the caller's pipe on standard input closes."""
    with contextlib.suppress(OSError):
        while os.read(0, 1 << 12):
            pass
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    from flows.warehouse.dbt_command import run_here, use_fork_context  # noqa: PLC0415

    # This process ends without the teardown that would unlink dbt's semaphores.
    use_fork_context()
    threading.Thread(target=_die_with_caller, daemon=True).start()
    code = run_here(sys.argv[1:])
    # No interpreter teardown: it would free dbt's objects one by one, and the
    # thread above must not outlive it. dbt has written its results and logs.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
