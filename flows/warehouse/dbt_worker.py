"""A warm dbt process for a lake: dbt imported once, every command in a fork of it.

A dbt command in a new interpreter spends about 2 s importing dbt (mashumaro
builds the serialisers of several hundred dataclasses) and its adapter, and
about 1 s checking its partial parse and writing manifest.json, before its
first model. The worker pays that once: an incremental `dbt run` at scale 1
took 5.1 s through it against 9.3 s in a new process on the 2-core VM
(README "Benchmarks"). `streamlake dbt-worker` imports dbt
and dbt-duckdb, listens on a Unix socket named after the lake's dbt target
folder, and for each command forks: the fork takes the caller's arguments,
environment, working folder and standard streams (passed as file
descriptors), runs dbt exactly as flows.warehouse.dbt_command does in-process, and
sends back the exit code. Each command is still a process of its own, so
dbt-duckdb's process-wide DuckDB, dbt's global flags and a crash stay with
that command, and the DuckLake catalog is attached by one process at a time,
as before.

The caller (flows.warehouse.dbt_command) uses a worker when one listens for the lake
and runs dbt in-process otherwise, so a worker is an optimisation, never a
requirement. When the caller ends early, so does its command: a caller
killed outright closes the socket and the fork kills itself; SIGINT and
SIGTERM are forwarded. The worker never connects to DuckDB itself: a fork would copy
a database's open catalog and its threads' locks mid-flight. (The native
threads that numpy's OpenBLAS and Arrow's jemalloc start at import handle a
fork themselves, as they do under multiprocessing's fork.)

The worker parses the project once, and its forks reuse that parse while
nothing it was parsed from has changed (flows/warehouse/parsed_project.py); otherwise
they parse as any dbt command does. The worker keeps the Python code it
started with: restart it after changing the project's Python (the dbt
plugin, this package).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# The caller's side (run_in_worker) runs in every dbt command's process and
# imports the standard library only; the worker's side imports the rest.
if TYPE_CHECKING:
    from flows.warehouse.parsed_project import ParsedProject
    from ingestion.settings import Settings

_STREAMS = (0, 1, 2)
# The fork's answer: exit code and its peak resident memory, one line.
_ANSWER_END = b"\n"


def socket_path(target_path: str | os.PathLike[str]) -> Path:
    """The worker's socket for a dbt target folder (one worker per lake).

    In the temporary folder, named by a hash of the target folder, because a
    Unix socket's path must stay under about 100 bytes."""
    digest = hashlib.sha256(str(Path(target_path).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"streamlake-dbt-{digest}.sock"


@dataclass(frozen=True)
class WorkerResult:
    exit_code: int
    peak_mb: float  # VmHWM of the process that ran dbt


def run_in_worker(
    path: Path,
    args: list[str],
    environment: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    streams: tuple[int, int, int] = _STREAMS,
) -> WorkerResult | None:
    """Run `dbt <args>` in the worker listening at `path`; None when none listens.

    The command gets this process's environment, working folder and standard
    streams unless told others (`streams`: the file descriptors it takes as its
    standard input, output and error, e.g. a pipe the caller reads)."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(str(path))
    except OSError:  # no socket file, or a stale one a stopped worker left
        client.close()
        return None
    with client:
        request = json.dumps(
            {
                "args": args,
                "env": dict(os.environ if environment is None else environment),
                "cwd": os.fspath(cwd) if cwd is not None else os.getcwd(),
            }
        )
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        socket.send_fds(client, [request.encode() + b"\n"], list(streams))
        with _forwarding_signals(client):
            answer = _read_until_end(client)
    if not answer.endswith(_ANSWER_END):
        print("dbt's process in the worker ended without an exit code", file=sys.stderr)
        return WorkerResult(1, 0.0)
    code, peak = answer.split()
    return WorkerResult(int(code), float(peak))


@contextlib.contextmanager
def _forwarding_signals(client: socket.socket):
    """SIGINT and SIGTERM to the caller reach dbt in the fork (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            client.sendall(b"INT\n" if signum == signal.SIGINT else b"TERM\n")

    saved = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _read_until_end(connection: socket.socket) -> bytes:
    received = b""
    while not received.endswith(_ANSWER_END):
        chunk = connection.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


# What a fork does with a request's arguments and environment: a note for the
# worker's log, and the command to run.
Prepare = Callable[[list[str], dict[str, str]], tuple[str, Callable[[], int]]]


def serve(
    path: Path,
    prepare: Prepare,
    ready: Callable[[], None] = lambda: None,
    parent: int | None = None,
) -> None:
    """Accept commands at `path` until SIGTERM or SIGINT (or until the process
    `parent` is gone, when given); each runs in a fork."""
    listener = _listen(path)

    def stop(_signum: int, _frame: object) -> None:
        listener.close()  # the accept below then fails, and the loop ends

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if parent is not None:
        threading.Thread(target=_stop_without, args=(parent,), daemon=True).start()
    # Forks are reaped by the kernel: the worker never waits for a command.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    ready()
    try:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed by stop()
                break
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            if os.fork() == 0:
                listener.close()
                _run_command(connection, prepare)  # never returns
            connection.close()
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _stop_without(parent: int) -> None:
    """The worker's own SIGTERM once `parent` (e.g. `streamlake serve`, killed
    outright) has gone: its forks need no worker, and nothing is left listening.
    A thread that holds no lock, so a fork made meanwhile inherits nothing of it."""
    while os.getppid() == parent:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)


def _listen(path: Path) -> socket.socket:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with probe:
        try:
            probe.connect(str(path))
        except OSError:
            pass  # nobody listens: a stale file, if any, is ours to replace
        else:
            raise WorkerRunning(f"a dbt worker already listens at {path}")
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)  # the socket runs commands as this user: this user only
    try:
        listener.bind(str(path))
    finally:
        os.umask(previous)
    listener.listen(16)
    return listener


class WorkerRunning(RuntimeError):
    """Another worker already serves this lake."""


def _run_command(connection: socket.socket, prepare: Prepare) -> None:
    """In the fork: become the caller's dbt process, run, answer, exit."""
    code = 1
    try:
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        request, streams = _receive_request(connection)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["dbt", *request["args"]]
        note, command = prepare(request["args"], request["env"])
        # One line in the worker's own output per command, before the fork takes the caller's.
        print(f"dbt {' '.join(request['args'])} (process {os.getpid()}; {note})", flush=True)
        for fd, stream in zip(streams, _STREAMS, strict=True):
            os.dup2(fd, stream)
            os.close(fd)
        threading.Thread(target=_follow_caller, args=(connection,), daemon=True).start()
        code = command()
    except BaseException as exc:  # the fork must answer, whatever happened
        print(f"dbt worker: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            connection.sendall(f"{code} {peak_mb()}".encode() + _ANSWER_END)
        os._exit(code)


def _receive_request(connection: socket.socket) -> tuple[dict, list[int]]:
    """The caller's request and its standard streams (file descriptors)."""
    data, fds, _flags, _address = socket.recv_fds(connection, 1 << 16, len(_STREAMS))
    if len(fds) != len(_STREAMS):
        raise RuntimeError(f"expected the caller's 3 standard streams, got {len(fds)}")
    while not data.endswith(b"\n"):
        chunk = connection.recv(1 << 16)
        if not chunk:
            raise RuntimeError("the caller went away before its request was complete")
        data += chunk
    return json.loads(data), fds


def _follow_caller(connection: socket.socket) -> None:
    """The caller's signals, and its end: a caller gone means no one awaits this command.

    Once the fork has sent its answer the caller may close first, and this
    kills a fork that is exiting anyway: the exit code has been delivered."""
    while True:
        try:
            message = connection.recv(64)
        except OSError:
            message = b""
        if not message:
            os.kill(os.getpid(), signal.SIGKILL)
        for line in message.split():
            os.kill(os.getpid(), signal.SIGINT if line == b"INT" else signal.SIGTERM)


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM, Linux), in MB; 0 where unknown."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0.0
    if "VmHWM:" not in status:
        return 0.0
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


class WarmUpFailed(RuntimeError):
    """The worker's parse of the project failed (dbt's output says why)."""


def warm_up(settings: Settings) -> ParsedProject:
    """`dbt parse` of the project for this lake, in the worker, before it serves.

    The forks start with what a parse fills (dbt's Jinja environment, the
    adapter's macros, the artifacts' deserialisers), and reuse its manifest
    while nothing it was parsed from changes (flows/warehouse/parsed_project.py). A
    parse opens no DuckDB connection, so the worker stays safe to fork."""
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 (preloaded)

    from flows.warehouse.lakehouse import PROJECT_DIR, dbt_environment  # noqa: PLC0415
    from flows.warehouse.parsed_project import ParsedProject  # noqa: PLC0415

    os.environ.update(dbt_environment(settings))
    project = str(PROJECT_DIR)
    result = dbtRunner().invoke(
        ["parse", "--quiet", "--project-dir", project, "--profiles-dir", project]
    )
    if not result.success:
        raise WarmUpFailed(f"dbt could not parse the project: {result.exception or 'see above'}")
    gc.freeze()  # the manifest stays for the worker's life
    return ParsedProject.of(result.result, os.environ)


def commands(parsed: ParsedProject) -> Prepare:
    """A fork runs as flows.warehouse.dbt_command runs dbt in-process, on the worker's parse
    when it may."""
    from flows.warehouse.dbt_command import (  # noqa: PLC0415 (it imports this module)
        run_here,
        run_parsed,
        take_lease_flag,
    )

    def prepare(args: list[str], environment: dict[str, str]) -> tuple[str, Callable[[], int]]:
        # In the fork: its AWS writes check the caller's lease from here on.
        args = take_lease_flag(args)
        why_not = parsed.reusable_for(args, environment)
        if why_not is None:
            return "the worker's parse", lambda: run_parsed(parsed, args)
        return f"parses: {why_not}", lambda: run_here(args)

    return prepare


def preload() -> None:
    """What every command imports, imported once here with the collector off."""
    from flows.warehouse.dbt_command import use_fork_context  # noqa: PLC0415

    gc.disable()
    try:
        # A fork ends with os._exit, which leaves dbt's semaphores behind otherwise.
        use_fork_context()
        import dbt.adapters.duckdb  # noqa: PLC0415
        import dbt.adapters.duckdb.impl  # noqa: PLC0415
        import dbt.cli.main  # noqa: PLC0415
        import dbt.task.run  # noqa: F401, PLC0415

        import flows.warehouse.dbt_duckdb_plugin  # noqa: F401, PLC0415
    finally:
        gc.freeze()
        gc.enable()
