"""The aws target, built offline: dbt-athena against the Athena emulator, on a local lake's Bronze.

`streamlake emulate-athena build|transform --lake-root DIR` starts the emulator
(athena_emulator/: moto's server on 127.0.0.1 with Athena's front end,
executing every statement on DuckDB) in this process, sets up what the CDK
app sets up on AWS (the workgroup, the bucket, the Glue databases and the
Bronze tables with partition projection), puts DIR's Bronze and quarantine
files into the emulator's S3 under the same keys the handlers write on AWS,
and runs dbt with `--target aws` against it:

- build: `dbt seed` and a whole `dbt build` (every model and test), optionally
  `--full-refresh`;
- transform: what the scheduled transform flow runs (flows/transform.py): the
  Bronze check, then its scheduled `dbt build` selection with its test scope.

The emulator keeps its state under DIR/_athena_emulated/ between calls, so a
call after more Bronze has landed is an incremental run on the same Iceberg
tables:

    glue.json           the Glue catalog (databases, tables, views)
    iceberg.ducklake    the Iceberg tables (a DuckLake catalog; their data files
                        in iceberg.ducklake.files/)
    s3/                 the emulator's S3 objects other than Bronze and results
    bronze.json         the Bronze and quarantine files the emulator's S3 holds
    tables/<layer>/     every Silver and Gold table, as Parquet, after each call
    runs.jsonl          one line per dbt invocation: statements, bytes, cost, time
    scheduled_build.json the files the last whole build saw (what a transform selects by)
    statements.log      every statement of the last call, with its outcome
    dbt/                dbt's target folder, logs and the output of each invocation

moto keeps S3 in memory, so each call puts the Bronze files back from DIR
(the same bytes under the same keys); `bronze.json` tells which are new since
the last call. A call interrupted half-way may leave the table rows and the
catalog out of step: `build --full-refresh` starts the tables afresh.
"""

from __future__ import annotations

import fcntl
import json
import math
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.bronze_changes import BuildRecord, BuildSelection, plan
from flows.bronze_check import BronzeCheck, bronze_files, check_bronze
from flows.warehouse.lakehouse import PROJECT_DIR, TestScope, dbt_environment
from ingestion.application import current_application
from ingestion.bronze_catalog import BronzeTable, bronze_tables, glue_table_input
from ingestion.settings import Settings
from ingestion.store import LakeStore

if TYPE_CHECKING:
    from athena_emulator.server import AthenaEmulator, Statement

STATE_FOLDER = "_athena_emulated"
BUCKET = "streamlake-emulated"
LAKE_URI = f"s3://{BUCKET}/lake"
RESULTS_PREFIX = "athena-results/"
WORKGROUP = "streamlake"
KINDS = ("SELECT", "CTAS", "MERGE", "INSERT", "DELETE", "DDL", "OTHER")
# Athena's price: $5 per TB scanned (billed bytes: rounded up to the megabyte,
# at least 10 MB per query, none for DDL or failed queries; see server.py).
# TB as Athena's console and bills count it, 2**40 bytes.
USD_PER_TB = 5.0
TB = 2**40
# The month of the monthly figures: 30 days.
MONTH_SECONDS = 30 * 24 * 3600
# What a statement would take on Athena, modeled (the emulator's own time says
# nothing about it). Athena reports each query's time in parts
# (QueryRuntimeStatisticsTimeline: queue, service pre-processing, planning,
# engine execution, service processing): for a small query the fixed parts
# dominate. One published GetQueryExecution of a 79 MB scan: 295 ms queued,
# 798 ms planning, 5,083 ms engine, 68 ms service processing, so about 1.2 s
# of overhead and about 16 MB/s of engine time per MB scanned. dbt-athena
# then sees a query finish at its next poll: it polls every `poll_interval`,
# 1.0 s by default (dbt/adapters/athena/connections.py), so a statement takes
# a whole number of seconds. DDL goes to Glue only (no engine): its overhead
# alone. An assumption to replace with your workgroup's own statistics.
ATHENA_OVERHEAD_S = 1.2
ATHENA_DDL_OVERHEAD_S = 0.5
ATHENA_SCAN_BYTES_PER_S = 16 * 2**20
DBT_ATHENA_POLL_S = 1.0
# The folders of the lake the emulator's S3 gets from DIR at every call.
LANDED_FOLDERS = ("bronze", "quarantine")
# The files the last successful build saw (flows/bronze_changes.py), in the state folder.
BUILD_RECORD = "scheduled_build.json"
# "12:00:01  3 of 141 OK created sql incremental model ...": one node done.
_NODE_DONE = re.compile(r"\b(\d+) of (\d+) (OK|PASS|WARN|ERROR|FAIL|SKIP|NO-OP)\b")
_NODE_FAILED = re.compile(r"\b\d+ of \d+ (ERROR|FAIL)\b")


