"""dbt's command line in a process of its own, with the garbage collector set for a short life.

`python -m flows.warehouse.dbt_command build` takes the arguments, output and exit codes
of `dbt build`. The difference is the cyclic garbage collector. Importing dbt
leaves about 130,000 container objects (mashumaro generates the
(de)serialisers of several hundred dataclasses), and every full collection
walks all of them: two during the import, a few while the models run, and
more while the interpreter shuts down. Those walks free next to nothing:
without them a `dbt run` after an increment took about 1.3 s less on the
2-core VM (interleaved rounds, README "Benchmarks"). So the import runs
with the collector off (its cyclic leftovers, about 1 MB, stay), and what it
built moves to the permanent generation, which collections skip. The
collector is on while dbt runs, with its usual thresholds, for the objects
the run creates; what is left at the end is frozen too, before the
interpreter frees it.

On the aws target, the process also keeps one botocore loader for all its
sessions: dbt-athena opens a new boto3 session for every connection (each
model and data test), and each new session reads and parses botocore's
service descriptions (endpoints, Athena, Glue, S3: megabytes of JSON) from
disk again, about 0.15 s of CPU a session on the 2-core VM, a third of a
`dbt build`'s CPU against the Athena emulator. The files are the installed
package's and never change while the process lives.

A process that holds the S3 writer lease runs its dbt command with
`--writer-lease-file <path>` first (flows/warehouse/lakehouse.py run_dbt): the
flag is taken off the arguments, and every AWS write of the command checks the
lease's state file first, so dbt stops before its next statement once the lease
is lost or its holder has died (flows/warehouse/writer_lock.py).

When a warm dbt worker listens for the command's target folder
(`streamlake dbt-worker`, flows/warehouse/dbt_worker.py), the command runs in a fork of
it instead, which has dbt imported already; the arguments, output and exit
code are the same.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from flows.warehouse import dbt_worker

if TYPE_CHECKING:
    from flows.warehouse.parsed_project import ParsedProject


def run(args: list[str]) -> int:
    """Run one dbt command, in the lake's dbt worker if one listens, else in this
    process, which should end soon after; returns dbt's exit code."""
    return run_measured(args)[0]


LEASE_FLAG = "--writer-lease-file"


def run_measured(args: list[str]) -> tuple[int, float]:
    """run(), and the peak resident memory (MB) of the process that ran dbt."""
    answer = dbt_worker.run_in_worker(dbt_worker.socket_path(target_path(args)), args)
    if answer is not None:
        return answer.exit_code, answer.peak_mb
    code = run_here(args)
    return code, dbt_worker.peak_mb()


def flag_value(args: list[str], *flags: str) -> str | None:
    """The value after the first of `flags` on a dbt command line (`--flag value`), if any."""
    for flag in flags:
        if flag in args[:-1]:
            return args[args.index(flag) + 1]
    return None


def target_path(args: list[str]) -> Path:
    """The target folder dbt will use: `--target-path`, DBT_TARGET_PATH, else ./target."""
    return Path(flag_value(args, "--target-path") or os.environ.get("DBT_TARGET_PATH") or "target")


def run_parsed(parsed: ParsedProject, args: list[str]) -> int:
    """run_here() on a parse of the project made earlier in this process (the dbt worker's),
    with LEASE_FLAG taken off already (take_lease_flag)."""
    from flows.warehouse.parsed_project import run_on  # noqa: PLC0415 (imports dbt)

    if _targets_aws(args):
        share_botocore_loader()
    try:
        return run_on(parsed, args)
    finally:
        close_duckdb()


def run_here(args: list[str]) -> int:
    """Run one dbt command in this process; returns dbt's exit code."""
    args = take_lease_flag(args)
    gc.disable()
    try:
        from dbt.cli.main import cli  # noqa: PLC0415 (imported with the collector off)
    finally:
        gc.freeze()
        gc.enable()
    if _targets_aws(args):
        share_botocore_loader()
    try:
        # standalone mode: click turns every outcome into SystemExit, as `dbt` does
        cli.main(args=args, prog_name="dbt")
    except SystemExit as exit_:
        return _exit_code(exit_.code)
    finally:
        close_duckdb()
        gc.freeze()
    return 0


def take_lease_flag(args: list[str]) -> list[str]:
    """The arguments without LEASE_FLAG; with it, this process's AWS writes check the
    lease first, for the rest of its life (it runs this one command)."""
    if LEASE_FLAG not in args[:-1]:
        return args
    from flows.warehouse import writer_lock  # noqa: PLC0415 (boto3: the aws target only)

    at = args.index(LEASE_FLAG)
    writer_lock.guard_writes(writer_lock.state_file_check(Path(args[at + 1])))
    return args[:at] + args[at + 2 :]


def close_duckdb() -> None:
    """Close dbt-duckdb's process-wide DuckDB, and so the DuckLake catalog it attached.

    A process that ends with os._exit (a fork of the worker,
    flows.warehouse.dbt_process) never closes it otherwise, and closing is when
    DuckDB checkpoints the catalog's write-ahead log into its file: left to
    grow, the log is replayed by every later attach, a second and more per
    command after a few hundred runs."""
    connections = sys.modules.get("dbt.adapters.duckdb.connections")
    if connections is None:  # not the local target
        return
    manager = connections.DuckDBConnectionManager
    with manager._LOCK:
        environment, manager._ENV = manager._ENV, None
    if environment is not None:
        environment.close()


def use_fork_context() -> None:
    """dbt's locks from a fork context, for a process that ends with os._exit.

    dbt's locks guard the threads of one process. From its spawn context each
    is a named semaphore that Python's resource tracker unlinks when the
    process exits normally; a process that ends with os._exit (a fork of the
    worker, flows.warehouse.dbt_process) would leave one in /dev/shm, and the
    tracker would warn of it. A fork context's semaphores are unlinked as soon
    as they are made."""
    import multiprocessing  # noqa: PLC0415

    import dbt.mp_context  # noqa: PLC0415 (a light module of dbt's)

    dbt.mp_context._MP_CONTEXT = multiprocessing.get_context("fork")


def _targets_aws(args: list[str]) -> bool:
    """The target dbt will use: `--target`/`-t`, else profiles.yml's STREAMLAKE_TARGET."""
    target = flag_value(args, "--target", "-t") or os.environ.get("STREAMLAKE_TARGET")
    return target == "aws"


def share_botocore_loader() -> None:
    """Every botocore session of this process reads the service descriptions once."""
    import botocore.loaders  # noqa: PLC0415 (the local target needs no botocore)
    import botocore.session  # noqa: PLC0415

    if not hasattr(botocore.session.create_loader, "cache_info"):
        botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main() -> None:
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
