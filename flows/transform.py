"""The transform flow: `dbt build` of Silver then Gold, a report, then the alerts.

Scheduled every few minutes. It holds the catalog's writer lock for the whole
build; a second trigger while one runs skips (scheduled) or waits (on demand),
saying so in the log. Transient failures are retried with backoff; failing data
tests are not retried, and fail the run loudly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.alerts import AlertResult, evaluate, load_rules, notify, record, rules_path
from flows.bronze_changes import BuildRecord, BuildSelection, plan
from flows.bronze_check import BronzeCheck, check_bronze
from flows.log_marks import TRANSFORM_FINISHED
from flows.warehouse.dbt_invocation import DbtInvocation, DbtTransientError, invoke_dbt
from flows.warehouse.gold_queries import warehouse_for
from flows.warehouse.lakehouse import (
    DbtFailed,
    TestScope,
    environment_set,
    new_bronze_files_environment,
)
from flows.warehouse.writer_lock import WriterBusy, catalog_writer
from ingestion.settings import Settings
from ingestion.store import LakeStore

# The scheduled build: data tests on the rows this run changed (test scope
# "changed"), the whole-table audits and the unit tests left to CI and full
# builds (unit tests test the code, which a schedule does not change).
SCHEDULED_BUILD = [
    "build",
    "--exclude-resource-type",
    "unit_test",
    "--exclude",
    "tag:full_audit",
]
# What goes with it, wherever it runs (the flow, the benchmark, the tests).
SCHEDULED_TEST_SCOPE: TestScope = "changed"
FULL_BUILD = ["build"]


def build_record_path(target: str) -> str:
    """Where the last successful scheduled build's listing is kept, per catalog."""
    return f"_state/scheduled_build_{target}.json"


@dataclass
class TransformReport:
    # up_to_date: no new Bronze since the last build, so nothing was built
    status: Literal["succeeded", "skipped", "up_to_date"]
    invocation: DbtInvocation | None = None
    rows_changed: dict[str, int] = field(default_factory=dict)
    alerts: list[AlertResult] = field(default_factory=list)
    attempts: int = 0

    @property
    def firing(self) -> list[AlertResult]:
        return [a for a in self.alerts if a.firing]


def build_with_retries(
    settings: Settings,
    args: list[str],
    attempts: int = 3,
    backoff_seconds: float = 5,
    test_scope: TestScope = "all",
) -> tuple[DbtInvocation, int]:
    """dbt, retried on transient errors only with a doubling wait; returns the last attempt."""
    logger = get_run_logger()
    for attempt in range(1, attempts + 1):
        invocation = invoke_dbt(settings, args, test_scope)
        try:
            invocation.raise_for_failure()
        except DbtTransientError as error:
            if attempt < attempts:
                wait = backoff_seconds * 2 ** (attempt - 1)
                logger.warning("attempt %d: %s; retrying in %.0f s", attempt, error, wait)
                time.sleep(wait)
                continue
        except DbtFailed:
            pass  # failing tests or a broken model: retrying cannot help
        return invocation, attempt
    raise AssertionError("unreachable: the last attempt returns")


def report_markdown(report: TransformReport) -> str:
    invocation = report.invocation
    assert invocation is not None
    tests = invocation.tests
    passed = sum(1 for t in tests if t.status == "pass")
    failed = [t for t in tests if t.status in ("fail", "error")]
    lines = [
        f"# Transform: {'succeeded' if invocation.success else 'FAILED'}",
        "",
        f"`dbt {' '.join(invocation.args)}` in {invocation.seconds:.1f} s "
        f"(attempt {report.attempts}); tests passed {passed}, "
        f"warned {len(invocation.warnings)}, failed {len(failed)}.",
        "",
        "| model | status | rows changed | seconds |",
        "|---|---|---:|---:|",
    ]
    for node in invocation.models:
        changed = report.rows_changed.get(node.name, "n/a")
        lines.append(f"| {node.name} | {node.status} | {changed} | {node.seconds:.2f} |")
    if failed:
        lines += ["", "## Failed tests", ""]
        lines += [f"- `{t.name}`: {t.message}" for t in failed]
    if invocation.warnings:
        # Plausibility tests (dbt_project/models/_test_policy.md): the data
        # surprised us, nothing was skipped; Gold data_quality counts the rows.
        lines += ["", "## Warnings (plausibility tests)", ""]
        lines += [f"- `{t.name}`: {t.message}" for t in invocation.warnings]
    return "\n".join(lines)