class EmulatorUnavailable(RuntimeError):
    """The emulator's packages are not installed (the 'emulator' dependency group)."""


class OutdatedEmulatorState(RuntimeError):
    """The lake's emulator state was written by an emulator that held Iceberg
    tables otherwise: its tables cannot be carried over."""


class EmulationFailed(RuntimeError):
    """A dbt invocation failed against the emulator; the message says what Athena said."""


class EmulatorBusy(RuntimeError):
    """Another emulate-athena call holds the lake's emulator state."""


@dataclass(frozen=True)
class RunRecord:
    """One dbt invocation against the emulator, as runs.jsonl keeps it."""

    command: str
    statements: int
    statements_by_kind: dict[str, int]
    bytes_scanned: int
    billed_bytes: int
    cost_usd: float
    wall_s: float
    succeeded: bool
    started_at: str
    # The statements' modeled Athena latency, summed: the run's wall time with
    # one dbt thread (with the profile's 4 threads, at best a quarter of it).
    modeled_athena_s: float = 0.0

    @classmethod
    def of(
        cls,
        command: str,
        statements: list[Statement],
        wall_s: float,
        succeeded: bool,
        started_at: datetime,
    ) -> RunRecord:
        kinds = Counter(s.kind for s in statements)
        billed = sum(s.billed_bytes for s in statements)
        return cls(
            command=command,
            statements=len(statements),
            statements_by_kind={kind: kinds.get(kind, 0) for kind in KINDS},
            bytes_scanned=sum(s.bytes_scanned for s in statements),
            billed_bytes=billed,
            cost_usd=round(billed / TB * USD_PER_TB, 12),
            wall_s=round(wall_s, 2),
            succeeded=succeeded,
            started_at=started_at.isoformat(timespec="seconds"),
            modeled_athena_s=round(sum(modeled_latency(s) for s in statements), 1),
        )


def modeled_latency(statement: Statement) -> float:
    """Seconds the statement would take on Athena as dbt-athena sees it (see ATHENA_OVERHEAD_S)."""
    if statement.kind == "DDL":
        seconds = ATHENA_DDL_OVERHEAD_S
    else:
        seconds = ATHENA_OVERHEAD_S + statement.bytes_scanned / ATHENA_SCAN_BYTES_PER_S
    return math.ceil(seconds / DBT_ATHENA_POLL_S) * DBT_ATHENA_POLL_S


@dataclass
class EmulationReport:
    lake_root: Path
    runs: list[RunRecord] = field(default_factory=list)
    bronze_files: int = 0
    bronze_new: int = 0
    bronze_check: BronzeCheck | None = None
    # What a transform selected by new Bronze (None for a build).
    selection: BuildSelection | None = None
    tables: dict[str, int] = field(default_factory=dict)  # "silver.orders" -> rows

    @property
    def state(self) -> Path:
        return self.lake_root / STATE_FOLDER


# on_progress(what, done, total, statements so far): total 0 while unknown.
Progress = Callable[[str, int, int, int], None]


def _no_progress(what: str, done: int, total: int, statements: int) -> None:
    """No display: what the Python API does unless asked."""


def _emulator_class() -> type[AthenaEmulator]:
    try:
        from athena_emulator.server import AthenaEmulator  # noqa: PLC0415
    except ModuleNotFoundError as error:
        raise EmulatorUnavailable(
            f"the Athena emulator needs the package {error.name!r} of the 'emulator' "
            "dependency group: run `make install` (or `uv sync`)"
        ) from None
    return AthenaEmulator


def lake_folder(lake_root: str | Path) -> Path:
    """The local lake the emulator reads Bronze from; one clear error if it is not one."""
    text = str(lake_root)
    if text.startswith("s3://"):
        raise ValueError(
            f"emulate-athena reads a local lake folder, not {text}: on AWS, run dbt itself"
        )
    folder = Path(text).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"lake root {folder} does not exist: run `streamlake run` first")
    if not (folder / "bronze").is_dir():
        raise FileNotFoundError(
            f"lake root {folder} holds no bronze/ folder: land some Bronze first "
            "(`streamlake run` or `streamlake simulate`)"
        )
    return folder


