"""What a run costs on Athena: the bench workload built through the Athena emulator.

Bronze gets the workload of bench/dbt_build.py (1,000,000 events and 100,000
orders over 60 days, times --scale, landed through the real handlers, closed
days compacted). Then, through `streamlake emulate-athena` (its Python API,
athena_emulator/emulate.py):

1. a full build (`dbt seed` and `dbt build`, every test);
2. --rounds scheduled transforms (the transform flow's `dbt build` selection
   and test scope), each after 10,000 new events and about 1,000 order changes;
3. a scheduled transform after 10,000 new events only (no DynamoDB changes);
4. a scheduled transform with no new Bronze.

For each dbt invocation: statements by kind, bytes scanned (the Parquet bytes
the statements read after partition pruning), billed bytes (rounded up to the
megabyte, 10 MB at least per query, DDL free), cost at $5 per TB, the cost a
month at the transform's cadence (settings.transform_interval_seconds), and
the modeled Athena wall time (athena_emulator/emulate.py ATHENA_OVERHEAD_S: per
statement about 1.2 s of queueing and planning plus 16 MB/s of scan, in whole
seconds of dbt-athena's 1 s poll) with one dbt thread, over the DAG's critical
path, and with the profile's threads (bench/athena_model.py). The emulator's
own time is printed too; it says nothing about Athena's.

At the end, landing to Gold on AWS, modeled for the scheduled runs measured:
at the default cadence and with the Bronze-triggered mode on (--poll, and
--min-interval as its cost guard), each with its runs and Athena cost a month.

Run: `uv run python bench/athena_run.py [--scale 0.1] [--lake DIR] [--rounds 2]
[--poll 30] [--min-interval 60]`.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from athena_model import ModeledRun, landing_to_gold, model_run, project_threads  # noqa: E402
from dbt_build import SLICE_EVENTS, SLICE_ORDERS, compact_history, land  # noqa: E402

from athena_emulator.emulate import (  # noqa: E402
    KINDS,
    RunRecord,
    emulate_build,
    emulate_transform,
    monthly_cost,
)
from flows.demo_app.workload import WorkloadConfig  # noqa: E402
from ingestion.observability import send_logs_to  # noqa: E402
from ingestion.settings import Settings  # noqa: E402

BASE_DAYS = 60
# The models' watermark lookback, and a margin: the increments come after it,
# as in a pipeline that has been running (see bench/dbt_build.py).
LOOKBACK_S = 2 * 60 + 15


def land_base(settings: Settings, scale: float) -> int:
    """The bench workload times `scale` over 60 days times max(scale, 1),
    landed as it happened (bench/dbt_build.py's "history" growth)."""
    events, orders = round(1_000_000 * scale), round(100_000 * scale)
    slices = max(1, math.ceil(max(events / SLICE_EVENTS, orders / SLICE_ORDERS)))
    history_days = BASE_DAYS * max(scale, 1)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    records = 0
    for index in range(slices):
        days = history_days / slices
        end = now - timedelta(days=days * (slices - 1 - index))
        records += land(
            settings,
            WorkloadConfig(
                seed=100 + index,
                customers=max(100, round(20_000 * min(scale, 1))),
                products=max(20, round(2_000 * min(scale, 1))),
                orders=orders // slices,
                events=events // slices,
                days=max(1, round(days)),
                end=end,
                update_fraction=0.30,
                delete_fraction=0.02,
                sequence_start=index * 10_000_000,
                order_offset=index * (orders // slices),
                emit_reference_data=index == 0,
            ),
            clock=lambda end=end: end,
        )
        print(f"  landed slice {index + 1}/{slices}", flush=True)
    return records


def land_increment(settings: Settings, seed: int, scale: float, orders: int = 770) -> None:
    """10,000 events and about 1,000 order changes (770 orders, some updated or
    deleted); with orders=0, the events alone."""
    land(
        settings,
        WorkloadConfig(
            seed=seed,
            customers=max(100, round(20_000 * min(scale, 1))),
            products=max(20, round(2_000 * min(scale, 1))),
            orders=orders,
            events=10_000,
            days=2,
            sequence_start=seed * 1_000_000,
            order_offset=seed * 100_000,
            emit_reference_data=False,
        ),
    )


def _mb(number: int) -> str:
    return f"{number / 2**20:,.1f} MB"


def print_runs(label: str, runs: list[RunRecord], interval: int, lake: Path) -> ModeledRun:
    """Each dbt invocation of the last emulator call; the last one, modeled over its DAG."""
    for run in runs:
        kinds = ", ".join(f"{k} {run.statements_by_kind[k]}" for k in KINDS)
        print(f"{label}: {run.command}")
        print(f"  statements {run.statements} ({kinds})")
        print(
            f"  scanned {_mb(run.bytes_scanned)}, billed {_mb(run.billed_bytes)}, "
            f"${run.cost_usd:.4f} a run, ${monthly_cost(run, interval):,.2f} a month "
            f"every {interval} s"
        )
    modeled = model_run(lake, project_threads())
    print(
        f"  modeled Athena time {modeled.threaded_s:,.0f} s with the profile's "
        f"{modeled.threads} threads (critical path {modeled.critical_path_s:,.0f} s, "
        f"one thread {modeled.one_thread_s:,.0f} s); emulator {runs[-1].wall_s:.0f} s",
        flush=True,
    )
    return modeled


def print_landing_to_gold(
    label: str, run: ModeledRun, interval: int, poll: float, min_interval: float
) -> None:
    print(f"landing to Gold on AWS, modeled, runs like the {label}:")
    for mode in landing_to_gold(run, interval, poll, min_interval):
        print(
            f"  {mode.mode}: p50 {mode.p50_s:,.0f} s, p95 {mode.p95_s:,.0f} s; "
            f"{mode.runs_a_month:,} runs, ${mode.cost_a_month_usd:,.2f} of Athena a month"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=2, help="scheduled runs after increments")
    parser.add_argument(
        "--lake", help="folder for the lake (default: a temporary one); its Bronze is reused"
    )
    parser.add_argument(
        "--poll", type=float, default=30, help="Bronze-triggered mode: seconds between looks"
    )
    parser.add_argument(
        "--min-interval",
        type=float,
        default=60,
        help="Bronze-triggered mode: least seconds between two runs (the cost guard)",
    )
    args = parser.parse_args()
    if args.scale <= 0 or args.rounds < 1 or args.poll <= 0 or args.min_interval < 0:
        parser.error("--scale, --poll must be positive, --rounds at least 1")
    folder = Path(args.lake) if args.lake else Path(tempfile.mkdtemp(prefix="streamlake-athena-"))
    settings = Settings(lake_root=str(folder / "lake"), log_level="WARNING")
    send_logs_to(open(os.devnull, "w"))  # noqa: SIM115
    interval = settings.transform_interval_seconds
    lake = folder / "lake"
    reused = (lake / "bronze").is_dir()
    started = time.perf_counter()
    if reused:
        print(f"reusing the Bronze in {lake}", flush=True)
    else:
        print(f"landing Bronze at scale {args.scale} into {lake}", flush=True)
        records = land_base(settings, args.scale)
        print(f"  {records:,} stream records in {time.perf_counter() - started:.0f} s")
    before, after = compact_history(settings)
    print(f"compacted {before:,} Bronze files of closed days into {after:,}", flush=True)

    print_runs("full build", emulate_build(lake, full_refresh=reused).runs, interval, lake)
    print(f"waiting {LOOKBACK_S} s, past the watermark lookback", flush=True)
    time.sleep(LOOKBACK_S)
    first_seed = 1_000 + int(time.time()) % 1_000 * 10 if reused else 900
    for round_ in range(args.rounds):
        land_increment(settings, first_seed + round_, args.scale)
        with_orders = print_runs(
            f"scheduled run {round_ + 1}", emulate_transform(lake).runs, interval, lake
        )
    land_increment(settings, first_seed + args.rounds, args.scale, orders=0)
    events_only = print_runs(
        "scheduled run, new events only", emulate_transform(lake).runs, interval, lake
    )
    print("scheduled run, no new Bronze: no dbt, no statement")
    emulate_transform(lake)
    for label, run in (
        ("scheduled run with order changes", with_orders),
        ("scheduled run with new events only", events_only),
    ):
        print_landing_to_gold(label, run, interval, args.poll, args.min_interval)
    print(
        f"scale {args.scale}; machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {datetime.now(UTC):%Y-%m-%d}; "
        f"total {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
