"""One writer per catalog: transform, maintenance and backfill take turns.

The lock lives beside the catalog, so it holds with or without a Prefect server.

On the local target it is an advisory file lock: the kernel releases it when the
process dies, so a killed run never leaves it stuck, and it cannot be lost while
the process lives.

On the aws target it is a lease: the object `catalog/writer.lock` in the lake
bucket, changed only by S3 conditional writes (compare-and-swap on its ETag):

- taken with `PutObject If-None-Match: *` when there is none, and with
  `PutObject If-Match: <etag>` over a released lease or one not renewed for
  `writer_lease_seconds` (at most two minutes);
- renewed every quarter of the lease by a heartbeat thread, again with
  `If-Match` on the ETag of its own last write, so a renewal after a take-over
  fails instead of stealing the lease back;
- released by writing a `released` body with `If-Match` on its own ETag: only
  while it is still ours, in one request.

Why S3 and not a DynamoDB lock table: the lease sits beside the catalog it
guards, in the bucket whose permissions the runner has, with no table for the
stack to create and pay for; AWS documents `If-None-Match` and `If-Match` on
PutObject for general purpose buckets (S3 User Guide, "How to prevent object
overwrites with conditional writes"; If-Match needs s3:PutObject and
s3:GetObject). Conditional deletes exist too, but a delete on the versioned
lake bucket leaves a delete marker per release; a `released` body keeps one
object and the last holder's name for `streamlake doctor`.

When a lease is stale is judged without comparing clocks across machines: a
waiter takes over when the lease's ETag has not changed for a lease's length
by its own monotonic clock, or when S3's own clock (the response's Date
against the object's Last-Modified) says so; the holder stops writing a
quarter of a lease earlier, counted from when it sent its last successful
write. A holder that loses its lease (taken over after a pause, or not renewed
in time) refuses every AWS write from then on: the botocore hook below raises
LeaseLost before the call, so dbt's next statement never leaves, its nodes fail
with that message, and leaving the block raises LeaseLost, which fails the run.
A dbt child process (`streamlake dbt`, maintenance's run-operation) checks a
state file its parent's heartbeat keeps (`--writer-lease-file`), so it also
stops when its parent dies. What no lease can prevent: a process frozen in the
microseconds between its check and the request it sends; that one request
may leave late (see docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ingestion.settings import Settings
from ingestion.store import LakeStore

logger = logging.getLogger("streamlake.writer_lock")

LOCK_NAME = "catalog/writer.lock"
# The holder renews this often, and trusts its lease for this share of it after
# sending a write that succeeded; the rest is the margin for a request in flight.
RENEWALS_PER_LEASE = 4
TRUSTED_SHARE = 0.75
# S3's Date and Last-Modified have whole seconds: one more, so that the server's
# clock can only understate a lease's age.
_SERVER_CLOCK_SECONDS = 1.0
# What S3 answers a conditional write whose condition does not hold.
_NOT_MATCHED = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404")
# Calls that change nothing: allowed after a lease is lost (stopping a query included).
_READ_ONLY = ("Get", "List", "Head", "Describe", "Search", "BatchGet", "Stop")


class WriterBusy(RuntimeError):
    """Another run holds the catalog; the message says who and since when."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


class LeaseLost(RuntimeError):
    """This run's writer lease lapsed or was taken over: it stopped writing."""


class _Patience:
    """How a run waits for a taken lock: say so once, poll, give up at the deadline."""

    def __init__(self, purpose: str, wait: float, say: Callable[[str], object]) -> None:
        self.purpose, self.wait, self.say = purpose, wait, say
        self.deadline = time.monotonic() + wait
        self.announced = False

    def busy(self, holder: object, pause: float) -> None:
        if time.monotonic() >= self.deadline:
            raise WriterBusy(
                f"{self.purpose}: the catalog is busy ({holder}); gave up after {self.wait:.0f} s",
                str(holder),
            )
        if not self.announced:
            self.say(f"{self.purpose}: waiting for the catalog writer, held by {holder}")
            self.announced = True
        time.sleep(max(0.0, min(pause, self.deadline - time.monotonic())))


