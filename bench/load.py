"""Load on the served local pipeline: a steady stream for minutes, and whether it keeps up.

The pipeline of bench/freshness.py (a real Prefect server, slices of the
simulated application landing through the real handlers from a process of
their own, `streamlake serve` transforming as soon as new Bronze lands),
pushed at a target rate of events per second with order changes mixed in
(each slice carries orders and their updates and deletes). Reported:

- the rate offered and the rate landed, per minute and overall: a landing loop
  that falls behind its schedule shows as a landed rate below the target;
- the Bronze backlog at the end of each transform (slices landed but not yet
  in Gold): the first third of the run against the last third says whether it
  grows;
- landing-to-Gold (p50, p95, max), read from the lake and the Prefect API
  afterwards (bench/pipeline.py);
- memory, sampled every few seconds, first minute against last minute: the
  process the transforms are started from (`streamlake serve`, or this one
  with `--mode in-process`), the lake's dbt worker, all of the serve's
  processes together (flow runs and dbt's forks included), and the landing
  process.

Run: `uv run python bench/load.py [--minutes 10] [--rate 5000] [--interval 5]
[--mode serve|in-process] [--checkout DIR]`.
Targets (issue 32): through `streamlake serve`, 10 minutes at 5,000 events/s,
landing-to-Gold p95 at most 20 s and p50 at most 12 s, backlog and memory flat.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import (
    Landing,
    Outcome,
    ServeProcess,
    add_mode_arguments,
    command_line,
    descendants,
    drive,
    landing_figures,
    machine,
    rss_mb,
    run_figures,
    start_pipeline,
)

from flows.prefect_server import stop_server
from flows.warehouse.worker_keeper import WorkerKeeper

# Orders per slice relative to events: the demo workload's mix (about one order,
# with its changes, per 25 events).
EVENTS_PER_ORDER = 25
COLUMNS = ("transforms_process", "dbt_worker", "all_transform_processes", "landing")


class MemorySampler:
    """Resident memory (MB) of the processes that transform and land, every few seconds."""

    def __init__(self, root: int, landing: Landing, every: float = 5) -> None:
        self.root, self.landing, self.every = root, landing, every
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.stop = threading.Event()
        self.started = time.monotonic()

    def sample(self) -> dict[str, float]:
        below = descendants(self.root)
        workers = [pid for pid in below if " dbt-worker " in command_line(pid)]
        # The landing process and the Prefect server are the bench's, not the transforms'.
        landing = self.landing.pid
        tree = [self.root, *(pid for pid in below if pid != landing and not _is_server(pid))]
        return {
            "transforms_process": rss_mb(self.root),
            "dbt_worker": rss_mb(workers[0]) if workers else float("nan"),
            "all_transform_processes": sum(v for v in map(rss_mb, tree) if not math.isnan(v)),
            "landing": rss_mb(landing) if landing else float("nan"),
        }

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.monotonic() - self.started, self.sample()))
            self.stop.wait(self.every)

    def window_mean(self, column: str, start: float, end: float) -> float | None:
        values = [
            sample[column]
            for at, sample in self.samples
            if start <= at < end and not math.isnan(sample[column])
        ]
        return round(statistics.mean(values), 1) if values else None

    def figures(self, seconds: float) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for column in COLUMNS:
            found[f"{column}_rss_mb_first_minute"] = self.window_mean(column, 0, 60)
            found[f"{column}_rss_mb_last_minute"] = self.window_mean(column, seconds - 60, seconds)
        peaks = [s["all_transform_processes"] for _, s in self.samples]
        found["all_transform_processes_rss_mb_peak"] = round(max(peaks)) if peaks else None
        return found


def _is_server(pid: int) -> bool:
    return "prefect server start" in command_line(pid)


def third_means(
    values: list[tuple[float, int]], start: float, seconds: float
) -> list[float | None]:
    """Mean of the values (at wall times) in the first and the last third of the run."""
    first = [v for at, v in values if start <= at < start + seconds / 3]
    last = [v for at, v in values if start + 2 * seconds / 3 <= at <= start + seconds]
    return [round(statistics.mean(part), 1) if part else None for part in (first, last)]


def report(
    args: argparse.Namespace, events: int, landing: Landing, memory: MemorySampler, outcome: Outcome
) -> dict[str, Any]:
    per_minute: dict[int, int] = {}
    for _, landed_at in landing.landed:
        minute = int((landed_at - outcome.started_wall) // 60)
        per_minute[minute] = per_minute.get(minute, 0) + events
    first, last = third_means(outcome.arrivals.backlog, outcome.started_wall, outcome.seconds)
    return {
        **machine(),
        "mode": args.mode,
        "checkout": str(args.checkout.resolve()),
        "minutes": round(outcome.seconds / 60, 2),
        "target_events_per_second": args.rate,
        "records_landed": landing.records,  # events, order changes and reference data
        "events_landed_per_second": round(len(landing.landed) * events / outcome.seconds, 1),
        "events_per_second_by_minute": {m: round(n / 60) for m, n in sorted(per_minute.items())},
        **run_figures(outcome.runs, outcome.started_wall),
        "backlog_slices_first_third": first,
        "backlog_slices_last_third": last,
        **landing_figures(outcome.arrivals),
        "caught_up_at_end": outcome.caught_up,
        **memory.figures(outcome.seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=int, default=5_000, help="target events per second")
    parser.add_argument("--interval", type=float, default=5, help="seconds between slices")
    add_mode_arguments(parser)
    args = parser.parse_args()
    if args.minutes <= 0 or args.rate <= 0 or args.interval <= 0:
        parser.error("--minutes, --rate and --interval must be positive")

    events = round(args.rate * args.interval)
    orders = max(1, events // EVENTS_PER_ORDER)
    home, settings = start_pipeline("streamlake-load-")
    print(f"{events:,} events and {orders:,} orders every {args.interval} s", flush=True)
    landing = Landing(settings, args.interval, events, orders, home / "ingestion.jsonl")
    serve = ServeProcess(settings, home, args.checkout) if args.mode == "serve" else None
    # In this process, the transforms get a dbt worker as `streamlake serve` gives them.
    keeper = WorkerKeeper(settings, say=lambda line: None) if serve is None else None
    if keeper is not None:
        keeper.start()
    memory: list[MemorySampler] = []

    def start_sampling() -> None:
        # The processes the transforms start from: the serve's, or this one.
        root = serve.process.pid if serve is not None and serve.process else os.getpid()
        memory.append(MemorySampler(root, landing))
        threading.Thread(target=memory[0].run, daemon=True).start()

    def tick(seconds: float) -> str:
        latest = memory[0].sample()
        return (
            f"{seconds:6.0f} s: {len(landing.landed)} slices, {landing.records:,} records landed; "
            f"RSS transforms {latest['transforms_process']:.0f} MB, "
            f"all {latest['all_transform_processes']:.0f} MB"
        )

    try:
        outcome = drive(settings, landing, serve, args.minutes, tick, start_sampling)
    finally:
        for sampler in memory:
            sampler.stop.set()
        if keeper is not None:
            keeper.stop()
        stop_server(settings)
    print(json.dumps(report(args, events, landing, memory[0], outcome), indent=2))


if __name__ == "__main__":
    main()
