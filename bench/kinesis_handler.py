"""Kinesis handler throughput on one core, against a straightforward per-record version.

Prints records per second for both, their ratio, and the peak memory of one
invocation on a 6 MB batch; then the handler's figure with the camel-case event
contract (ingestion/contracts/camel_case.yml), on the same events sent the way
such producers send them. Run: `make bench` (or `uv run python bench/kinesis_handler.py`).
Targets (issue 2): >= 300,000 records/s, >= 5x the per-record version, < 512 MB.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

import pyarrow as pa
import pyarrow.parquet as pq

from flows.demo_app.workload import WorkloadConfig, generate
from ingestion import kinesis
from ingestion.schemas import EVENTS
from ingestion.settings import Settings
from ingestion.store import LakeStore

BATCH = 10_000


def kinesis_batches(count: int, batch_size: int = BATCH) -> list[dict]:
    workload = generate(
        WorkloadConfig(
            seed=1,
            customers=500,
            products=100,
            orders=0,
            events=count * batch_size,
            shards=1,
            end=datetime(2026, 11, 20, tzinfo=UTC),
        )
    )
    (records,) = workload.kinesis.values()
    return [{"Records": records[i : i + batch_size]} for i in range(0, len(records), batch_size)]


def camel_case_batches(batches: list[dict]) -> list[dict]:
    """The same events as a camelCase producer sends them: no event id, the time in
    epoch milliseconds, the properties, country and device type as top-level fields
    (which land in extra_fields)."""

    def camel(data: str) -> str:
        event = json.loads(base64.b64decode(data))
        millis = round(datetime.fromisoformat(event["event_time"]).timestamp() * 1000)
        payload = {
            "eventType": event["event_type"],
            "userId": event["user_id"],
            "sessionId": event["session_id"],
            "timestamp": millis,
            **(event.get("properties") or {}),
            "country": (event.get("geo") or {}).get("country"),
            "deviceType": (event.get("device") or {}).get("type"),
        }
        return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()

    return [
        {
            "Records": [
                {
                    **record,
                    "kinesis": {**record["kinesis"], "data": camel(record["kinesis"]["data"])},
                }
                for record in batch["Records"]
            ]
        }
        for batch in batches
    ]


def per_record_version(event: dict, ingestion_time: datetime) -> bytes:
    """What a first Lambda usually looks like: json.loads each record, dicts, from_pylist."""
    rows = []
    for record in event["Records"]:
        envelope = record["kinesis"]
        payload = json.loads(base64.b64decode(envelope["data"]))
        geo = payload.get("geo") or {}
        device = payload.get("device") or {}
        rows.append(
            {
                "event_id": payload["event_id"],
                "event_type": payload["event_type"],
                "user_id": payload["user_id"],
                "session_id": payload.get("session_id"),
                "event_time": datetime.fromisoformat(payload["event_time"]),
                "properties": json.dumps(payload.get("properties")),
                "geo_country": geo.get("country"),
                "geo_region": geo.get("region"),
                "geo_city": geo.get("city"),
                "device_type": device.get("type"),
                "device_os": device.get("os"),
                "device_browser": device.get("browser"),
                "extra_fields": None,
                "stream": record["eventSourceARN"].rsplit("/", 1)[-1],
                "shard_id": record["eventID"].split(":", 1)[0],
                "sequence_number": envelope["sequenceNumber"],
                "partition_key": envelope["partitionKey"],
                "arrival_time": datetime.fromtimestamp(
                    envelope["approximateArrivalTimestamp"], UTC
                ),
                "ingestion_time": ingestion_time,
            }
        )
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=EVENTS), sink, compression="zstd")
    return sink.getvalue()


def throughput(run, batches: list[dict], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        for batch in batches:
            started = time.perf_counter()
            run(batch)
            timings.append(time.perf_counter() - started)
    return len(batches[0]["Records"]) / statistics.median(timings)


def six_megabyte_event(batches: list[dict], limit: int = 6 * 2**20) -> str:
    """Lambda's largest synchronous payload: as many records as fit in 6 MB of event JSON."""
    records, size = [], 2
    for record in (r for batch in batches for r in batch["Records"]):
        size += len(json.dumps(record)) + 2
        if size > limit:
            break
        records.append(record)
    return json.dumps({"Records": records})


# Run in a fresh interpreter that imports only what the Lambda imports, so the
# peak is the handler's and not this benchmark's.
_ONE_INVOCATION = """
import json, os, sys, tempfile
os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
from ingestion import kinesis
from ingestion.settings import Settings
text = open(sys.argv[1]).read()
event = json.loads(text)
with tempfile.TemporaryDirectory() as lake:
    settings = Settings(lake_root=lake, log_level="WARNING")
    kinesis.handler(event, None, settings=settings)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent.
status = open("/proc/self/status").read().split("VmHWM:")[1]
peak = int(status.split()[0]) / 1024
print(json.dumps({"records": len(event["Records"]), "event_mb": len(text) / 2**20,
                  "peak_rss_mb": peak}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, honestly
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    batches = kinesis_batches(args.batches)
    mean_bytes = statistics.mean(
        len(base64.b64decode(r["kinesis"]["data"])) for r in batches[0]["Records"]
    )
    with tempfile.TemporaryDirectory() as lake:
        settings = Settings(lake_root=lake, log_level="WARNING")
        vectorised = throughput(
            lambda e: kinesis.handler(e, None, settings=settings), batches, args.rounds
        )
    camel_batches = camel_case_batches(batches)
    with tempfile.TemporaryDirectory() as lake:
        settings = Settings(lake_root=lake, log_level="WARNING", event_contract="camel_case")
        camel_case = throughput(
            lambda e: kinesis.handler(e, None, settings=settings), camel_batches, args.rounds
        )
        landed = len(LakeStore.from_settings(settings).list_files("bronze"))
        quarantined = LakeStore.from_settings(settings).list_files("quarantine")
    # A figure for records that did not land would measure quarantine, not decoding.
    assert landed and not quarantined, "camel-case records did not all land"
    now = datetime.now(UTC)
    baseline = throughput(lambda e: per_record_version(e, now), batches, max(1, args.rounds - 1))

    with tempfile.NamedTemporaryFile("w", suffix=".json") as event_file:
        event_file.write(six_megabyte_event(batches))
        event_file.flush()
        child = subprocess.run(
            [sys.executable, "-c", _ONE_INVOCATION, event_file.name],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
    memory = json.loads(child.stdout.strip().splitlines()[-1])

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, pinned to one core"
    )
    print(
        f"batches: {len(batches)} x {BATCH:,} records of {mean_bytes:.0f} bytes, "
        f"{args.rounds} rounds; median per batch"
    )
    print(
        f"vectorised handler (decode, validate, metadata, Parquet write): "
        f"{vectorised:,.0f} records/s"
    )
    print(
        f"per-record version (json.loads, dicts, Table.from_pylist):      {baseline:,.0f} records/s"
    )
    print(f"ratio: {vectorised / baseline:.1f}x")
    print(
        f"vectorised handler, camel-case contract (ms timestamps, derived ids, extra fields): "
        f"{camel_case:,.0f} records/s"
    )
    print(
        f"one invocation on a {memory['event_mb']:.1f} MB batch ({memory['records']:,} records): "
        f"peak RSS of the whole process {memory['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