@flow(name="transform", log_prints=True)
def transform(
    if_busy: Literal["skip", "wait"] = "skip",
    full: bool = False,
    evaluate_alerts: bool = True,
) -> TransformReport:
    """Build Silver and Gold from new Bronze, publish a report, then evaluate the alerts."""
    settings = Settings()
    logger = get_run_logger()
    try:
        wait = 0 if if_busy == "skip" else None
        with catalog_writer(settings, "transform", wait, announce=logger.info):
            check = quarantine_unreadable_bronze(settings)
            args, scope = (FULL_BUILD, "all") if full else (SCHEDULED_BUILD, SCHEDULED_TEST_SCOPE)
            chosen, done = plan_scheduled_build(settings, check) or (None, None)
            if chosen is not None and not full:
                logger.info("scheduled build: %s", chosen.describe())
                if chosen.is_empty:
                    logger.info(TRANSFORM_FINISHED)
                    report = TransformReport("up_to_date")
                    # Rules over time windows can start firing with no new data.
                    if evaluate_alerts:
                        report.alerts = alerts_after_transform(settings)
                    return report
                args = args + chosen.dbt_args()
            # Locally a Silver model reads only the Bronze files the last build did not
            # see; with no record of one (everything), whatever its watermark reaches.
            selective = chosen is not None and not full and not chosen.everything
            only_new = new_bronze_files_environment(chosen.new_files) if selective else {}
            with environment_set(only_new):
                invocation, attempts = build_with_retries(settings, args, test_scope=scope)
            logger.info(TRANSFORM_FINISHED)
            if done is not None and invocation.success:
                done.save(LakeStore.from_settings(settings), build_record_path(settings.target))
            report = TransformReport("succeeded", invocation, attempts=attempts)
            # "silver.events" -> "events", as the report's models are named
            report.rows_changed = {
                name.split(".", 1)[-1]: rows for name, rows in invocation.rows_changed.items()
            }
            create_markdown_artifact(
                key="transform-report",
                markdown=report_markdown(report),
                description="Rows changed per model, tests passed, warned and failed, duration",
            )
            # After the report, so a failed run still shows what ran and what failed.
            invocation.raise_for_failure()
            if evaluate_alerts:
                report.alerts = alerts_after_transform(settings)
            return report
    except WriterBusy as busy:
        logger.info("transform skipped: %s", busy)
        return TransformReport("skipped")


def plan_scheduled_build(
    settings: Settings, check: BronzeCheck | None
) -> tuple[BuildSelection, BuildRecord] | None:
    """What a scheduled build selects, and the record to keep once it succeeded;
    None to build everything (selection off, or no listing to select by)."""
    if not settings.transform_changed_sources_only or check is None:
        return None
    store = LakeStore.from_settings(settings)
    last = BuildRecord.load(store, build_record_path(settings.target))
    return plan(store, check.files, last, datetime.now(UTC).date())


def quarantine_unreadable_bronze(settings: Settings) -> BronzeCheck | None:
    """Move Bronze files dbt could not read into quarantine, so one bad file fails no
    build; None when the check could not run."""
    logger = get_run_logger()
    try:
        check = check_bronze(LakeStore.from_settings(settings))
    except OSError as error:
        # E.g. a role that may read Bronze but not move files: the build goes on as it
        # would without the check (and fails on a bad file as it would have).
        logger.warning("Bronze check skipped: %s", error)
        return None
    for entry in check.quarantined:
        logger.warning("Bronze file quarantined: %s", entry.message)
    if check.quarantined:
        create_markdown_artifact(
            key="bronze-files-quarantined",
            markdown="\n".join(f"- `{e.bronze_path}`: {e.reason}" for e in check.quarantined),
            description="Unreadable Bronze files moved to quarantine before the build",
        )
    return check


def alerts_after_transform(settings: Settings) -> list[AlertResult]:
    warehouse = warehouse_for(settings)
    results = evaluate(
        load_rules(rules_path(settings)),
        warehouse,
        settings,
        on_skipped=get_run_logger().warning,
    )
    firing = [r for r in results if r.firing]
    record(firing, warehouse)
    notify(firing, settings)
    if firing:
        create_markdown_artifact(
            key="alerts-firing",
            markdown="\n".join(f"- {r.message}" for r in firing),
            description="Alert rules firing after the transform",
        )
    return results