def _holder(purpose: str) -> dict[str, str | int]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "purpose": purpose,
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }


class WriterHold:
    """What a writer holds; check() before a write raises LeaseLost once it is gone."""

    def check(self) -> None:
        """The local file lock cannot be lost while its process lives."""


# The writer locks this process holds now (one, in practice).
_held: list[WriterHold] = []


def current_hold() -> WriterHold | None:
    """The writer lock this process holds now, if any (dbt children inherit its check)."""
    return _held[-1] if _held else None


@contextmanager
def _holding(hold: WriterHold) -> Iterator[WriterHold]:
    _held.append(hold)
    try:
        yield hold
    finally:
        _held.remove(hold)


@contextmanager
def catalog_writer(
    settings: Settings,
    purpose: str,
    wait_seconds: float | None = None,
    announce: Callable[[str], object] | None = None,
) -> Iterator[WriterHold]:
    """Hold the catalog's writer lock for `purpose`; wait up to `wait_seconds`, then WriterBusy.

    `wait_seconds=0` asks once and gives up at once (a scheduled transform skips
    when one is already running); None waits the configured time. `announce`
    gets one line when the lock is taken and this run starts waiting (a flow
    passes its run logger, so the line shows in the Prefect UI). On S3, leaving
    the block raises LeaseLost when the lease was lost on the way.
    """
    wait = settings.writer_wait_seconds if wait_seconds is None else wait_seconds
    patience = _Patience(purpose, wait, announce or logger.warning)
    if not settings.lake_root.startswith("s3://"):
        with (
            _file_lock(Path(settings.lake_root) / LOCK_NAME, purpose, patience, settings),
            _holding(WriterHold()) as hold,
        ):
            yield hold
        return
    lease = S3Lease(settings, purpose)
    lease.acquire(patience)
    try:
        with _holding(lease), writes_guarded_by(lease.check):
            yield lease
    finally:
        lease.release()
        if lease.lost is not None:
            raise LeaseLost(f"{purpose}: {lease.lost}")


@contextmanager
def _file_lock(path: Path, purpose: str, patience: _Patience, settings: Settings) -> Iterator:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                patience.busy(handle.read().strip() or "another run", settings.writer_poll_seconds)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(_holder(purpose)))
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


# ------------------------------------------------------------------ the S3 lease


@dataclass(frozen=True)
class LeaseObject:
    """The lease object as one read found it."""

    etag: str
    body: dict[str, Any]
    # Seconds since its last write by S3's clock (response Date - Last-Modified).
    server_age: float

    @property
    def released(self) -> bool:
        return self.body.get("state") != "held"

    def lease_seconds(self, default: float) -> float:
        """The holder's own lease length: a waiter honours what the holder was promised."""
        try:
            return float(self.body.get("lease_seconds", default))
        except (TypeError, ValueError):
            return default

    def stale(self, default_seconds: float) -> bool:
        """Free to take: released, or not renewed for its lease by S3's clock."""
        return (
            self.released
            or self.server_age >= self.lease_seconds(default_seconds) + _SERVER_CLOCK_SECONDS
        )

    def describe(self) -> str:
        holder = self.body.get("holder") or {}
        return (
            f"{holder.get('purpose', '?')} on {holder.get('host', '?')} pid "
            f"{holder.get('pid', '?')} since {holder.get('since', '?')}, renewed "
            f"{self.server_age:.0f} s ago"
        )


def lease_client(settings: Settings) -> BaseClient:
    """An S3 client for the lease alone: short timeouts (a hung request must not
    outlast a renewal) and exempt from the write guard (it renews the lease)."""
    client = boto3.client(
        "s3",
        region_name=settings.aws_region,
        endpoint_url=settings.s3_endpoint_url,
        config=Config(
            connect_timeout=max(1.0, settings.writer_lease_seconds / 8),
            read_timeout=max(1.0, settings.writer_lease_seconds / 8),
            retries={"max_attempts": 2, "mode": "standard"},
        ),
    )
    client._streamlake_exempt = True  # type: ignore[attr-defined]
    return client


