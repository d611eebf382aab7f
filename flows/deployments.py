"""Every deployment and its schedule, declared in this one place.

`streamlake serve` serves them against the local Prefect server; on AWS the
same module runs inside a Prefect worker's environment. Intervals and the
maintenance cron come from the settings. Besides its interval, the transform
starts as soon as new Bronze lands (flows/bronze_watch.py polls for it).

Serving also keeps a dbt worker for the lake running (flows/warehouse/worker_keeper.py):
each transform's dbt invocation runs in a fork of it, with dbt imported and
the project parsed already. Prefect's runner looks for runs that are due
every `RUNNER_POLL_SECONDS`, so that a run the watch asks for starts within
about a second rather than Prefect's default ten.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from prefect import serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.deployments.runner import RunnerDeployment

from flows.backfill import backfill
from flows.bronze_watch import TransformTrigger, min_interval_seconds, poll_seconds, watch
from flows.export import export
from flows.ingest import ingest
from flows.maintenance import maintenance
from flows.transform import transform
from flows.warehouse.worker_keeper import WorkerKeeper
from ingestion.settings import Settings
from ingestion.store import LakeStore

# An ingest run lands a slice every few seconds for a minute, then the next run
# carries on; a stopped server loses at most one minute of simulated traffic.
INGEST_RUN_SECONDS = 60
# How often the runner asks the API for runs that are due (one light query).
RUNNER_POLL_SECONDS = 1
TRANSFORM = "transform"
# A run in these states, due now or earlier, is under way.
_UNDER_WAY = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
# Runs the trigger lets be under way at once: one building, and the next one
# started already and waiting for the writer lock, so that its process start
# (a new interpreter importing Prefect and the flow, seconds) overlaps the build.
TRIGGERED_AT_ONCE = 2


def deployments(settings: Settings) -> list[RunnerDeployment]:
    declared = [
        transform.to_deployment(
            name=TRANSFORM,
            interval=timedelta(seconds=settings.transform_interval_seconds),
            parameters={"if_busy": "skip"},
            description="dbt build of Silver and Gold, then the alert rules.",
        ),
        maintenance.to_deployment(
            name="maintenance",
            cron=settings.maintenance_cron,
            description="Table upkeep, Bronze compaction, quarantine report.",
        ),
        backfill.to_deployment(name="backfill", description="Run on demand."),
        export.to_deployment(name="export", description="Run on demand."),
    ]
    if settings.target == "local" and settings.serve_simulator:
        declared.append(
            ingest.to_deployment(
                name="ingest",
                interval=timedelta(seconds=INGEST_RUN_SECONDS),
                parameters={"duration_seconds": INGEST_RUN_SECONDS - 5},
                description="The simulator landing through the real handlers.",
            )
        )
    return declared


def transform_trigger(settings: Settings) -> TransformTrigger:
    """Starts a run of the served transform deployment when new Bronze has landed,
    unless two are under way (running, or due: a scheduled run past its start
    time). The run it starts waits for the writer lock rather than skip: it is
    the one that picks up what the run holding the lock has not read."""

    def start() -> None:
        run_deployment(
            name=f"{transform.name}/{TRANSFORM}",
            parameters={"if_busy": "wait"},
            timeout=0,
            as_subflow=False,
        )

    def busy() -> bool:
        return transforms_under_way(TRIGGERED_AT_ONCE) >= TRIGGERED_AT_ONCE

    return TransformTrigger(
        LakeStore.from_settings(settings),
        start=start,
        busy=busy,
        min_interval=min_interval_seconds(settings),
    )


def transforms_under_way(limit: int) -> int:
    """Runs of the transform deployment under way now, counted up to `limit` (not the
    schedule's next run, due later)."""
    with get_client(sync_client=True) as client:
        return len(
            client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[TRANSFORM])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=_UNDER_WAY)),
                    expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime.now(UTC)),
                ),
                limit=limit,
            )
        )


def serve_all(settings: Settings) -> None:
    """Serve every deployment until stopped, with the Bronze watch and the lake's dbt worker."""
    stop = threading.Event()
    keeper = WorkerKeeper(settings).start()
    every = poll_seconds(settings)
    if every > 0:
        threading.Thread(
            target=watch,
            args=(transform_trigger(settings), every, stop),
            name="bronze-watch",
            daemon=True,
        ).start()
    try:
        serve(*deployments(settings), query_seconds=RUNNER_POLL_SECONDS)
    finally:
        stop.set()
        keeper.stop()
