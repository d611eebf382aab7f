"""What both handlers share: reading the event, landing groups, the partial-batch response."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import pyarrow as pa

from ingestion.landing import BatchIdentity, LandingResult, land_batch
from ingestion.observability import (
    add_context_keys,
    configure,
    logger,
    metrics,
    record_summary,
)
from ingestion.settings import Settings, get_settings
from ingestion.store import LakeStore

# What stamps the landed rows (and so picks their dt partition): the wall clock,
# except where a simulation lands history as it happened.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class InvalidEventError(ValueError):
    """The event is not a stream batch at all (a wiring mistake, not a bad record)."""


@dataclass(frozen=True)
class LandingGroup:
    """Records of one shard, decoded and ready to land as one Bronze file."""

    identity: BatchIdentity
    first_sequence_in_delivery: str  # where Lambda must resume if this group fails
    good: pa.Table
    bad: pa.Table


@lru_cache(maxsize=4)
def _cached_store(lake_root: str, region: str, endpoint: str | None) -> LakeStore:
    settings = Settings(lake_root=lake_root, aws_region=region, s3_endpoint_url=endpoint)
    return LakeStore.from_settings(settings)


def store_for(settings: Settings) -> LakeStore:
    """A warm Lambda container keeps its S3 client between invocations."""
    return _cached_store(settings.lake_root, settings.aws_region, settings.s3_endpoint_url)


def records_of(event: Any) -> list[Any]:
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        keys = sorted(event)[:5] if isinstance(event, dict) else "-"
        raise InvalidEventError(
            "expected a Lambda stream event with a 'Records' list; "
            f"got {type(event).__name__} with keys {keys}"
        )
    return event["Records"]


def land_groups(
    source_kind: str,
    received: int,
    groups: Iterable[LandingGroup],
    store: LakeStore,
    settings: Settings,
    started: float,
    clock: Clock = utc_now,
) -> dict[str, list[dict[str, str]]]:
    """Land every group; a group that cannot be written is reported for retry.

    Lambda's partial batch response takes the first sequence number not landed;
    Lambda resumes the shard from there, and the retry rewrites the same files.
    """
    failures: list[dict[str, str]] = []
    total = LandingResult()
    files: list[str] = []
    for group in groups:
        try:
            result = land_batch(
                store,
                group.identity,
                group.good,
                group.bad,
                clock(),
                settings.parquet_compression,
            )
        except Exception as error:
            logger.exception(
                "could not land batch, reporting it for retry",
                extra={"file": group.identity.file_name, "error": str(error)},
            )
            failures.append({"itemIdentifier": group.first_sequence_in_delivery})
            continue
        total.landed += result.landed
        total.quarantined += result.quarantined
        total.bytes_written += result.bytes_written
        files.extend(result.paths)
        if result.skipped_as_already_landed:
            logger.info("batch already landed yesterday", extra={"file": group.identity.file_name})
    record_summary(
        source_kind,
        {
            "received": received,
            "landed": total.landed,
            "quarantined": total.quarantined,
            "bytes": total.bytes_written,
            "files": files,
            "failed_groups": len(failures),
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return {"batchItemFailures": failures}


def run_handler(
    source_kind: str,
    event: Any,
    context: Any,
    build_groups: Callable[[list[Any], Settings, datetime], list[LandingGroup]],
    settings: Settings | None = None,
    store: LakeStore | None = None,
    clock: Clock = utc_now,
) -> dict[str, list[dict[str, str]]]:
    """The body both Lambda entry points share; tests may pass settings, a store and a clock."""
    started = time.perf_counter()
    add_context_keys(context)
    settings = settings or get_settings()
    configure(settings)
    records = records_of(event)
    # Decoding stamps rows with this time; landing restamps them just before the write.
    groups = build_groups(records, settings, clock()) if records else []
    try:
        return land_groups(
            source_kind,
            len(records),
            groups,
            store or store_for(settings),
            settings,
            started,
            clock,
        )
    finally:
        metrics.flush_metrics()
        metrics.clear_metrics()  # a disabled flush keeps them; the next batch starts clean
