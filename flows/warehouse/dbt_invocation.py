"""dbt for a Prefect flow: one task per dbt invocation, dbt's lines in the run's log,
node results kept for the report.

Each invocation is one Prefect task ("dbt build", ...) when called inside a
flow, with dbt's log lines (each node's start and result, warnings, errors)
in that task's log. It used to be prefect-dbt's PrefectDbtRunner, which makes
every model and test a Prefect task of its own: a scheduled run of ~100 nodes
took 27.6 s longer than a bare `dbt build` of the same increment at scale 1
(`bench/dbt_build.py --transform-flow`, README "Benchmarks"), for task runs
the Prefect UI showed in a list nobody reads. What a user looks for is in the
run's artifact (rows changed per model, tests passed, warned and failed) and
in the failure, which names the failing node (DbtInvocation.raise_for_failure).

dbt runs in a process apart (flows/warehouse/dbt_process.py): a fork of the
lake's dbt worker when one listens (`streamlake serve` keeps one running), a
new interpreter otherwise. This process imports no dbt: a served flow run
starts in a new process, and dbt's import and parse would be seconds of each
run. dbt writes its log as JSON lines through a pipe, read here as they come
(level and message; debug-level chatter stays in dbt's file log), and the
node results come from the run_results.json it writes at the end, matched by
its invocation id. Everything dbt holds (dbt-duckdb's DuckDB, the DuckLake
catalog it attached) ends with its process, so the flow can read the lake
itself afterwards.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import task
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger

from flows.warehouse.dbt_process import run_apart
from flows.warehouse.lakehouse import (
    PROJECT_DIR,
    DbtFailed,
    TestScope,
    dbt_environment,
    dbt_target_path,
    lease_guard,
)
from ingestion.settings import Settings

# Errors worth a retry: throttling and server-side failures of S3, Glue and
# Athena, and a catalog file briefly locked by a reader. A failing data test is
# never one of them.
_TRANSIENT = re.compile(
    r"Throttl|TooManyRequests|SlowDown|Rate exceeded|ServiceUnavailable|"
    r"InternalError|InternalServerError|\b50[0234]\b|RequestTimeout|"
    r"Connection reset|Could not set lock on file",
    re.IGNORECASE,
)
_TEST_TYPES = {"test", "unit_test"}


class DbtTestsFailed(DbtFailed):
    """Data tests failed: the data is wrong, and running again will not make it right."""


class DbtTransientError(DbtFailed):
    """A failure a retry may cure (throttling, 5xx, a briefly locked catalog)."""


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    name: str
    resource_type: str
    status: str
    seconds: float
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("error", "fail")


@dataclass
class DbtInvocation:
    args: list[str]
    success: bool
    seconds: float
    nodes: list[NodeResult] = field(default_factory=list)
    error: str | None = None
    # Rows each table of the run changed ("silver.events": 1500), as dbt said at
    # its end (dbt_project/macros/rows_changed.sql); empty where it says nothing (aws).
    rows_changed: dict[str, int] = field(default_factory=dict)

    @property
    def models(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.resource_type in ("model", "seed", "snapshot")]

    @property
    def tests(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.resource_type in _TEST_TYPES]

    @property
    def failures(self) -> list[NodeResult]:
        return [n for n in self.nodes if n.failed]

    @property
    def warnings(self) -> list[NodeResult]:
        """Plausibility tests with failing rows: they warn and never stop the build."""
        return [n for n in self.tests if n.status == "warn"]

    def raise_for_failure(self) -> None:
        """Raise the failure's kind: transient (retry), data tests (never retry), or other."""
        if self.success:
            return
        summary = "; ".join(f"{n.name} {n.status}: {n.message}" for n in self.failures[:5])
        summary = summary or self.error or "dbt failed without naming a node"
        if any(n.resource_type in _TEST_TYPES and n.status == "fail" for n in self.failures):
            raise DbtTestsFailed(f"dbt {' '.join(self.args)}: data tests failed: {summary}")
        texts = [n.message for n in self.failures] + [self.error or ""]
        if any(_TRANSIENT.search(text) for text in texts if text):
            raise DbtTransientError(f"dbt {' '.join(self.args)}: transient failure: {summary}")
        raise DbtFailed(f"dbt {' '.join(self.args)} failed: {summary}")


def invoke_dbt(settings: Settings, args: list[str], test_scope: TestScope = "all") -> DbtInvocation:
    """Run one dbt command in a process apart: a Prefect task of its own inside a flow."""
    if FlowRunContext.get() is None:
        return _invoke(settings, args, test_scope, logger=None)
    run_as_task = task(_invoke_logged, name=f"dbt {args[0]}" if args else "dbt")
    return run_as_task(settings, args, test_scope)


