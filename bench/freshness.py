"""Freshness of the served local pipeline: from an event's landing to Gold.

A real Prefect server on 127.0.0.1 (started for the run, in a temporary home),
the ingest flow's landing loop putting a slice of the simulated application
through the real handlers every few seconds, and the transform flow triggered
whenever new Bronze has landed since it last started (one at a time: the
writer lock). After each transform the Silver events hold the newest
ingestion time that Gold was built from; every slice landed at or before it
reached Gold when that transform finished. The benchmark prints the 50th, 95th
and maximum of landing-to-Gold over the run.

Run: `uv run python bench/freshness.py [--minutes 10] [--interval 5]`.
Target (issue 5): 95th percentile under 90 s over a 10-minute run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from queue import Empty
from typing import Any

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.demo_app.slices import land_slice  # noqa: E402
from flows.prefect_server import (  # noqa: E402
    ensure_server,
    free_port,
    server_environment,
    stop_server,
)
from flows.warehouse.lakehouse import open_lake  # noqa: E402
from ingestion.observability import send_logs_to  # noqa: E402
from ingestion.settings import Settings  # noqa: E402
from ingestion.store import LakeStore  # noqa: E402


def _land_forever(
    settings: Settings,
    interval: float,
    events: int,
    orders: int,
    log_path: str,
    landed: multiprocessing.Queue,
    stop: EventType,
) -> None:
    """The ingest loop (in its own process): one slice every `interval` seconds."""
    send_logs_to(open(log_path, "a", encoding="utf-8"))  # noqa: SIM115
    store = LakeStore.from_settings(settings)
    index = 0
    while not stop.is_set():
        started = time.monotonic()
        sent = land_slice(settings, store, index, events, orders)
        landed.put((index, time.time(), sent, os.getpid()))
        index += 1
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


class Landing:
    """The ingest loop in a process of its own, as Lambda runs apart from the
    transforms (in one process they would share one interpreter lock); `run`,
    in a thread of the benchmark, starts it and collects what it has landed."""

    def __init__(
        self, settings: Settings, interval: float, events: int, orders: int, log_path: Path
    ) -> None:
        self.settings, self.interval, self.events, self.orders = settings, interval, events, orders
        self.log_path = log_path
        self.landed: list[tuple[int, float]] = []  # (slice, wall time its files were written)
        self.records = 0
        self.pid: int | None = None
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        context = multiprocessing.get_context("spawn")
        queue, stop = context.Queue(), context.Event()
        process = context.Process(
            target=_land_forever,
            args=(
                self.settings,
                self.interval,
                self.events,
                self.orders,
                str(self.log_path),
                queue,
                stop,
            ),
            daemon=True,
        )
        process.start()
        self.pid = process.pid
        try:
            while not self.stop.is_set():
                if not process.is_alive():
                    raise RuntimeError(f"the landing process died (exit {process.exitcode})")
                try:
                    index, landed_at, sent, _ = queue.get(timeout=0.5)
                except Empty:
                    continue
                with self.lock:
                    self.landed.append((index, landed_at))
                    self.records += sent
        finally:
            stop.set()
            process.join(timeout=60)
            if process.is_alive():
                process.kill()


@dataclass
class Served:
    """What the transforms of a served run reached, and when."""

    started_wall: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)
    latencies: list[float] = field(default_factory=list)
    backlog: list[tuple[float, int]] = field(default_factory=list)  # (s, slices not in Gold)
    runs: list[float] = field(default_factory=list)
    reached: int = 0  # slices counted as in Gold


def serve(
    settings: Settings,
    landing: Landing,
    transform: Any,
    deadline: float,
    progress: Callable[[Served], str],
) -> Served:
    """Transform whenever new Bronze has landed, until the deadline; what each run reached.

    After each transform Silver's newest ingestion time is what Gold was built
    from: every slice landed at or before it reached Gold when the run finished.
    """
    served = Served()
    while time.monotonic() < deadline:
        with landing.lock:
            pending = len(landing.landed) > served.reached
        if not pending:
            time.sleep(0.5)
            continue
        run_started = time.monotonic()
        transform(if_busy="wait", evaluate_alerts=True)
        finished = time.time()
        served.runs.append(time.monotonic() - run_started)
        with open_lake(settings) as con:
            (newest,) = con.execute("select max(_ingested_at) from lake.silver.events").fetchone()
        newest_at = newest.replace(tzinfo=newest.tzinfo or UTC).timestamp()
        with landing.lock:
            for index, landed_at in landing.landed[served.reached :]:
                # Rows are stamped just before their file is written; a slice's
                # last file (its events) is written just before landed_at.
                if landed_at - 0.5 <= newest_at:
                    served.latencies.append(finished - landed_at)
                    served.reached = index + 1
            served.backlog.append(
                (time.monotonic() - served.started, len(landing.landed) - served.reached)
            )
        print(progress(served), flush=True)
    return served


def start_pipeline(prefix: str) -> tuple[Path, Settings, Any]:
    """A lake in a new temporary folder with a Prefect server of its own; the
    transform flow, imported only once the server's address is set (Prefect
    reads it on import)."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    settings = Settings(
        lake_root=str(home / "lake"),
        prefect_port=free_port(),
        prefect_home=str(home / "prefect"),
    )
    os.environ["STREAMLAKE_LAKE_ROOT"] = settings.lake_root
    print(f"lake {home}; a Prefect server on port {settings.prefect_port}", flush=True)
    ensure_server(settings)
    os.environ.update(server_environment(settings))
    from flows.transform import transform

    return home, settings, transform


def p95(values: list[float]) -> float | None:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)] if ordered else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--interval", type=float, default=5, help="seconds between slices")
    parser.add_argument("--events", type=int, default=500, help="events per slice")
    parser.add_argument("--orders", type=int, default=20, help="orders per slice")
    args = parser.parse_args()

    home, settings, transform = start_pipeline("streamlake-freshness-")
    landing = Landing(settings, args.interval, args.events, args.orders, home / "ingestion.jsonl")
    thread = threading.Thread(target=landing.run, daemon=True)
    thread.start()
    try:
        served = serve(
            settings,
            landing,
            transform,
            time.monotonic() + args.minutes * 60,
            lambda served: (
                f"transform {len(served.runs)}: {served.runs[-1]:.1f} s, "
                f"slices in Gold {served.reached}, latest landing-to-Gold "
                f"{served.latencies[-1] if served.latencies else float('nan'):.1f} s"
            ),
        )
    finally:
        landing.stop.set()
        thread.join()
        stop_server(settings)

    latencies, runs = served.latencies, served.runs
    figures = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "minutes": args.minutes,
        "slices_landed": len(landing.landed),
        "records_landed": landing.records,
        "records_per_second": round(landing.records / (args.minutes * 60), 1),
        "transforms": len(runs),
        "transform_seconds_median": round(statistics.median(runs), 1) if runs else None,
        "slices_measured": len(latencies),
        "landing_to_gold_p50_s": round(statistics.median(latencies), 1) if latencies else None,
        "landing_to_gold_p95_s": round(p95(latencies) or float("nan"), 1),
        "landing_to_gold_max_s": round(max(latencies), 1) if latencies else None,
        "target_p95_s": 90,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