def read_lease(client: BaseClient, bucket: str, key: str) -> LeaseObject | None:
    """The lease object now, or None when there is none."""
    try:
        answer = client.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    raw = answer["Body"].read()
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}  # not ours to read; a take-over replaces it like any stale lease
    headers = answer["ResponseMetadata"].get("HTTPHeaders", {})
    server_now = parsedate_to_datetime(headers["date"]) if "date" in headers else datetime.now(UTC)
    age = (server_now - answer["LastModified"]).total_seconds()
    return LeaseObject(answer["ETag"], body if isinstance(body, dict) else {}, max(0.0, age))


class S3Lease(WriterHold):
    """The writer lease on S3 (see the module's docstring)."""

    def __init__(self, settings: Settings, purpose: str) -> None:
        self.purpose = purpose
        self.seconds = settings.writer_lease_seconds
        self.poll = settings.writer_poll_seconds
        self.bucket, self.key = LakeStore.from_settings(settings).s3_object(LOCK_NAME)
        self.s3 = lease_client(settings)
        self.token = uuid.uuid4().hex
        self.holder = _holder(purpose)
        self.beat = 0
        self.etag: str | None = None
        self.valid_until = 0.0  # time.monotonic(), which is system-wide on Linux
        self.lost: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        # What a dbt child process checks before each write: kept by the heartbeat.
        self.state_file: Path | None = None

    # ------------------------------------------------------------- taking it

    def acquire(self, patience: _Patience) -> None:
        """Take the lease, waiting as `patience` allows."""
        # The ETag this process watches, and when it may take it over (a lease's
        # length after it first saw it, by this process's clock).
        watched: tuple[str, float] | None = None
        while True:
            now = time.monotonic()
            if watched is not None and now >= watched[1]:
                # Unchanged for a lease's length: the swap itself is the check.
                if self._take_over(watched[0]):
                    break
                watched = None
            current = read_lease(self.s3, self.bucket, self.key)
            if current is None:
                if self._write({"IfNoneMatch": "*"}):
                    break
                continue
            if current.stale(self.seconds):
                if self._take_over(current.etag):
                    break
                continue
            if watched is None or watched[0] != current.etag:
                watched = (current.etag, time.monotonic() + current.lease_seconds(self.seconds))
            patience.busy(current.describe(), min(self.poll, watched[1] - time.monotonic()))
        self.state_file = Path(tempfile.mkdtemp(prefix="streamlake-lease-")) / "lease.json"
        self._write_state()
        self._heartbeat = threading.Thread(
            target=self._renew, name="streamlake-writer-lease", daemon=True
        )
        self._heartbeat.start()

    def _take_over(self, etag: str) -> bool:
        """Replace the lease whose ETag is `etag`; False when it changed meanwhile."""
        return self._write({"IfMatch": etag})

    def _body(self, state: str) -> bytes:
        return json.dumps(
            {
                "state": state,
                "holder": self.holder,
                "token": self.token,
                # Every write differs, so every write has an ETag of its own.
                "beat": self.beat,
                "lease_seconds": self.seconds,
                "written": datetime.now(UTC).isoformat(timespec="milliseconds"),
            }
        ).encode()

    def _write(self, condition: dict[str, str], state: str = "held") -> bool:
        """One conditional PUT of our body; True when it landed. Sets etag and
        valid_until (from the time the request was sent) when it did."""
        self.beat += 1
        sent = time.monotonic()
        try:
            answer = self.s3.put_object(
                Bucket=self.bucket, Key=self.key, Body=self._body(state), **condition
            )
            etag = answer["ETag"]
        except ClientError as error:
            if error.response["Error"]["Code"] not in _NOT_MATCHED:
                raise
            # A retried request whose first attempt landed fails its own condition.
            etag = self._landed_already()
            if etag is None:
                return False
        with self._lock:
            self.etag = etag
            self.valid_until = sent + TRUSTED_SHARE * self.seconds
        return True

    def _landed_already(self) -> str | None:
        current = read_lease(self.s3, self.bucket, self.key)
        if current is None or current.body.get("token") != self.token:
            return None
        return current.etag if current.body.get("beat") == self.beat else None

    # ------------------------------------------------------------ keeping it

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / RENEWALS_PER_LEASE):
            if self.lost is not None:
                return
            try:
                renewed = self._write({"IfMatch": self.etag or ""})
            except (ClientError, BotoCoreError) as error:
                # S3 out of reach: try again next beat; the lease lapses on its own.
                logger.warning("writer lease: renewal failed (%s)", error)
                continue
            if not renewed:
                current = read_lease(self.s3, self.bucket, self.key)
                self._lose(f"the writer lease was taken over by {current and current.describe()}")
                return
            self._write_state()

    def check(self) -> None:
        """Raise LeaseLost unless the lease is still ours and trusted."""
        if self.lost is None and time.monotonic() >= self.valid_until:
            self._lose(
                f"the writer lease was not renewed within {TRUSTED_SHARE * self.seconds:g} s "
                "(the process was paused, or S3 was out of reach)"
            )
        if self.lost is not None:
            raise LeaseLost(f"{self.purpose}: {self.lost}; stopped before the next write")

    def _lose(self, reason: str) -> None:
        with self._lock:
            if self.lost is None:
                self.lost = reason
                logger.error("writer lease lost: %s", reason)
        self._write_state()

    def _write_state(self) -> None:
        if self.state_file is None:
            return
        state = {"valid_until": self.valid_until, "lost": self.lost, "purpose": self.purpose}
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(self.state_file)

    # ----------------------------------------------------------- letting go

    def release(self) -> None:
        """Stop renewing; write `released` over our own lease only (If-Match)."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        try:
            if self.etag is not None and not self._write({"IfMatch": self.etag}, "released"):
                logger.warning("writer lease: not released, it is no longer ours")
        except (ClientError, BotoCoreError) as error:
            # It lapses on its own; the next writer takes it over after a lease.
            logger.warning("writer lease: release failed (%s)", error)
        finally:
            if self.state_file is not None:
                with contextlib.suppress(OSError):
                    self.state_file.unlink()
                    self.state_file.parent.rmdir()


# ------------------------------------------------------------------ the write guard

_checks: list[Callable[[], None]] = []


def _guarded(original: Callable[..., Any]) -> Callable[..., Any]:
    def make_api_call(client: Any, operation_name: str, api_params: Any) -> Any:
        if (
            _checks
            and not operation_name.startswith(_READ_ONLY)
            and not getattr(client, "_streamlake_exempt", False)
        ):
            for check in list(_checks):
                check()
        return original(client, operation_name, api_params)

    make_api_call._streamlake_guard = True  # type: ignore[attr-defined]
    return make_api_call


def guard_writes(check: Callable[[], None]) -> None:
    """From now on, every AWS call of this process that may change something (an
    Athena statement, a Glue or S3 write), from any thread, runs `check` first."""
    if not getattr(BaseClient._make_api_call, "_streamlake_guard", False):
        BaseClient._make_api_call = _guarded(BaseClient._make_api_call)  # type: ignore[method-assign]
    _checks.append(check)


@contextmanager
def writes_guarded_by(check: Callable[[], None]) -> Iterator[None]:
    """guard_writes() while the block lasts."""
    guard_writes(check)
    try:
        yield
    finally:
        _checks.remove(check)


def state_file_check(path: Path) -> Callable[[], None]:
    """The check of a dbt child process: its parent's lease, as the parent's heartbeat
    last wrote it; gone or lapsed (a parent that died stops renewing) means stop."""

    def check() -> None:
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            raise LeaseLost("the writer lease of the parent process is gone") from None
        if state.get("lost"):
            raise LeaseLost(
                f"{state.get('purpose')}: {state['lost']}; stopped before the next write"
            )
        if time.monotonic() >= float(state.get("valid_until", 0)):
            raise LeaseLost(
                f"{state.get('purpose')}: the writer lease was not renewed in time; "
                "stopped before the next write"
            )

    return check