def emulated_settings(endpoint_url: str, region: str) -> Settings:
    """The aws target's settings against the emulator, whatever this machine's environment says."""
    return Settings(
        target="aws",
        lake_root=LAKE_URI,
        aws_region=region,
        s3_endpoint_url=endpoint_url,
        athena_workgroup=WORKGROUP,
        athena_s3_staging_dir=f"s3://{BUCKET}/{RESULTS_PREFIX}",
        warehouse_uri=f"{LAKE_URI}/warehouse",
        # Never a published SSM prefix: nothing here may reach AWS itself.
        ssm_prefix=None,
    )


class EmulatedAthena:
    """The emulator with a lake's state loaded; saved back on close."""

    def __init__(
        self,
        lake_root: str | Path,
        on_progress: Progress = _no_progress,
        project_dir: Path = PROJECT_DIR,
    ) -> None:
        """`project_dir` holds dbt_project.yml and profiles.yml (this project's by default)."""
        self.lake = lake_folder(lake_root)
        self.project_dir = project_dir.resolve()
        if not (self.project_dir / "dbt_project.yml").is_file():
            raise FileNotFoundError(f"no dbt_project.yml in {self.project_dir}")
        self.state = self.lake / STATE_FOLDER
        self.on_progress = on_progress
        self.report = EmulationReport(self.lake)
        self._emulator: AthenaEmulator | None = None
        self._lock_file: Any = None
        self._bronze_put = False
        self.settings: Settings | None = None

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> EmulatedAthena:
        if (self.state / "iceberg.duckdb").exists():
            # Before 2026-12-03 the emulator held Iceberg tables as DuckDB
            # tables; now they are DuckLake tables, with data files per write.
            raise OutdatedEmulatorState(
                f"{self.state} holds an earlier emulator's Iceberg tables (iceberg.duckdb), "
                f"which this one cannot read: remove {self.state} and run "
                "`streamlake emulate-athena build` to build them again"
            )
        emulator_class = _emulator_class()
        self.state.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.state / ".lock", "w")  # held until close
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise EmulatorBusy(
                f"another emulate-athena call is using {self.state}; wait for it to end"
            ) from None
        try:
            self._emulator = emulator_class(
                self.state / "statements.log", database=self.state / "iceberg.ducklake"
            ).start()
            self.settings = emulated_settings(self._emulator.endpoint_url, self._emulator.region)
            self._restore()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._emulator is not None and self._emulator.frontend is not None:
                self._save()
                self.report.tables = self.export_tables()
        finally:
            self._close()

    def _close(self) -> None:
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    @property
    def emulator(self) -> AthenaEmulator:
        assert self._emulator is not None, "use EmulatedAthena as a context manager"
        return self._emulator

    # ------------------------------------------------------ state: restore

    def _restore(self) -> None:
        """What the emulator held at the end of the last call, and what AWS
        would have from the CDK app: workgroup, bucket, databases, Bronze tables."""
        s3, glue = self.emulator.client("s3"), self.emulator.client("glue")
        s3.create_bucket(Bucket=BUCKET)
        self.emulator.client("athena").create_work_group(
            Name=WORKGROUP,
            Configuration={
                # As the CDK app's workgroup: results location enforced.
                "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/{RESULTS_PREFIX}"},
                "EnforceWorkGroupConfiguration": True,
            },
        )
        mirror = self.state / "s3"
        if mirror.is_dir():
            for path in sorted(p for p in mirror.rglob("*") if p.is_file()):
                s3.upload_file(str(path), BUCKET, path.relative_to(mirror).as_posix())
        saved = self.state / "glue.json"
        catalog = json.loads(saved.read_text()) if saved.exists() else {"databases": []}
        for database in catalog["databases"]:
            glue.create_database(DatabaseInput=database["input"])
            for table in database["tables"]:
                glue.create_table(DatabaseName=database["input"]["Name"], TableInput=table)
        settings = self._settings
        names = {d["input"]["Name"] for d in catalog["databases"]}
        for database in (
            settings.bronze_database,
            settings.silver_database,
            settings.gold_database,
        ):
            if database not in names:
                glue.create_database(DatabaseInput={"Name": database})
        # The Bronze tables as the CDK app defines them (ingestion/bronze_catalog.py),
        # redefined at every call so that a changed definition reaches the emulator.
        for table in self._bronze_tables:
            glue.create_table(
                DatabaseName=settings.bronze_database,
                TableInput=glue_table_input(table, LAKE_URI),
            )
        self.emulator.catalog_changed()
        engine = self.emulator.frontend.engine
        engine.adopt_tables()

    @property
    def _settings(self) -> Settings:
        assert self.settings is not None
        return self.settings

    @property
    def _bronze_tables(self) -> tuple[BronzeTable, ...]:
        """The Bronze tables of the application file (Settings.app_config), as in the CDK app."""
        return bronze_tables(current_application(self._settings.app_config))

    @property
    def store(self) -> LakeStore:
        """DIR, the lake the handlers landed into."""
        return LakeStore.from_settings(Settings(lake_root=str(self.lake)))

    def check_bronze(self) -> BronzeCheck:
        """The transform flow's first step: unreadable Bronze files to quarantine."""
        check = check_bronze(self.store)
        self.report.bronze_check = check
        return check

    def last_build(self) -> BuildRecord | None:
        """What the last successful build on the emulator's tables saw (the
        scheduled transform selects by it, as the flow does on AWS)."""
        return BuildRecord.load(self._state_store, BUILD_RECORD)

    def record_build(self, record: BuildRecord) -> None:
        record.save(self._state_store, BUILD_RECORD)

    @property
    def _state_store(self) -> LakeStore:
        return LakeStore.from_settings(Settings(lake_root=str(self.state)))

    def put_bronze(self) -> tuple[int, int]:
        """DIR's Bronze and quarantine files into the emulator's S3, under the
        keys the handlers write on AWS; returns (files, files new since the last call)."""
        s3 = self.emulator.client("s3")
        prefix = LAKE_URI.removeprefix(f"s3://{BUCKET}/")
        record_path = self.state / "bronze.json"
        before = json.loads(record_path.read_text()) if record_path.exists() else {}
        now: dict[str, list[int]] = {}
        files = sorted(
            path
            for folder in LANDED_FOLDERS
            if (self.lake / folder).is_dir()
            for path in (self.lake / folder).rglob("*")
            # A handler's file in the making is hidden until renamed into place.
            if path.is_file() and not path.name.startswith(".")
        )
        for number, path in enumerate(files, start=1):
            key = f"{prefix}/{path.relative_to(self.lake).as_posix()}"
            stat = path.stat()
            now[key] = [stat.st_size, stat.st_mtime_ns]
            s3.upload_file(str(path), BUCKET, key)
            if number % 50 == 0 or number == len(files):
                self.on_progress("Bronze into the emulator's S3", number, len(files), 0)
        new = sum(1 for key, signature in now.items() if before.get(key) != signature)
        _write_json(record_path, now)
        self._bronze_put = True
        self.report.bronze_files, self.report.bronze_new = len(files), new
        return len(files), new

    # --------------------------------------------------------------- dbt

    def dbt(self, args: list[str], test_scope: TestScope = "all") -> RunRecord:
        """One dbt command with `--target aws` against the emulator; raises
        EmulationFailed (after recording the run) when dbt fails."""
        if not self._bronze_put:
            # moto's S3 starts empty: without this, Bronze would read as empty.
            self.put_bronze()
        command = f"dbt {' '.join(args)}"
        environment = self._dbt_environment(test_scope)
        target = self.state / "dbt" / "target"
        output_path = self.state / "dbt" / "output.log"
        output_path.parent.mkdir(parents=True, exist_ok=True)
        before = len(self.emulator.statements)
        self.emulator.mark(command)
        started, clock = datetime.now(UTC), time.monotonic()
        failures: list[str] = []
        finished = 0
        with (
            output_path.open("a") as output,
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "flows.warehouse.dbt_command",
                    *args,
                    "--target",
                    "aws",
                    "--project-dir",
                    str(self.project_dir),
                    "--profiles-dir",
                    str(self.project_dir),
                    "--target-path",
                    str(target),
                ],
                cwd=self.project_dir,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ) as process,
        ):
            output.write(f"\n==== {started.isoformat(timespec='seconds')} {command}\n")
            assert process.stdout is not None
            self.on_progress(command, 0, 0, 0)
            for line in process.stdout:
                output.write(line)
                if _NODE_FAILED.search(line):
                    failures.append(line.strip())
                done = _NODE_DONE.search(line)
                if done:
                    # Counted, not read: threads finish nodes out of order.
                    finished += 1
                    self.on_progress(
                        command,
                        finished,
                        int(done.group(2)),
                        len(self.emulator.statements) - before,
                    )
            returncode = process.wait()
        statements = self.emulator.statements[before:]
        record = RunRecord.of(
            command, statements, time.monotonic() - clock, returncode == 0, started
        )
        self._keep(record)
        if returncode != 0:
            raise EmulationFailed(_failure_message(command, statements, failures, output_path))
        return record

    def skip_dbt(self, why: str) -> RunRecord:
        """A scheduled run that starts no dbt: recorded with its zero statements."""
        record = RunRecord.of(f"no dbt: {why}", [], 0.0, True, datetime.now(UTC))
        self._keep(record)
        return record

    def _keep(self, record: RunRecord) -> None:
        self.report.runs.append(record)
        with (self.state / "runs.jsonl").open("a") as runs:
            runs.write(json.dumps(asdict(record)) + "\n")

    def _dbt_environment(self, test_scope: TestScope) -> dict[str, str]:
        environment = self.emulator.process_environment()
        dbt_folder = self.state / "dbt"
        environment.update(
            {
                **dbt_environment(self._settings, test_scope),
                # A folder of the emulated lake's own: partial parsing stays
                # valid for it, and the local lake's target/ is left alone.
                "DBT_TARGET_PATH": str(dbt_folder / "target"),
                "DBT_LOG_PATH": str(dbt_folder / "logs"),
            }
        )
        return environment

    # --------------------------------------------------------- state: save

    def _save(self) -> None:
        """Glue and the S3 objects the emulator made, for the next call; the
        table rows are in iceberg.ducklake already."""
        glue, s3 = self.emulator.client("glue"), self.emulator.client("s3")
        databases = []
        for page in glue.get_paginator("get_databases").paginate():
            for database in page["DatabaseList"]:
                name = database["Name"]
                tables = [
                    _table_input(table)
                    for tables_page in glue.get_paginator("get_tables").paginate(DatabaseName=name)
                    for table in tables_page["TableList"]
                    # The Bronze tables are defined afresh at every call.
                    if name != self._settings.bronze_database
                    or table["Name"] not in {t.name for t in self._bronze_tables}
                ]
                databases.append({"input": _database_input(database), "tables": tables})
        _write_json(self.state / "glue.json", {"databases": databases})
        mirror = self.state / "s3"
        fresh = self.state / "s3.new"
        shutil.rmtree(fresh, ignore_errors=True)
        landed = tuple(
            f"{LAKE_URI.removeprefix(f's3://{BUCKET}/')}/{folder}/" for folder in LANDED_FOLDERS
        )
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.startswith((*landed, RESULTS_PREFIX)):
                    continue
                path = fresh / key
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(BUCKET, key, str(path))
        fresh.mkdir(exist_ok=True)
        shutil.rmtree(mirror, ignore_errors=True)
        fresh.rename(mirror)

    def export_tables(self) -> dict[str, int]:
        """Every Silver and Gold Iceberg table the emulator holds, as
        tables/<layer>/<table>.parquet; returns the rows of each."""
        engine = self.emulator.frontend.engine
        catalog = engine.catalog
        catalog.changed()
        folder = self.state / "tables"
        rows: dict[str, int] = {}
        for layer, database in (
            ("silver", self._settings.silver_database),
            ("gold", self._settings.gold_database),
        ):
            target = folder / layer
            target.mkdir(parents=True, exist_ok=True)
            names = sorted(t.name for t in catalog.tables(database) if t.kind == "iceberg")
            for stale in target.glob("*.parquet"):
                if stale.stem not in names:
                    stale.unlink()
            engine.sync()
            for name in names:
                path = target / f"{name}.parquet"
                engine.query(
                    f"COPY (SELECT * FROM {engine.qualified(database, name)}) "
                    f"TO '{path}' (FORMAT parquet, COMPRESSION zstd)"
                )
                (count,) = engine.query(f"SELECT count(*) FROM {engine.qualified(database, name)}")[
                    0
                ]
                rows[f"{layer}.{name}"] = int(count)
        return rows


