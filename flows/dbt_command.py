"""dbt's command line in a process of its own, with the garbage collector set for a short life.

`python -m flows.dbt_command build` takes the arguments, output and exit codes
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
"""

from __future__ import annotations

import gc
import sys


def run(args: list[str]) -> int:
    """Run one dbt command in this process, which should end soon after; returns dbt's exit code."""
    gc.disable()
    try:
        from dbt.cli.main import cli  # noqa: PLC0415 (imported with the collector off)
    finally:
        gc.freeze()
        gc.enable()
    try:
        # standalone mode: click turns every outcome into SystemExit, as `dbt` does
        cli.main(args=args, prog_name="dbt")
    except SystemExit as exit_:
        return _exit_code(exit_.code)
    finally:
        gc.freeze()
    return 0


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
