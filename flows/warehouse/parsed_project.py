"""The dbt project as the dbt worker parsed it, and whether a command may reuse that parse.

Every dbt command starts by checking its partial parse (reading
target/partial_parse.msgpack, hashing every project file) and writing
manifest.json: about 0.8 s of an incremental `dbt run` on the 2-core VM with
nothing changed. The worker (flows/warehouse/dbt_worker.py) parses the project once and
hands its manifest to the commands it forks (dbtRunner(manifest=...), dbt's
own way of skipping the parse) for as long as nothing a parse reads has
changed. Anything else runs dbt's usual path, partial parse included, so a
reuse can only skip work, never hide a change:

- the project's files: every file under the model, macro, test, seed,
  snapshot and analysis folders, dbt_project.yml and profiles.yml, by path,
  size and modification time;
- the environment: every STREAMLAKE_* and DBT_* variable, except the test
  scope and a scheduled build's new Bronze files, which the project reads
  while models and tests run, never while parsing (flows/warehouse/lakehouse.py),
  and any other variable the parse recorded (Manifest.env_vars);
- the command: one that runs against the parsed project (run, build, test,
  ...), naming the project's folder as its project and profiles folder (as
  every dbt command the project starts does), with no flag that changes what
  a parse produces (--vars, --target, --profile, --no-partial-parse).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.warehouse.dbt_command import flag_value
from flows.warehouse.lakehouse import NEW_BRONZE_FILES, PROJECT_DIR

PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml")
# dbt_project.yml's model-, macro-, test-, seed-, snapshot- and analysis-paths.
PROJECT_FOLDERS = tuple(
    f"dbt_project/{name}"
    for name in ("models", "macros", "tests", "seeds", "snapshots", "analyses")
)
# Read by the project's macros at run time only (see the module docstring).
RUN_TIME_VARIABLES = frozenset({"STREAMLAKE_TEST_SCOPE", NEW_BRONZE_FILES})
REUSING_COMMANDS = frozenset(
    {"run", "build", "test", "seed", "snapshot", "compile", "ls", "list", "run-operation", "show"}
)
PARSE_CHANGING_FLAGS = frozenset({"--vars", "--target", "-t", "--profile", "--no-partial-parse"})


def project_files(project_dir: Path = PROJECT_DIR) -> tuple[tuple[str, int, int], ...]:
    """(path, size, modification time in ns) of every file a parse of the project reads."""
    found = []
    candidates = [project_dir / name for name in PROJECT_FILES]
    for folder in PROJECT_FOLDERS:
        candidates.extend(path for path in (project_dir / folder).rglob("*") if path.is_file())
    for path in candidates:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        found.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(found))


def parse_environment(
    environment: Mapping[str, str], recorded: Iterable[str]
) -> dict[str, str | None]:
    """The variables a parse may depend on (the project's, and those a parse
    recorded), with their values in `environment`."""
    names = {
        name
        for name in environment
        if name.startswith(("STREAMLAKE_", "DBT_")) and name not in RUN_TIME_VARIABLES
    }
    return {name: environment.get(name) for name in sorted(names | set(recorded))}


@dataclass(frozen=True)
class ParsedProject:
    """A manifest and what it was parsed from."""

    manifest: Any
    files: tuple[tuple[str, int, int], ...]
    environment: dict[str, str | None]
    project_dir: Path = PROJECT_DIR

    @classmethod
    def of(
        cls, manifest: Any, environment: Mapping[str, str], project_dir: Path = PROJECT_DIR
    ) -> ParsedProject:
        recorded = getattr(manifest, "env_vars", None) or {}
        environment_then = parse_environment(environment, recorded)
        return cls(manifest, project_files(project_dir), environment_then, project_dir)

    def reusable_for(self, args: list[str], environment: Mapping[str, str]) -> str | None:
        """None if `dbt <args>` in `environment` may run on this parse; else why not."""
        if not args or args[0] not in REUSING_COMMANDS:
            return f"`dbt {args[0] if args else ''}` parses for itself"
        flags = {arg.split("=", 1)[0] for arg in args}
        if changing := sorted(flags & PARSE_CHANGING_FLAGS):
            return f"{changing[0]} changes what a parse produces"
        for flag in ("--project-dir", "--profiles-dir"):
            folder = flag_value(args, flag)
            # Without the flag dbt looks in the working folder and the environment.
            if folder is None:
                return f"no {flag} given"
            if Path(folder).resolve() != self.project_dir:
                return f"{flag} names another folder"
        now = parse_environment(environment, self.environment)
        if now != self.environment:
            keys = now.keys() | self.environment.keys()
            changed = sorted(k for k in keys if now.get(k) != self.environment.get(k))
            return f"environment changed since the parse: {', '.join(changed)}"
        if project_files(self.project_dir) != self.files:
            return "project files changed since the parse"
        return None


def exit_code(result: Any) -> int:
    """dbt's exit code for a dbtRunner result, as its command line exits."""
    if result.success:
        return 0
    return 2 if result.exception is not None else 1


def run_on(parsed: ParsedProject, args: list[str]) -> int:
    """`dbt <args>` on the parsed project's manifest (dbt's own reuse of a parse)."""
    from dbt.cli.main import dbtRunner  # noqa: PLC0415 (imported by the worker already)

    return exit_code(dbtRunner(manifest=parsed.manifest).invoke(args))
