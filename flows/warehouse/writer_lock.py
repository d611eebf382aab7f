"""One writer per catalog: transform, maintenance and backfill take turns.

The lock lives beside the catalog, so it holds with or without a Prefect server:
an advisory file lock on the local target (released by the kernel when the
process dies, so a killed run never leaves it stuck), and a lease object written
with S3's conditional PUT on the aws target (it expires, so a dead holder is
outlived).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

from flows.warehouse.gold_queries import TRANSIENT_RETRIES
from ingestion.settings import Settings
from ingestion.store import LakeStore

logger = logging.getLogger("streamlake.writer_lock")

LOCK_NAME = "catalog/writer.lock"
# A lease on S3 outlives a dead holder by this much; live holders renew nothing,
# so keep it above the longest transform or maintenance run.
LEASE_SECONDS = 3600
_POLL_SECONDS = 0.5
# What S3 answers a conditional PUT when the lease object exists already.
_TAKEN = ("PreconditionFailed", "ConditionalRequestConflict")


class WriterBusy(RuntimeError):
    """Another run holds the catalog; the message says who and since when."""


class _Patience:
    """How a run waits for a taken lock: say so once, poll, give up at the deadline."""

    def __init__(self, purpose: str, wait: float, say: Callable[[str], object]) -> None:
        self.purpose, self.wait, self.say = purpose, wait, say
        self.deadline = time.monotonic() + wait
        self.announced = False

    def busy(self, holder: object) -> None:
        if time.monotonic() >= self.deadline:
            raise WriterBusy(
                f"{self.purpose}: the catalog is busy ({holder}); gave up after {self.wait:.0f} s"
            )
        if not self.announced:
            self.say(f"{self.purpose}: waiting for the catalog writer, held by {holder}")
            self.announced = True
        time.sleep(_POLL_SECONDS)


def _holder() -> dict[str, str | int]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@contextmanager
def catalog_writer(
    settings: Settings,
    purpose: str,
    wait_seconds: float | None = None,
    announce: Callable[[str], object] | None = None,
) -> Iterator:
    """Hold the catalog's writer lock for `purpose`; wait up to `wait_seconds`, then WriterBusy.

    `wait_seconds=0` asks once and gives up at once (a scheduled transform skips
    when one is already running); None waits the configured time. `announce`
    gets one line when the lock is taken and this run starts waiting (a flow
    passes its run logger, so the line shows in the Prefect UI).
    """
    wait = settings.writer_wait_seconds if wait_seconds is None else wait_seconds
    say = announce or logger.warning
    if settings.lake_root.startswith("s3://"):
        with _s3_lease(settings, purpose, wait, say):
            yield
    else:
        with _file_lock(Path(settings.lake_root) / LOCK_NAME, purpose, wait, say):
            yield


@contextmanager
def _file_lock(path: Path, purpose: str, wait: float, say: Callable[[str], object]) -> Iterator:
    path.parent.mkdir(parents=True, exist_ok=True)
    patience = _Patience(purpose, wait, say)
    with open(path, "a+", encoding="utf-8") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                patience.busy(handle.read().strip() or "another run")
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({**_holder(), "purpose": purpose}))
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _s3_lease(
    settings: Settings, purpose: str, wait: float, say: Callable[[str], object]
) -> Iterator:
    bucket, key = LakeStore.from_settings(settings).s3_object(LOCK_NAME)
    s3 = boto3.client(
        "s3",
        region_name=settings.aws_region,
        endpoint_url=settings.s3_endpoint_url,
        config=TRANSIENT_RETRIES,
    )
    token = uuid.uuid4().hex
    body = json.dumps({**_holder(), "purpose": purpose, "token": token}).encode()
    patience = _Patience(purpose, wait, say)
    while True:
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            break
        except ClientError as error:
            if error.response["Error"]["Code"] not in _TAKEN:
                raise
            holder = _s3_holder(s3, bucket, key)
            if holder is not None and _expired(holder):
                # The holder died without releasing; take over its stale lease.
                s3.delete_object(Bucket=bucket, Key=key)
                continue
            patience.busy(holder)
    try:
        yield
    finally:
        holder = _s3_holder(s3, bucket, key)
        if holder is not None and holder.get("token") == token:
            s3.delete_object(Bucket=bucket, Key=key)


def _s3_holder(s3, bucket: str, key: str) -> dict | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError:
        return None


def _expired(holder: dict) -> bool:
    since = datetime.fromisoformat(str(holder.get("since")))
    return (datetime.now(UTC) - since).total_seconds() > LEASE_SECONDS
