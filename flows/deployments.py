"""Every deployment and its schedule, declared in this one place.

`streamlake serve` serves them against the local Prefect server; on AWS the
same module runs inside a Prefect worker's environment. Intervals and the
maintenance cron come from the settings.
"""

from __future__ import annotations

from datetime import timedelta

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from flows.backfill import backfill
from flows.export import export
from flows.ingest import ingest
from flows.maintenance import maintenance
from flows.transform import transform
from ingestion.settings import Settings

# An ingest run lands a slice every few seconds for a minute, then the next run
# carries on; a stopped server loses at most one minute of simulated traffic.
INGEST_RUN_SECONDS = 60


def deployments(settings: Settings) -> list[RunnerDeployment]:
    declared = [
        transform.to_deployment(
            name="transform",
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
    if settings.target == "local":
        declared.append(
            ingest.to_deployment(
                name="ingest",
                interval=timedelta(seconds=INGEST_RUN_SECONDS),
                parameters={"duration_seconds": INGEST_RUN_SECONDS - 5},
                description="The simulator landing through the real handlers.",
            )
        )
    return declared


def serve_all(settings: Settings) -> None:
    serve(*deployments(settings))
