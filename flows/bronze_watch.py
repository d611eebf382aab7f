"""New Bronze, noticed: what `streamlake serve` polls to start a transform as soon as data lands.

The handlers write each batch under its landing day's partition
(bronze/<source>/dt=YYYY-MM-DD/), and only the daily maintenance rewrites
files, those of closed days. So the files of today's and yesterday's
partitions (yesterday's for a batch that landed just before midnight) are all
that can be new: a listing of them, compared with the previous one, says
whether a transform has work. On S3 that is one LIST a source and day.

A transform is started when new Bronze has been seen and the runs under way
leave room for it (`busy`: in `streamlake serve`, one building and the next
one waiting for the writer lock, flows/deployments.py); Bronze that lands
meanwhile starts the next one as soon as there is room. The writer lock
(flows/warehouse/writer_lock.py) stays the only guard against two writers:
the started run waits for the lock, a scheduled one that finds it held skips.

On the aws target every transform is billed per Athena statement, so the
watch there also waits `transform_min_interval_seconds` after the last
transform it started (the cost guard): Bronze lands all the time, and the
guard caps the runs a month whatever the traffic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from ingestion.landing import partition_path
from ingestion.settings import Settings
from ingestion.store import LakeStore

logger = logging.getLogger(__name__)


def recent_bronze(store: LakeStore, today: date) -> frozenset[str]:
    """The Bronze files of today's and yesterday's partitions, every source that has landed."""
    files: set[str] = set()
    for source in store.list_folders("bronze"):
        for day in (today - timedelta(days=1), today):
            folder = partition_path("bronze", source, day.isoformat(), "")
            files.update(store.list_files(folder, ".parquet"))
    return frozenset(files)


def poll_seconds(settings: Settings) -> float:
    """How often to look for new Bronze; 0: never (the schedule alone).

    On by default on the local target. Off on aws unless set: there every
    transform is billed per Athena statement, and Bronze lands all the time."""
    if settings.target == "aws" and "transform_poll_seconds" not in settings.model_fields_set:
        return 0
    return settings.transform_poll_seconds


def min_interval_seconds(settings: Settings) -> float:
    """The least time between two transforms the watch starts (0: none)."""
    return settings.transform_min_interval_seconds


def _utc_today() -> date:
    return datetime.now(UTC).date()


@dataclass
class TransformTrigger:
    """Starts a transform when new Bronze has landed and `busy()` leaves room for one."""

    store: LakeStore
    start: Callable[[], None]
    busy: Callable[[], bool]
    today: Callable[[], date] = _utc_today
    min_interval: float = 0
    clock: Callable[[], float] = time.monotonic
    seen: frozenset[str] = field(default_factory=frozenset)
    pending: bool = False
    last_started: float | None = None

    def prime(self) -> None:
        """What has landed already is the scheduled run's to pick up."""
        self.seen = recent_bronze(self.store, self.today())

    def poll(self) -> bool:
        """One look at Bronze; True when it started a transform."""
        current = recent_bronze(self.store, self.today())
        if current - self.seen:
            self.pending = True
        self.seen = current
        if self.pending and not self._too_soon() and not self.busy():
            self.start()
            self.last_started = self.clock()
            self.pending = False
            return True
        return False

    def _too_soon(self) -> bool:
        if self.last_started is None or self.min_interval <= 0:
            return False
        return self.clock() - self.last_started < self.min_interval


def watch(trigger: TransformTrigger, poll_seconds: float, stop: threading.Event) -> None:
    """Poll until stopped; a failed look (S3 or the Prefect API unreachable) is retried."""
    trigger.prime()
    while not stop.wait(poll_seconds):
        try:
            if trigger.poll():
                logger.info("new Bronze landed: transform started")
        except Exception as error:  # the watch must outlive a failed look
            logger.warning("Bronze watch: %s; trying again in %.0f s", error, poll_seconds)