def _table_input(raw: dict[str, Any]) -> dict[str, Any]:
    from athena_emulator.catalog import table_input  # noqa: PLC0415

    return table_input(raw)


def _database_input(raw: dict[str, Any]) -> dict[str, Any]:
    allowed = ("Name", "Description", "LocationUri", "Parameters")
    return {key: raw[key] for key in allowed if key in raw}


def _write_json(path: Path, value: Any) -> None:
    """Written whole or not at all: a half-written state file would be worse than none."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=1, default=str))
    partial.replace(path)


# dbt's query comment, which dbt-athena sends at the head of every statement.
_QUERY_COMMENT = re.compile(r"/\*\s*(\{.*?\})\s*\*/", re.DOTALL)


def dbt_node(sql: str) -> str | None:
    """The dbt node a statement came from, named from the node_id of dbt's query
    comment: `model orders_daily`, `unit test orders_daily.keeps_refunds`, `test
    not_null_...`, `seed regions`; None for a statement without one."""
    match = _QUERY_COMMENT.search(sql)
    if match is None:
        return None
    try:
        node_id = json.loads(match.group(1)).get("node_id")
    except (ValueError, AttributeError):
        return None
    if not isinstance(node_id, str) or node_id.count(".") < 2:
        return None
    kind, _, rest = node_id.partition(".")
    return f"{kind.replace('_', ' ')} {rest.partition('.')[2]}"


def _failure_message(
    command: str, statements: list[Statement], failures: list[str], output: Path
) -> str:
    """What failed, in Athena's words where a statement failed (after the dbt node
    that sent it), else dbt's."""
    reasons = []
    for statement in statements:
        if statement.outcome.state == "FAILED" and statement.outcome.reason:
            node = dbt_node(statement.sql)
            target = f" ({statement.outcome.target})" if statement.outcome.target else ""
            where = f"{node}: " if node else ""
            reasons.append(f"{where}{statement.outcome.reason.splitlines()[0]}{target}")
    what = "; ".join(dict.fromkeys(reasons)) or "; ".join(failures[:5]) or "see dbt's output"
    return f"{command} failed on the Athena emulator: {what} (dbt's output: {output})"


