"""dbt inside a Prefect flow: one task per dbt invocation, node results kept for the report.

dbt runs in this process through its programmatic runner (dbtRunner), as one
Prefect task ("dbt build", ...) when called inside a flow, with dbt's log lines
(each node's start and result, warnings, errors) sent to that task's log. It
used to be prefect-dbt's PrefectDbtRunner, which makes every model and test a
Prefect task of its own: a scheduled run of ~100 nodes took 27.6 s longer than
a bare `dbt build` of the same increment at scale 1, now 0.5 s less
(`bench/dbt_build.py --transform-flow`, README "Benchmarks"), for task runs
the Prefect UI showed in a list nobody reads. What a user looks for is in the
run's artifact (rows changed per model, tests passed, warned and failed) and
in the failure, which names the failing node (DbtInvocation.raise_for_failure).

dbt-duckdb keeps its DuckDB (and so the DuckLake catalog) open for the life of
the process, and a catalog can be attached once per process, so every
invocation ends by closing it: the flow can then read the lake itself (row
counts, alerts) and the next invocation attaches afresh.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dbt.adapters.duckdb.connections import DuckDBConnectionManager
from dbt.cli.main import dbtRunner
from dbt_common.events.base_types import EventLevel, EventMsg
from prefect import task
from prefect.context import FlowRunContext
from prefect.logging import get_run_logger

from flows.warehouse.lakehouse import (
    PROJECT_DIR,
    DbtFailed,
    TestScope,
    dbt_environment,
    dbt_target_path,
    environment_set,
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
    """Run one dbt command in this process: a Prefect task of its own inside a flow."""
    if FlowRunContext.get() is None:
        return _invoke(settings, args, test_scope, forward_logs=False)
    run_as_task = task(_invoke, name=f"dbt {args[0]}" if args else "dbt")
    return run_as_task(settings, args, test_scope, forward_logs=True)


def _invoke(
    settings: Settings, args: list[str], test_scope: TestScope, forward_logs: bool
) -> DbtInvocation:
    callbacks = [_logged_to(get_run_logger())] if forward_logs else []
    # In a run dbt's own console output is off: its lines go to the run's log instead.
    paths = [
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(dbt_target_path(settings)),
        "--log-level",
        "none" if forward_logs else "info",
        *(["--no-use-colors"] if forward_logs else []),
    ]
    started = time.monotonic()
    error = None
    result: Any = None
    try:
        with environment_set(dbt_environment(settings, test_scope)):
            result = dbtRunner(callbacks=callbacks).invoke([*args, *paths])
        if result.exception is not None:
            error = str(result.exception)
    except Exception as exc:  # dbt's own exception (bad project, adapter failure)
        error = str(exc)
    finally:
        release_dbt_connections()
    seconds = time.monotonic() - started
    nodes = _node_results(result)
    success = error is None and bool(result is not None and result.success)
    return DbtInvocation(list(args), success, seconds, nodes, error)


# dbt's events at these levels reach the run's log: per node its start and result
# line, plus warnings and errors; debug-level chatter (queries, timings) does not.
_LOGGED_LEVELS = {
    EventLevel.INFO: logging.INFO,
    EventLevel.WARN: logging.WARNING,
    EventLevel.ERROR: logging.ERROR,
}


def _logged_to(logger: Any) -> Callable[[EventMsg], None]:
    def log(event: EventMsg) -> None:
        level = _LOGGED_LEVELS.get(EventLevel(event.info.level))
        if level is not None and event.info.msg:
            logger.log(level, event.info.msg)

    return log


def _node_results(result: Any) -> list[NodeResult]:
    run_results = getattr(result, "result", None)
    nodes = []
    for item in getattr(run_results, "results", None) or []:
        node = item.node
        nodes.append(
            NodeResult(
                unique_id=node.unique_id,
                name=node.name,
                resource_type=str(node.resource_type),
                status=str(item.status),
                seconds=float(item.execution_time or 0),
                message=str(item.message or ""),
            )
        )
    return nodes


def release_dbt_connections() -> None:
    """Close dbt-duckdb's process-wide DuckDB, releasing the DuckLake catalog."""
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        DuckDBConnectionManager._ENV = None
    if environment is not None:
        environment.close()
