"""Freshness of the served local pipeline: from an event's landing to Gold.

A real Prefect server on 127.0.0.1 (started for the run, in a temporary
home), a slice of the simulated application landing through the real
handlers every few seconds from a process of its own, and the transforms as a
user runs them: `streamlake serve` in a process of its own, which starts a
transform as soon as its Bronze watch sees new Bronze (`--mode in-process`:
the transform flow called in this process instead, the harness of the figures
before serve was measured). When each slice reached Gold is read from the
lake and the Prefect API afterwards (bench/pipeline.py). It prints the 50th,
95th and maximum of landing-to-Gold over the run.

Run: `uv run python bench/freshness.py [--minutes 10] [--interval 5] [--mode serve|in-process]
[--checkout DIR]`.
Target (issue 32): p95 at most 15 s through `streamlake serve`, one slice every 5 s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import (
    Landing,
    ServeProcess,
    add_mode_arguments,
    drive,
    landing_figures,
    machine,
    run_figures,
    start_pipeline,
)

from flows.prefect_server import stop_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--interval", type=float, default=5, help="seconds between slices")
    parser.add_argument("--events", type=int, default=500, help="events per slice")
    parser.add_argument("--orders", type=int, default=20, help="orders per slice")
    add_mode_arguments(parser)
    args = parser.parse_args()
    if args.minutes <= 0 or args.interval <= 0:
        parser.error("--minutes and --interval must be positive")

    home, settings = start_pipeline("streamlake-freshness-")
    landing = Landing(settings, args.interval, args.events, args.orders, home / "ingestion.jsonl")
    serve = ServeProcess(settings, home, args.checkout) if args.mode == "serve" else None
    try:
        outcome = drive(
            settings,
            landing,
            serve,
            args.minutes,
            lambda seconds: f"{seconds:6.0f} s: {len(landing.landed)} slices landed",
        )
    finally:
        stop_server(settings)

    figures = {
        **machine(),
        "mode": args.mode,
        "checkout": str(args.checkout.resolve()),
        "minutes": round(outcome.seconds / 60, 2),
        "slices_landed": len(landing.landed),
        "records_landed": landing.records,
        "records_per_second": round(landing.records / outcome.seconds, 1),
        **run_figures(outcome.runs, outcome.started_wall),
        **landing_figures(outcome.arrivals),
        "caught_up_at_end": outcome.caught_up,
        "target_p95_s": 15,
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