@contextmanager
def emulated(
    lake_root: str | Path, on_progress: Progress = _no_progress, project_dir: Path = PROJECT_DIR
) -> Iterator[EmulatedAthena]:
    with EmulatedAthena(lake_root, on_progress, project_dir) as athena:
        yield athena


def emulate_build(
    lake_root: str | Path,
    full_refresh: bool = False,
    on_progress: Progress = _no_progress,
    project_dir: Path = PROJECT_DIR,
    select: Sequence[str] = (),
) -> EmulationReport:
    """`dbt seed` and a whole `dbt build --target aws` (every test) against the emulator,
    or only the nodes `select` names (dbt's node selection syntax)."""
    extra = ["--full-refresh"] if full_refresh else []
    selection = ["--select", *select] if select else []
    with emulated(lake_root, on_progress, project_dir) as athena:
        athena.put_bronze()
        _, done = plan(athena.store, bronze_files(athena.store), None, datetime.now(UTC).date())
        athena.dbt(["seed", *extra])
        # buildable: the tests of the selection, not those that also read tables
        # outside it and its parents (eager, dbt's default, would run a singular
        # test over tables a fresh state has not built yet).
        indirect = ["--indirect-selection", "buildable"] if select else []
        athena.dbt(["build", *extra, *selection, *indirect])
        if not select:
            athena.record_build(done)
    return athena.report