def _invoke_logged(settings: Settings, args: list[str], test_scope: TestScope) -> DbtInvocation:
    return _invoke(settings, args, test_scope, get_run_logger())


def _invoke(
    settings: Settings, args: list[str], test_scope: TestScope, logger: Any
) -> DbtInvocation:
    target = dbt_target_path(settings)
    command = [
        # On aws, dbt checks the writer lease this run holds before each write.
        *lease_guard(),
        *args,
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(target),
        # JSON lines on the pipe, read below; dbt's file log stays as it was.
        "--log-format",
        "json",
        "--log-format-file",
        "debug",
        "--log-level",
        "info",
        "--no-use-colors",
    ]
    log = DbtLog(logger)

    def fallback() -> None:
        log.emit(
            logging.WARNING,
            "no dbt worker listens for this lake (`streamlake serve` restarts one that "
            "stopped): dbt runs in a new process, seconds slower",
        )

    started = time.monotonic()
    environment = {**os.environ, **dbt_environment(settings, test_scope)}
    code, _ = run_apart(command, environment, PROJECT_DIR, target, log.line, fallback)
    seconds = time.monotonic() - started
    nodes = node_results(target / "run_results.json", log.invocation_id)
    error = None if code == 0 else log.error_summary(code)
    return DbtInvocation(list(args), code == 0, seconds, nodes, error, log.rows_changed)


# dbt's events at these levels reach the run's log: per node its start and result
# line, plus warnings and errors.
_LOGGED_LEVELS = {"info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
# The project's on-run-end line (dbt_project/macros/rows_changed.sql), read, not logged.
ROWS_CHANGED = "rows changed by this run: "


class DbtLog:
    """dbt's JSON log lines, to the run's log (or this process's output outside a
    run); what the result needs from them: the invocation id, the errors."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.invocation_id: str | None = None
        self.errors: list[str] = []
        self.rows_changed: dict[str, int] = {}

    def line(self, text: str) -> None:
        try:
            event = json.loads(text)
            info = event["info"]
            level, message = _LOGGED_LEVELS.get(info["level"]), str(info["msg"])
        except (ValueError, KeyError, TypeError):
            # Not dbt's log: Python's own output (a warning, a traceback, the worker's note).
            if text.strip():
                self.emit(logging.WARNING, text)
            return
        self.invocation_id = self.invocation_id or info.get("invocation_id")
        if level is None or not message:
            return
        if message.startswith(ROWS_CHANGED):
            with contextlib.suppress(ValueError):
                self.rows_changed = {
                    str(name): int(rows)
                    for name, rows in json.loads(message.removeprefix(ROWS_CHANGED)).items()
                }
            return
        if level == logging.ERROR:
            self.errors.append(message)
        self.emit(level, message)

    def emit(self, level: int, message: str) -> None:
        if self.logger is not None:
            self.logger.log(level, message)
        else:
            print(message, flush=True)

    def error_summary(self, code: int) -> str:
        # Failing nodes are named by their results; this says what else went wrong.
        return "; ".join(self.errors[-3:]) or f"dbt exited with code {code}"


def node_results(path: Path, invocation_id: str | None) -> list[NodeResult]:
    """The nodes of run_results.json, if this invocation wrote it (a run that died
    early leaves the previous command's file, which says nothing of this one)."""
    try:
        run_results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if invocation_id is None or run_results.get("metadata", {}).get("invocation_id") != (
        invocation_id
    ):
        return []
    nodes = []
    for item in run_results.get("results") or []:
        unique_id = str(item["unique_id"])
        kind, name = node_kind_and_name(unique_id)
        nodes.append(
            NodeResult(
                unique_id=unique_id,
                name=name,
                resource_type=kind,
                status=str(item.get("status")),
                seconds=float(item.get("execution_time") or 0),
                message=str(item.get("message") or ""),
            )
        )
    return nodes


def node_kind_and_name(unique_id: str) -> tuple[str, str]:
    """A node's resource type and name from its unique id: `model.<package>.<name>`,
    `test.<package>.<name>[.<hash>]`, `unit_test.<package>.<model>.<name>`."""
    parts = unique_id.split(".")
    kind = parts[0]
    if kind == "unit_test" and len(parts) >= 4:
        return kind, parts[3]
    return kind, parts[2] if len(parts) >= 3 else unique_id
