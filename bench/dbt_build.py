"""dbt build on the local lakehouse: a full build, then an incremental run, with peak memory.

Bronze gets 1,000,000 events and 100,000 orders (about 30% of them updated
after they are placed, 2% deleted) over 60 days, times --scale, landed through
the real handlers in slices: by default a history --scale times as long at the
same daily volume, landed as it happened, each slice stamped with the end of
its stretch and so under that day's partition (tables grow as a pipeline
runs), or with --growth volume --scale times the events of each of the same
60 days, landed now.
Closed days are then compacted, as the daily maintenance flow has done in a
pipeline that ran for that long (one file per day and source; today's and
yesterday's partitions stay as landed).
Then: a full `dbt build` (models and tests), and --rounds rounds of increments
of 10,000 new events and about 1,000 order changes, each followed by the
scheduled transform's `dbt build` (data tests on the changed rows, no unit
tests or whole-table audits: those check logic and history, and run in CI and
full builds) or by a `dbt run`; the median and the slowest of each. With
--transform-flow, a third command takes its turn: the transform flow itself
(flows/transform.py, run in this process, its dbt in a process apart, as a
served run runs it,
against Prefect's temporary server), so that its overhead over the bare `dbt build`
of the same increment shows; the flow's report gives the time of its dbt
invocation apart.
With --worker, every dbt command runs in a fork of a warm dbt worker for the
lake (`streamlake dbt-worker`, started by the bench after landing), as the
project's dbt commands do when one is running.
Run: `uv run python bench/dbt_build.py [--scale 10] [--growth volume] [--lake DIR] [--rounds 3]
[--worker] [--transform-flow]`.
Targets (issue 3): full build <= 30 s, incremental <= 10 s flat as tables grow,
peak memory < 2 GB.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.bronze_compaction import compact_closed_days  # noqa: E402
from flows.demo_app.delivery import DeliveryConfig, deliveries  # noqa: E402
from flows.demo_app.feed import feed  # noqa: E402
from flows.demo_app.workload import WorkloadConfig, generate  # noqa: E402
from flows.transform import SCHEDULED_BUILD, SCHEDULED_TEST_SCOPE, transform  # noqa: E402
from flows.warehouse.dbt_worker import peak_mb  # noqa: E402
from flows.warehouse.lakehouse import TestScope, dbt_environment, open_lake  # noqa: E402
from ingestion.invocation import Clock, utc_now  # noqa: E402
from ingestion.observability import send_logs_to  # noqa: E402
from ingestion.settings import Settings  # noqa: E402
from ingestion.store import LakeStore  # noqa: E402

BASE_DAYS = 60
SLICE_EVENTS = 250_000
SLICE_ORDERS = 25_000

# dbt runs in a fresh interpreter, as `streamlake` runs it (flows.warehouse.dbt_command),
# that reports its own peak memory (VmHWM: the forking parent's memory would
# count in ru_maxrss).
_DBT_CHILD = """
import sys
from flows.warehouse.dbt_command import run_measured
code, peak_mb = run_measured(sys.argv[1:])
print("PEAK_MB", peak_mb)
sys.exit(code)
"""


def land(settings: Settings, config: WorkloadConfig, clock: Clock = utc_now) -> int:
    workload = generate(config)
    plan = deliveries(workload, DeliveryConfig(seed=config.seed))
    feed(plan, settings, clock=clock)
    return sum(workload.counts().values())


def land_base(settings: Settings, scale: int, growth: str) -> tuple[int, float]:
    """Land `scale` times the base volume.

    growth "history": the application as it is, `scale` times as long (60 days
    times scale, the same events a day), landed as it happened: each slice at
    the end of its stretch, so under that day's dt partition, as a running
    pipeline would have landed it (today's partition holds today's files only);
    growth "volume": `scale` times as busy over the same 60 days, landed now.
    """
    events, orders = 1_000_000 * scale, 100_000 * scale
    slices = max(events // SLICE_EVENTS, orders // SLICE_ORDERS)
    history_days = BASE_DAYS * (scale if growth == "history" else 1)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    started, records = time.perf_counter(), 0
    for index in range(slices):
        if growth == "history":
            # slice `index` holds its own stretch of the history
            days = history_days / slices
            end, span = now - timedelta(days=days * (slices - 1 - index)), max(1, round(days))
        else:
            end, span = now, history_days
        records += land(
            settings,
            WorkloadConfig(
                seed=100 + index,
                customers=20_000,
                products=2_000,
                orders=orders // slices,
                events=events // slices,
                days=span,
                end=end,
                update_fraction=0.30,
                delete_fraction=0.02,
                sequence_start=index * 10_000_000,
                order_offset=index * (orders // slices),
                emit_reference_data=index == 0,
            ),
            clock=(lambda end=end: end) if growth == "history" else utc_now,
        )
        print(f"  landed slice {index + 1}/{slices}", flush=True)
    return records, time.perf_counter() - started


def compact_history(settings: Settings) -> tuple[int, int]:
    """Compact Bronze's closed days, as the daily maintenance flow has done in a
    pipeline that has run for the history's length (today's and yesterday's
    partitions stay as landed); Bronze files before and after."""
    store, today = LakeStore.from_settings(settings), datetime.now(UTC).date()
    results = list(compact_closed_days(store, today, settings.parquet_compression))
    return sum(r.files_before for r in results), sum(r.files_after for r in results)


def count_bronze(settings: Settings) -> int:
    with open_lake(settings) as con:
        return sum(
            con.execute(f"select count(*) from lake.bronze.stg_{source}").fetchone()[0]
            for source in ("events", "customers", "products", "orders")
        )


def dbt(settings: Settings, *args: str, test_scope: TestScope = "all") -> tuple[float, float]:
    env = {**os.environ, **dbt_environment(settings, test_scope)}
    started = time.perf_counter()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            _DBT_CHILD,
            *args,
            "--quiet",
            "--project-dir",
            str(ROOT),
            "--profiles-dir",
            str(ROOT),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        print(child.stdout[-3000:], child.stderr[-3000:])
        raise SystemExit(f"dbt {' '.join(args)} failed")
    peak = float(child.stdout.split("PEAK_MB")[-1].split()[0])
    return elapsed, peak


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument(
        "--rounds", type=int, default=3, help="increments measured per command (default 3)"
    )
    parser.add_argument(
        "--lake",
        help="lake folder (default: a temporary one); one that already holds Bronze from an "
        "earlier run is reused (its --scale is what it was landed at): no landing, and the "
        "full build is a --full-refresh",
    )
    parser.add_argument(
        "--growth",
        choices=("history", "volume"),
        default="history",
        help="how the tables are --scale times larger: a history --scale times as long at "
        "the same daily volume, as tables grow in a running pipeline (default), or --scale "
        "times the daily volume over the same 60 days",
    )
    parser.add_argument(
        "--worker",
        action="store_true",
        help="run every dbt command in a warm dbt worker for the lake (`streamlake dbt-worker`)",
    )
    parser.add_argument(
        "--transform-flow",
        action="store_true",
        help="also run the transform flow after its own increments (Prefect's temporary server)",
    )
    args = parser.parse_args()
    for name in ("scale", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    return args


def main() -> None:
    args = parse_args()
    lake = Path(args.lake) if args.lake else Path(tempfile.mkdtemp(prefix="streamlake-bench-"))
    settings = Settings(lake_root=str(lake / "lake"), log_level="WARNING")
    send_logs_to(open(os.devnull, "w"))  # noqa: SIM115

    reused = (lake / "lake" / "bronze").is_dir()
    if reused:
        print(f"reusing the Bronze in {lake}, landed earlier", flush=True)
    else:
        print(f"landing Bronze at scale {args.scale} ({args.growth}) into {lake}")
        records, landing = land_base(settings, args.scale, args.growth)
    files_before, files_after = compact_history(settings)
    print(f"compacted {files_before:,} Bronze files of closed days into {files_after:,}")
    if args.worker:
        start_worker(settings)
    if reused:
        # Bronze copied from another lake has no catalog yet: count after the build.
        full, full_peak = dbt(settings, "build", "--full-refresh")
        records, landing = count_bronze(settings), float("nan")
    else:
        full, full_peak = dbt(settings, "build")

    # Steady state: the base landed longer ago than the models' watermark
    # lookback, as it would have in a pipeline that has been running for a while.
    lookback = 2 * 60 + 15
    print(f"waiting {lookback} s, past the watermark lookback, before the increment", flush=True)
    time.sleep(lookback)
    # The scheduled transform's build (models and the data tests of the changed
    # rows) and a bare `dbt run`, alternately, each after its own increment.
    commands: list[tuple[str, Callable[[], tuple[float, float]]]] = [
        ("dbt build", lambda: dbt(settings, *SCHEDULED_BUILD, test_scope=SCHEDULED_TEST_SCOPE)),
        ("dbt run", lambda: dbt(settings, "run")),
    ]
    flow_dbt_seconds: list[float] = []
    if args.transform_flow:
        commands.append(("transform flow", transform_flow(settings, flow_dbt_seconds)))
    increments: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in commands}
    # Seeds (and so sequence numbers and order ids) no earlier run of the bench used.
    first_seed = 1_000 + int(time.time()) % 1_000 * 10 if reused else 900
    for round_ in range(args.rounds):
        for index, (label, command) in enumerate(commands):
            seed = first_seed + len(commands) * round_ + index
            land(
                settings,
                WorkloadConfig(
                    seed=seed,
                    customers=20_000,
                    products=2_000,
                    orders=770,
                    events=10_000,
                    days=2,
                    sequence_start=seed * 1_000_000,
                    order_offset=seed * 100_000,
                    emit_reference_data=False,
                ),
            )
            increments[label].append(command())
            print(f"  round {round_ + 1}: {label} {increments[label][-1][0]:.1f} s", flush=True)

    print(json.dumps({"scale": args.scale, "records": records}))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    if reused:
        print(f"Bronze: {records:,} rows (reused, plus the increments of earlier runs)")
    else:
        print(f"Bronze: {records:,} stream records landed in {landing:.0f} s")
    print(f"full dbt build (models and tests):  {full:6.1f} s wall, peak {full_peak:,.0f} MB")
    for label, figures in increments.items():
        walls = [wall for wall, _ in figures]
        print(
            f"incremental {label} after 10,000 events and ~1,000 order changes, "
            f"{len(walls)} rounds: median {statistics.median(walls):.1f} s, "
            f"max {max(walls):.1f} s wall (dbt start-up included), "
            f"peak {max(peak for _, peak in figures):,.0f} MB"
        )
    if flow_dbt_seconds:
        medians = {name: statistics.median(w for w, _ in runs) for name, runs in increments.items()}
        print(
            f"transform flow: its dbt invocation {statistics.median(flow_dbt_seconds):.1f} s "
            f"(median); the flow's median minus the bare dbt build's: "
            f"{medians['transform flow'] - medians['dbt build']:+.1f} s"
        )


def start_worker(settings: Settings) -> None:
    """`streamlake dbt-worker` for the lake, until this process ends; every dbt
    command of the bench (flows.warehouse.dbt_command) then runs in a fork of it."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "dbt-worker", "--lake-root", settings.lake_root],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    ready = worker.stdout.readline()
    if "listening" not in ready:
        raise SystemExit(f"the dbt worker did not start: {ready}")
    # Its one line per command would fill the pipe: read them away.
    threading.Thread(target=worker.stdout.read, daemon=True).start()
    atexit.register(worker.terminate)
    print("dbt commands run in a dbt worker for the lake (streamlake dbt-worker)", flush=True)


def transform_flow(
    settings: Settings, dbt_seconds: list[float]
) -> Callable[[], tuple[float, float]]:
    """The transform flow as a served run runs it, in this process. Prefect was
    imported with this module (flows.transform) and no API URL, so its first flow
    run starts Prefect's temporary server, a real server process, for the run."""
    os.environ["STREAMLAKE_LAKE_ROOT"] = settings.lake_root

    def run() -> tuple[float, float]:
        started = time.perf_counter()
        report = transform(if_busy="wait")
        elapsed = time.perf_counter() - started
        assert report.invocation is not None and report.invocation.success
        dbt_seconds.append(report.invocation.seconds)
        return elapsed, peak_mb()  # the flow's process (dbt runs in a process apart)

    return run


if __name__ == "__main__":
    main()