def emulate_transform(
    lake_root: str | Path, on_progress: Progress = _no_progress, project_dir: Path = PROJECT_DIR
) -> EmulationReport:
    """What the scheduled transform flow runs on the aws target, against the emulator:
    the Bronze check, then its scheduled `dbt build` with its test scope."""
    # Imported here: flows.transform imports Prefect, which takes seconds.
    from flows.transform import SCHEDULED_BUILD, SCHEDULED_TEST_SCOPE  # noqa: PLC0415

    with emulated(lake_root, on_progress, project_dir) as athena:
        check = athena.check_bronze()
        athena.put_bronze()
        chosen, done = plan(
            athena.store, check.files, athena.last_build(), datetime.now(UTC).date()
        )
        athena.report.selection = chosen
        on_progress(f"scheduled build: {chosen.describe()}", 0, 0, 0)
        if chosen.is_empty:
            athena.skip_dbt(chosen.describe())
        else:
            athena.dbt(SCHEDULED_BUILD + chosen.dbt_args(), SCHEDULED_TEST_SCOPE)
            athena.record_build(done)
    return athena.report


def monthly_cost(record: RunRecord, interval_seconds: float) -> float:
    """A run's cost times the runs a 30-day month holds at the given cadence."""
    return record.cost_usd * math.floor(MONTH_SECONDS / interval_seconds)
