"""The S3 writer lease (flows/warehouse/writer_lock.py): one writer under contention and crashes.

Every test talks to a moto S3 server on 127.0.0.1 over HTTP, as the runner talks
to S3. moto's server checks a conditional write's condition and then writes, and
a thread switch in between could let two writers through where S3 lets one:
the server here serializes writes, which is S3's guarantee, not a change to the
protocol under test.

The contention test runs four contender processes (tests/lease_contender.py)
for a minute with a short lease, SIGKILLs and SIGSTOPs them (pauses longer than
the lease), and checks from their log that no two tenures' writes overlap and
that a killed holder's lease went to the next holder within lease + one poll.
The same run with the old delete-then-put take-over planted must fail that check.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

from flows.warehouse.writer_lock import (
    LOCK_NAME,
    TRUSTED_SHARE,
    LeaseLost,
    S3Lease,
    WriterBusy,
    catalog_writer,
    read_lease,
    state_file_check,
)
from ingestion.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "streamlake-lease"
KEY = f"lake/{LOCK_NAME}"
# Short enough for a minute to hold many take-overs; the same code runs with 60 s.
LEASE, POLL = 2.0, 0.2
# What a take-over may take beyond lease + poll: the requests of the read and the
# compare-and-swap, and being scheduled, on a shared 2-core machine running the
# suite in three processes (measured alone: 0.04 s at most; under the suite's load
# up to about 0.6 s).
REQUEST_SLACK = 1.0


class _SerializedWrites:
    def __init__(self, app: Any) -> None:
        self.app, self.lock = app, threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] in ("PUT", "POST", "DELETE"):
            with self.lock:
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Thousands of lease requests: no line each."""


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = make_server(
        "127.0.0.1",
        0,
        _SerializedWrites(DomainDispatcherApplication(create_backend_app)),
        threaded=True,
        request_handler=_Quiet,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    yield endpoint
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> Any:
    """The bucket, emptied, and boto3 credentials that reach only the server."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "STREAMLAKE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    for version in s3.list_object_versions(Bucket=BUCKET).get("Versions", []):
        s3.delete_object(Bucket=BUCKET, Key=version["Key"], VersionId=version["VersionId"])
    s3.delete_object(Bucket=BUCKET, Key=KEY)
    return s3


def lease_settings(endpoint: str, **values: Any) -> Settings:
    return Settings(
        target="aws",
        lake_root=f"s3://{BUCKET}/lake",
        s3_endpoint_url=endpoint,
        aws_region="us-east-1",
        writer_lease_seconds=values.pop("lease", LEASE),
        writer_poll_seconds=values.pop("poll", POLL),
        ssm_prefix=None,
        _env_file=None,
        **values,
    )


def lease_body(s3: Any) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())


# ------------------------------------------------------------------ one process


def test_a_held_lease_is_renewed_and_released_only_by_its_holder(aws, s3_endpoint) -> None:
    settings = lease_settings(s3_endpoint)
    with catalog_writer(settings, "transform") as hold:
        first = lease_body(aws)
        time.sleep(LEASE)  # four renewals' worth
        renewed = lease_body(aws)
        assert renewed["token"] == first["token"] and renewed["beat"] > first["beat"]
        assert renewed["state"] == "held" and renewed["holder"]["purpose"] == "transform"
        hold.check()  # still ours after more than a lease: renewed, not lapsed
        with (
            pytest.raises(WriterBusy, match="transform on"),
            catalog_writer(settings, "maintenance", wait_seconds=0.5),
        ):
            pass
    assert lease_body(aws)["state"] == "released"
    # A released lease is taken at once, with no wait.
    with catalog_writer(settings, "maintenance", wait_seconds=0):
        assert lease_body(aws)["holder"]["purpose"] == "maintenance"


def test_a_lease_not_renewed_by_s3s_clock_is_taken_at_once(aws, s3_endpoint) -> None:
    """A scheduled transform skips when busy (wait 0): it must still take a dead
    holder's lease, judged by S3's own Date and Last-Modified."""
    settings = lease_settings(s3_endpoint)
    aws.put_object(
        Bucket=BUCKET,
        Key=KEY,
        Body=json.dumps({"state": "held", "lease_seconds": 1, "holder": {"purpose": "dead"}}),
    )
    with pytest.raises(WriterBusy, match="dead"), catalog_writer(settings, "transform", 0):
        pass
    time.sleep(2.2)  # 1 s lease + 1 s of the header's whole seconds
    with catalog_writer(settings, "transform", wait_seconds=0):
        assert lease_body(aws)["holder"]["purpose"] == "transform"


def test_a_holder_whose_lease_was_taken_stops_writing_and_fails(aws, s3_endpoint) -> None:
    """Taken over while this holder did not renew (a pause): its next AWS write is
    refused before it is sent, it cannot release its successor's lease, and
    leaving the block raises LeaseLost."""
    settings = lease_settings(s3_endpoint)
    glue = boto3.client("glue", endpoint_url=s3_endpoint, region_name="us-east-1")
    with (
        pytest.raises(LeaseLost, match="transform: the writer lease"),
        catalog_writer(settings, "transform") as hold,
    ):
        assert isinstance(hold, S3Lease)
        hold._stop.set()  # the heartbeat stops, as in a pause
        hold._heartbeat.join()
        successor = S3Lease(settings, "backfill")
        successor._write({"IfMatch": read_lease(aws, BUCKET, KEY).etag})
        time.sleep(LEASE)  # past the holder's trusted share
        with pytest.raises(LeaseLost, match="not renewed"):
            glue.create_database(DatabaseInput={"Name": "written_after_the_loss"})
        glue.get_databases()  # reads go on: nothing is written by them
    assert "written_after_the_loss" not in str(glue.get_databases())
    assert lease_body(aws)["holder"]["purpose"] == "backfill"  # not released by the loser


def test_a_dbt_child_checks_its_parents_lease_file(aws, s3_endpoint, tmp_path) -> None:
    """The state file a dbt child process checks: good while renewed, refused once the
    lease is released or lost, and refused when the parent stopped renewing (died)."""
    settings = lease_settings(s3_endpoint)
    with catalog_writer(settings, "maintenance") as hold:
        assert isinstance(hold, S3Lease) and hold.state_file is not None
        check = state_file_check(hold.state_file)
        check()
        time.sleep(LEASE)
        check()  # the heartbeat moved the deadline on
        saved = hold.state_file.read_text()
    with pytest.raises(LeaseLost, match="gone"):
        check()
    dead_parent = tmp_path / "lease.json"
    dead_parent.write_text(saved)  # the last state a killed parent left
    time.sleep(TRUSTED_SHARE * LEASE)  # and no renewal after it
    with pytest.raises(LeaseLost, match="not renewed in time"):
        state_file_check(dead_parent)()


def test_dbt_command_strips_the_lease_flag_and_guards_the_child(tmp_path) -> None:
    """`python -m flows.warehouse.dbt_command --writer-lease-file F ...` hands dbt the
    rest of the arguments, and a write with a lapsed lease fails before it is sent."""
    state = tmp_path / "lease.json"
    state.write_text(json.dumps({"valid_until": 0, "lost": None, "purpose": "transform"}))
    probe = (
        "import sys, boto3\n"
        "from flows.warehouse import dbt_command\n"
        "args = dbt_command.take_lease_flag(sys.argv[1:])\n"
        "print(args)\n"
        "glue = boto3.client('glue', region_name='eu-west-1', aws_access_key_id='x', "
        "aws_secret_access_key='x', endpoint_url='http://127.0.0.1:9')\n"
        "try:\n"
        "    glue.create_database(DatabaseInput={'Name': 'x'})\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "--writer-lease-file", str(state), "build", "-s", "x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines()[0] == "['build', '-s', 'x']"
    assert done.stdout.splitlines()[1].startswith("LeaseLost transform: the writer lease")


# ------------------------------------------------------------------ contention


@dataclass
class Tenure:
    name: str
    first: float
    last: float
    stop: str = ""  # released, lost: ..., or "" when the process was killed


@dataclass
class Contention:
    tenures: list[Tenure]
    kills: list[tuple[float, str]]  # (when, whom) for kills of the holder
    pauses: int
    lines: list[str] = field(default_factory=list)

    def overlaps(self) -> list[tuple[Tenure, Tenure]]:
        """Pairs of tenures whose writes overlap in time."""
        ordered = sorted(self.tenures, key=lambda t: t.first)
        found = []
        for index, earlier in enumerate(ordered):
            for later in ordered[index + 1 :]:
                if later.first > earlier.last:
                    break
                found.append((earlier, later))
        return found

    def takeovers(self) -> list[float]:
        """For each kill of a writing holder: seconds until another process started writing."""
        delays = []
        for killed_at, victim in self.kills:
            later = [t.first for t in self.tenures if t.first > killed_at and t.name != victim]
            if later:
                delays.append(min(later) - killed_at)
        return delays


def read_tenures(log: Path) -> tuple[list[Tenure], list[str]]:
    lines = log.read_text().splitlines()
    open_: dict[str, Tenure] = {}
    tenures: list[Tenure] = []
    for raw in lines:
        name, kind, at, *note = raw.split(" ", 3)
        moment = float(at)
        if kind == "start":
            if name in open_:  # the previous tenure of a killed process cannot go on
                tenures.append(open_.pop(name))
            open_[name] = Tenure(name, moment, moment)
        elif kind == "write":
            open_[name].last = moment
        elif kind == "stop":
            tenure = open_.pop(name)
            tenure.last, tenure.stop = moment, " ".join(note)
            tenures.append(tenure)
    tenures.extend(open_.values())  # killed while holding
    return tenures, lines


def holder_now(log: Path) -> str | None:
    """The contender whose tenure is open at the end of the log."""
    holders: dict[str, bool] = {}
    for raw in log.read_text().splitlines()[-50:]:
        name, kind, *_ = raw.split(" ", 2)
        holders[name] = kind != "stop"
    writing = [name for name, holding in holders.items() if holding]
    return writing[-1] if writing else None


def last_write(log: Path, name: str) -> float:
    for raw in reversed(log.read_text().splitlines()):
        who, kind, at, *_ = raw.split(" ", 3)
        if who == name and kind in ("start", "write"):
            return float(at)
    return 0.0


def contend(
    endpoint: str, log: Path, seconds: float, planted: bool = False, contenders: int = 4
) -> Contention:
    """Run the contenders for `seconds` under random SIGKILLs and SIGSTOP pauses longer
    than the lease; every killed process is replaced by a new one."""
    rng = random.Random(31)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STREAMLAKE_"))},
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    spawned = 0

    def spawn() -> tuple[str, subprocess.Popen[bytes]]:
        nonlocal spawned
        spawned += 1
        name = f"c{spawned}"
        command = [
            sys.executable,
            "-m",
            "tests.lease_contender",
            *("--endpoint", endpoint, "--bucket", BUCKET, "--log", str(log), "--name", name),
            *("--lease", str(LEASE), "--poll", str(POLL)),
            *(["--planted-delete-then-put"] if planted else []),
        ]
        return name, subprocess.Popen(command, cwd=ROOT, env=environment)

    log.touch()
    running = dict(spawn() for _ in range(contenders))
    kills: list[tuple[float, str]] = []
    pauses = 0
    try:
        # Interpreters up (slow on a busy machine) and a first holder writing.
        deadline = time.monotonic() + 120
        while " start " not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            time.sleep(rng.uniform(1.0, 3.0))
            holder = holder_now(log)
            victim = holder if holder in running and rng.random() < 0.8 else None
            victim = victim or rng.choice(sorted(running))
            process = running[victim]
            if rng.random() < 0.55:
                # Killed while writing: the case whose take-over time is bounded.
                writing = victim == holder and time.monotonic() - last_write(log, victim) < 0.2
                process.send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                process.wait()
                if writing:
                    kills.append((killed_at, victim))
                del running[victim]
                name, fresh = spawn()
                running[name] = fresh
            else:
                process.send_signal(signal.SIGSTOP)
                time.sleep(rng.uniform(LEASE + 0.5, LEASE + 2.0))
                process.send_signal(signal.SIGCONT)
                pauses += 1
    finally:
        for process in running.values():
            process.send_signal(signal.SIGCONT)
            process.kill()
            process.wait()
    tenures, lines = read_tenures(log)
    return Contention(tenures, kills, pauses, lines)


def report(result: Contention) -> str:
    delays = result.takeovers()
    lost = sum(1 for t in result.tenures if t.stop.startswith("lost"))
    return (
        f"{len(result.tenures)} tenures by {len({t.name for t in result.tenures})} processes, "
        f"{len(result.kills)} holders killed while writing, {result.pauses} pauses, "
        f"{lost} tenures ended by a lost lease; take-over after a kill: "
        f"max {max(delays, default=0):.2f} s, mean {sum(delays) / max(len(delays), 1):.2f} s "
        f"(bound: lease {LEASE} s + poll {POLL} s + {REQUEST_SLACK} s of requests)"
    )


@pytest.mark.slow
def test_four_contenders_under_kills_and_pauses_never_write_at_once(
    aws, s3_endpoint, tmp_path
) -> None:
    result = contend(s3_endpoint, tmp_path / "writes.log", seconds=60)
    print("\n" + report(result))
    assert result.overlaps() == []
    assert len({t.name for t in result.tenures}) >= 4
    # Pauses longer than the lease: the paused holder found its lease gone and said so.
    assert any(t.stop.startswith("lost") for t in result.tenures)
    delays = result.takeovers()
    assert len(delays) >= 5, report(result)
    assert max(delays) <= LEASE + POLL + REQUEST_SLACK, report(result)


@pytest.mark.slow
def test_a_delete_then_put_take_over_is_caught(aws, s3_endpoint, tmp_path) -> None:
    """The take-over this lease replaced: a waiter that judged the lease stale deletes
    it and puts its own, deleting a faster waiter's fresh lease on the way."""
    result = contend(s3_endpoint, tmp_path / "writes.log", seconds=30, planted=True)
    overlaps = result.overlaps()
    print("\n" + report(result))
    for earlier, later in overlaps[:3]:
        print(
            f"overlap: {earlier.name} wrote {earlier.first:.3f}..{earlier.last:.3f}, "
            f"{later.name} from {later.first:.3f}"
        )
    assert overlaps, "the planted take-over went unnoticed"


def test_the_overlap_check_sees_an_overlap_and_a_take_over(tmp_path) -> None:
    log = tmp_path / "writes.log"
    log.write_text(
        "a start 1.0\na write 2.0\na stop 2.0 released\n"
        "b start 2.5\nb write 3.0\n"  # b killed at 3.1
        "c start 5.0\nd start 5.2\nc write 5.4\nc stop 5.4 released\n"
    )
    tenures, _ = read_tenures(log)
    result = Contention(tenures, kills=[(3.1, "b")], pauses=0)
    assert [(e.name, later.name) for e, later in result.overlaps()] == [("c", "d")]
    assert result.takeovers() == [pytest.approx(1.9)]
    assert holder_now(log) == "d"
