"""The backfill flow: reprocess a range of Bronze dates, or fully rebuild chosen models.

Reprocessing reads each Bronze date whole (not only what landed after the
watermark), one date at a time with progress; the merges keep only what is new
or newer, so a backfill over dates already processed changes nothing. A full
refresh rebuilds the named models and everything downstream of them.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from flows.transform import build_with_retries
from flows.warehouse.writer_lock import catalog_writer
from ingestion.settings import Settings

# Silver reads Bronze; Gold follows what Silver changed.
_FROM_SILVER = ["--select", "silver+", "--exclude-resource-type", "unit_test"]
MAX_DAYS = 366


def backfill_days(start: date, end: date) -> list[date]:
    if start > end:
        raise ValueError(f"backfill starts ({start}) after it ends ({end})")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise ValueError(f"backfill of {days} days: split it into ranges of at most {MAX_DAYS}")
    return [start + timedelta(days=n) for n in range(days)]


@flow(name="backfill", log_prints=True)
def backfill(
    start: date | None = None,
    end: date | None = None,
    full_refresh_models: list[str] | None = None,
) -> int:
    """Reprocess Bronze dates start..end (inclusive), or full-refresh the named models."""
    settings = Settings()
    logger = get_run_logger()
    if full_refresh_models:
        if start or end:
            raise ValueError("choose either a date range or models to refresh, not both")
        selection = " ".join(f"{model}+" for model in full_refresh_models)
        with catalog_writer(settings, "backfill", announce=logger.info):
            invocation, _ = build_with_retries(
                settings, ["build", "--full-refresh", "--select", selection]
            )
        invocation.raise_for_failure()
        logger.info("full refresh of %s done in %.1f s", selection, invocation.seconds)
        return 1
    if start is None:
        raise ValueError("a backfill needs a start date (and an end date, default the start)")
    days = backfill_days(start, end or start)
    progress = create_progress_artifact(progress=0.0, description="Bronze dates reprocessed")
    with catalog_writer(settings, "backfill", announce=logger.info):
        for done, day in enumerate(days, start=1):
            dates = json.dumps({"backfill_from": day.isoformat(), "backfill_to": day.isoformat()})
            invocation, _ = build_with_retries(settings, ["build", *_FROM_SILVER, "--vars", dates])
            invocation.raise_for_failure()
            update_progress_artifact(progress, progress=100 * done / len(days))
            logger.info("backfill %d/%d: Bronze dt=%s reprocessed", done, len(days), day)
    return len(days)
