"""Load on the served local pipeline: a steady stream for minutes, and whether it keeps up.

The pipeline of bench/freshness.py (a real Prefect server, the ingest loop
landing slices of the simulated application through the real handlers, the
transform flow whenever new Bronze has landed), pushed at a target rate of
events per second with order changes mixed in (each slice carries orders and
their updates and deletes). Reported:

- the rate offered and the rate landed, per minute and overall: a landing loop
  that falls behind its schedule shows as a landed rate below the target;
- the Bronze backlog after each transform (slices landed but not yet in Gold):
  the first third of the run against the last third says whether it grows;
- landing-to-Gold freshness (p50, p95, max);
- memory: resident size sampled every few seconds, first minute against last
  minute, of this process (the transforms: dbt runs in it, through prefect-dbt)
  and of the landing process (the simulator and the handlers), and the peak of
  the children (the landing process, the Prefect server).

Run: `uv run python bench/load.py [--minutes 10] [--rate 5000] [--interval 5]`.
Targets (issue 8): at least 5,000 events/s sustained for 10 minutes, backlog not
growing, freshness within the Prefect issue's bound (p95 under 90 s), memory flat.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from freshness import Landing, Served, p95, serve, start_pipeline  # noqa: E402

from flows.prefect_server import stop_server  # noqa: E402

# Orders per slice relative to events: the demo workload's mix (about one order,
# with its changes, per 25 events).
EVENTS_PER_ORDER = 25


def rss_mb(pid: int | str = "self") -> float:
    """A process's resident memory now (Linux), in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # not started yet, or gone
        return float("nan")
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class MemorySampler:
    """Resident memory of the transforms (this process) and of the landing process."""

    def __init__(self, landing: Landing, every: float = 5) -> None:
        # (seconds since start, this process MB, landing process MB)
        self.samples: list[tuple[float, float, float]] = []
        self.between_runs: list[tuple[float, float]] = []  # (seconds since start, MB)
        self.landing, self.every, self.stop = landing, every, threading.Event()
        self.started = time.monotonic()

    def after_transform(self) -> float:
        """This process's memory between transforms, when dbt holds nothing: a
        steadier figure than the samples, which land anywhere inside a build."""
        mb = rss_mb()
        self.between_runs.append((time.monotonic() - self.started, mb))
        return mb

    def run(self) -> None:
        while not self.stop.is_set():
            landing = rss_mb(self.landing.pid) if self.landing.pid else float("nan")
            self.samples.append((time.monotonic() - self.started, rss_mb(), landing))
            self.stop.wait(self.every)

    def window_mean(self, start: float, end: float, column: int = 1) -> float | None:
        values = [
            sample[column]
            for sample in self.samples
            if start <= sample[0] < end and sample[column] == sample[column]  # not NaN
        ]
        return round(statistics.mean(values), 1) if values else None


def third_means(values: list[tuple[float, float]], seconds: float) -> tuple[float | None, ...]:
    """Mean of values in the first and last third of the run (by time)."""
    first = [v for at, v in values if at < seconds / 3]
    last = [v for at, v in values if at >= 2 * seconds / 3]
    return tuple(round(statistics.mean(part), 1) if part else None for part in (first, last))


def report(
    args: argparse.Namespace, events: int, landing: Landing, memory: MemorySampler, served: Served
) -> dict[str, Any]:
    seconds = time.monotonic() - served.started
    per_minute: dict[int, int] = {}
    for _, landed_at in landing.landed:
        minute = int((landed_at - served.started_wall) // 60)
        per_minute[minute] = per_minute.get(minute, 0) + events
    latencies, runs = served.latencies, served.runs
    backlog_first, backlog_last = third_means(served.backlog, seconds)
    between_first, between_last = third_means(memory.between_runs, seconds)
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_at_end": round(os.getloadavg()[0], 1),
        "minutes": round(seconds / 60, 2),
        "target_events_per_second": args.rate,
        "records_landed": landing.records,  # events, order changes and reference data
        "events_landed_per_second": round(len(landing.landed) * events / seconds, 1),
        "events_per_second_by_minute": {m: round(n / 60) for m, n in sorted(per_minute.items())},
        "transforms": len(runs),
        "transform_seconds_median": round(statistics.median(runs), 1) if runs else None,
        "backlog_slices_first_third": backlog_first,
        "backlog_slices_last_third": backlog_last,
        "landing_to_gold_p50_s": round(statistics.median(latencies), 1) if latencies else None,
        "landing_to_gold_p95_s": round(p95(latencies), 1) if latencies else None,
        "landing_to_gold_max_s": round(max(latencies), 1) if latencies else None,
        # dbt runs in this process (prefect-dbt); the handlers in the landing process.
        "transform_rss_mb_between_runs_first_third": between_first,
        "transform_rss_mb_between_runs_last_third": between_last,
        "transform_rss_mb_first_minute": memory.window_mean(0, 60),
        "transform_rss_mb_last_minute": memory.window_mean(seconds - 60, seconds + 1),
        "landing_rss_mb_first_minute": memory.window_mean(0, 60, column=2),
        "landing_rss_mb_last_minute": memory.window_mean(seconds - 60, seconds + 1, column=2),
        # The Prefect server and the landing process.
        "children_peak_rss_mb": round(children_kb / 1024),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=int, default=5_000, help="target events per second")
    parser.add_argument("--interval", type=float, default=5, help="seconds between slices")
    args = parser.parse_args()
    if args.minutes <= 0 or args.rate <= 0 or args.interval <= 0:
        parser.error("--minutes, --rate and --interval must be positive")

    events = round(args.rate * args.interval)
    orders = max(1, events // EVENTS_PER_ORDER)
    home, settings, transform = start_pipeline("streamlake-load-")
    print(f"{events:,} events and {orders:,} orders every {args.interval} s", flush=True)
    landing = Landing(settings, args.interval, events, orders, home / "ingestion.jsonl")
    memory = MemorySampler(landing)
    threads = [threading.Thread(target=t.run, daemon=True) for t in (landing, memory)]
    for thread in threads:
        thread.start()
    try:
        served = serve(
            settings,
            landing,
            transform,
            time.monotonic() + args.minutes * 60,
            lambda served: (
                f"{time.monotonic() - served.started:6.0f} s: transform "
                f"{served.runs[-1]:.1f} s, backlog {served.backlog[-1][1]} slices, "
                f"{landing.records:,} records landed, RSS {memory.after_transform():.0f} MB"
            ),
        )
    finally:
        landing.stop.set()
        memory.stop.set()
        for thread in threads:
            thread.join()
        stop_server(settings)
    print(json.dumps(report(args, events, landing, memory, served), indent=2))


if __name__ == "__main__":
    main()
