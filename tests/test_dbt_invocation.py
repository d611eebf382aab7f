"""flows.warehouse.dbt_invocation's reading of a dbt process: its log lines, its failures
named by node from run_results.json, never another command's results."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from flows.warehouse.dbt_invocation import (
    DbtInvocation,
    DbtLog,
    node_kind_and_name,
    node_results,
)
from flows.warehouse.dbt_process import run_apart
from flows.warehouse.lakehouse import DbtFailed
from tests.test_dbt_command import tiny_project


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _run(project: Path, *args: str) -> tuple[int, DbtLog, _Kept]:
    logger = logging.getLogger(f"test-dbt-invocation-{len(args)}-{os.getpid()}")
    kept = _Kept()
    logger.addHandler(kept)
    logger.setLevel(logging.DEBUG)
    log = DbtLog(logger)
    command = [*args, "--project-dir", str(project), "--profiles-dir", str(project)]
    command += ["--log-format", "json", "--log-level", "info", "--no-use-colors"]
    code, in_worker = run_apart(command, dict(os.environ), project, project / "target", log.line)
    assert not in_worker  # no worker listens for this folder
    return code, log, kept


def test_a_failure_names_its_node_and_dbts_lines_reach_the_log(tmp_path) -> None:
    project = tiny_project(tmp_path / "tiny")
    code, log, kept = _run(project, "run")
    assert code == 1
    nodes = node_results(project / "target" / "run_results.json", log.invocation_id)
    assert {(n.name, n.resource_type, n.status) for n in nodes} == {
        ("builds", "model", "success"),
        ("breaks", "model", "error"),
    }
    invocation = DbtInvocation(["run"], False, 1.0, nodes, log.error_summary(code))
    with pytest.raises(DbtFailed, match=r"(?s)breaks error: .*no_such_table"):
        invocation.raise_for_failure()
    messages = [(r.levelno, r.getMessage()) for r in kept.records]
    assert any("OK created sql view model main.builds" in m for _, m in messages)
    assert any(level == logging.ERROR and "no_such_table" in m for level, m in messages)


def test_results_of_another_command_are_not_taken_for_this_ones(tmp_path) -> None:
    project = tiny_project(tmp_path / "tiny")
    code, first, _ = _run(project, "run", "--select", "builds")
    assert code == 0
    results = project / "target" / "run_results.json"
    assert [n.name for n in node_results(results, first.invocation_id)] == ["builds"]
    # A command that stops before running a node leaves the last results in place.
    code, second, _ = _run(project, "run", "--select", "no_such_model", "--vars", "{bad")
    assert code == 2
    assert second.invocation_id != first.invocation_id
    assert node_results(results, second.invocation_id) == []
    assert second.error_summary(code)  # what dbt said, for the failure's message


@pytest.mark.parametrize(
    ("unique_id", "kind", "name"),
    [
        ("model.streamlake.events", "model", "events"),
        ("test.streamlake.unique_events_event_id.7a5e625cfc", "test", "unique_events_event_id"),
        ("test.streamlake.gold_revenue_matches_silver", "test", "gold_revenue_matches_silver"),
        (
            "unit_test.streamlake.top_events.a_late_event_lands_in_its_old_period",
            "unit_test",
            "a_late_event_lands_in_its_old_period",
        ),
        ("seed.streamlake.event_types", "seed", "event_types"),
    ],
)
def test_a_nodes_kind_and_name_come_from_its_unique_id(unique_id, kind, name) -> None:
    assert node_kind_and_name(unique_id) == (kind, name)
