"""The served local pipeline under a stream of slices, and when each slice reached Gold.

Shared by bench/freshness.py and bench/load.py. A lake in a temporary folder
with a Prefect server of its own; slices of the simulated application land
through the real handlers from a process of their own, as Lambda lands them
apart from the transforms. The transforms run one of two ways:

- serve (the default): `streamlake serve`, the command a user types, in a
  process of its own, with its Bronze watch and its dbt worker; its ingest
  deployment (the simulator) is off (STREAMLAKE_SERVE_SIMULATOR=false), since
  the bench lands the slices. `--checkout DIR` serves another checkout of the
  project (an earlier commit, for figures before and after a change) with this
  environment.
- in-process: the transform flow called in the bench's own process whenever
  new Bronze has landed (the harness of the figures before `streamlake serve`
  was measured).

When each slice reached Gold is read from the lake itself once the run is
over: Silver stamps every row with the run that wrote it (`_processed_at`,
the dbt run's start), and a slice's events and orders carry its number
(event ids `evt-<10000 + slice>-...`, order ids from `(slice + 1) * 100000`),
so the newest stamp among a slice's rows names the dbt run that completed it
in Silver, and that run's Gold. The slice reached Gold when that dbt build
ended (its task run's end, from the Prefect API): its Gold models are
committed, and the lake is readable again from then on (locally, DuckDB's
catalog file is locked while dbt writes). Landing-to-Gold is that end less
the moment the slice's last file was written.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
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
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flows.demo_app.slices import ORDERS_PER_SLICE, land_slice  # noqa: E402
from flows.prefect_server import ensure_server, free_port, server_environment  # noqa: E402
from flows.warehouse.lakehouse import open_lake  # noqa: E402
from ingestion.observability import send_logs_to  # noqa: E402
from ingestion.settings import Settings  # noqa: E402
from ingestion.store import LakeStore  # noqa: E402

# slice_workload's seed (flows/demo_app/slices.py): the number in a slice's event ids.
SLICE_SEED_BASE = 10_000
MODES = ("serve", "in-process")


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
        landed.put((index, time.time(), sent))
        index += 1
        stop.wait(max(0.0, interval - (time.monotonic() - started)))


class Landing:
    """The ingest loop in a process of its own (in one process with the transforms
    they would share one interpreter lock); `run`, in a thread of the benchmark,
    starts it and collects what it has landed."""

    def __init__(
        self, settings: Settings, interval: float, events: int, orders: int, log_path: Path
    ) -> None:
        self.settings, self.interval, self.events, self.orders = settings, interval, events, orders
        self.log_path = log_path
        self.landed: list[tuple[int, float]] = []  # (slice, wall time its last file was written)
        self.records = 0
        self.pid: int | None = None
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        context = multiprocessing.get_context("spawn")
        queue, stop = context.Queue(), context.Event()
        arguments = (self.settings, self.interval, self.events, self.orders)
        process = context.Process(
            target=_land_forever,
            args=(*arguments, str(self.log_path), queue, stop),
            daemon=True,
        )
        process.start()
        self.pid = process.pid
        try:
            while not self.stop.is_set():
                if not process.is_alive():
                    raise RuntimeError(f"the landing process died (exit {process.exitcode})")
                try:
                    index, landed_at, sent = queue.get(timeout=0.5)
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

    def snapshot(self) -> list[tuple[int, float]]:
        with self.lock:
            return list(self.landed)


def add_mode_arguments(parser: argparse.ArgumentParser) -> None:
    """--mode (serve, in-process) and --checkout, for freshness.py and load.py."""
    parser.add_argument("--mode", choices=MODES, default="serve")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="serve this checkout of the project (e.g. an earlier commit, for a before figure)",
    )


def start_pipeline(prefix: str) -> tuple[Path, Settings]:
    """A lake in a new temporary folder with a Prefect server of its own, whose
    address is in this process's environment before Prefect is first imported."""
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
    return home, settings


class ServeProcess:
    """`streamlake serve` for the lake in a process (and session) of its own."""

    def __init__(self, settings: Settings, home: Path, checkout: Path = ROOT) -> None:
        self.settings, self.checkout = settings, checkout.resolve()
        self.log_path = home / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        environment = {
            **os.environ,
            "STREAMLAKE_LAKE_ROOT": self.settings.lake_root,
            "STREAMLAKE_PREFECT_PORT": str(self.settings.prefect_port),
            "STREAMLAKE_PREFECT_HOME": self.settings.prefect_home,
            "STREAMLAKE_SERVE_SIMULATOR": "false",
            "PYTHONPATH": str(self.checkout),
        }
        if self.checkout == ROOT:
            command = [str(Path(sys.executable).with_name("streamlake")), "serve"]
        else:  # another checkout's code, with this environment's packages
            command = [sys.executable, "-m", "flows.cli", "serve"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.checkout,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        print(f"`streamlake serve` from {self.checkout} (log: {self.log_path})", flush=True)
        if self.checkout != ROOT:
            # A checkout from before STREAMLAKE_SERVE_SIMULATOR serves the simulator
            # regardless, whose slices would land beside the bench's, under the same ids.
            threading.Thread(target=pause_simulator, daemon=True).start()

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-10:]
            raise RuntimeError("`streamlake serve` exited:\n" + "\n".join(tail))

    def stop(self) -> None:
        """Ctrl-C, as a user stops it; then whatever of its session is left."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def pause_simulator(seconds: float = 120) -> None:
    """Pause the served ingest deployment as soon as it is there, and drop its runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.states import Cancelling

    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            found = client.read_deployments(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["ingest"]))
            )
            for deployment in found:
                client.pause_deployment(deployment.id)
                for run in client.read_flow_runs(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["ingest"]))
                ):
                    if run.state is None or run.state.is_final():
                        continue
                    if run.state.is_scheduled():
                        client.delete_flow_run(run.id)
                    else:  # the runner stops a run it sees cancelling
                        client.set_flow_run_state(run.id, Cancelling(), force=True)
                print("paused the served simulator (ingest)", flush=True)
                return
            time.sleep(0.5)


def transform_in_process(
    landing: Landing, deadline: float, progress: Callable[[float], None]
) -> None:
    """The transform flow in this process whenever new Bronze has landed, until the
    deadline (or until it has caught up with a landing that has stopped)."""
    from flows.transform import transform

    transformed = 0
    while time.monotonic() < deadline:
        landed = len(landing.snapshot())
        if landed <= transformed:
            if landing.stop.is_set():
                return  # caught up with a landing that has stopped
            time.sleep(0.5)
            continue
        started = time.monotonic()
        transform(if_busy="wait", evaluate_alerts=True)
        transformed = landed
        progress(time.monotonic() - started)


@dataclass(frozen=True)
class TransformRun:
    """A transform flow run, from the Prefect API (epoch seconds)."""

    expected: float  # when it was due (a served run: when the watch or the schedule asked)
    started: float
    ended: float
    completed: bool
    # When its dbt build started and ended (Gold committed and the lake's catalog free
    # for readers; the run then reports and evaluates the alert rules). None: no dbt.
    build_started: float | None = None
    built: float | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def transform_runs() -> list[TransformRun]:
    """Every finished run of the transform flow on the bench's server, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    runs: list[TransformRun] = []
    with get_client(sync_client=True) as client:
        offset = 0
        while True:
            page = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["transform"])),
                limit=200,
                offset=offset,
            )
            builds = dbt_builds(client, [run.id for run in page])
            for run in page:
                if run.start_time is None or run.end_time is None or run.state is None:
                    continue
                expected = run.expected_start_time or run.start_time
                runs.append(
                    TransformRun(
                        expected.timestamp(),
                        run.start_time.timestamp(),
                        run.end_time.timestamp(),
                        run.state.is_completed(),
                        *builds.get(run.id, (None, None)),
                    )
                )
            if len(page) < 200:
                break
            offset += 200
    return sorted(runs, key=lambda run: run.started)


def dbt_builds(client: Any, flow_runs: list[Any]) -> dict[Any, tuple[float, float]]:
    """The start and end of each flow run's last `dbt build` task run (epoch seconds)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterName,
    )

    if not flow_runs:
        return {}
    found: dict[Any, tuple[float, float]] = {}
    offset = 0
    while True:
        page = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_runs)),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="dbt build")),
            limit=200,
            offset=offset,
        )
        for task_run in page:
            if None in (task_run.start_time, task_run.end_time, task_run.flow_run_id):
                continue
            span = (task_run.start_time.timestamp(), task_run.end_time.timestamp())
            found[task_run.flow_run_id] = max(span, found.get(task_run.flow_run_id, span))
        if len(page) < 200:
            return found
        offset += 200


def transform_running() -> bool:
    """A run of the served transform deployment is scheduled, pending or running now."""
    from flows.deployments import transforms_under_way

    return transforms_under_way(limit=1) > 0


def wait_until_caught_up(landing: Landing, timeout: float) -> bool:
    """After the last landing: until a transform that started after it has ended
    and none is under way (served runs start on their own); False on timeout."""
    landed = landing.snapshot()
    last = max((at for _, at in landed), default=0.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = transform_runs()
        if any(run.started > last for run in runs) and not transform_running():
            return True
        time.sleep(1)
    return False


def slices_written(settings: Settings) -> dict[int, float]:
    """Each slice's newest Silver stamp (epoch seconds): the start of the dbt run
    that wrote the last of its events and orders."""
    query = f"""
        with written as (
            select cast(split_part(event_id, '-', 2) as integer) - {SLICE_SEED_BASE} as slice,
                max(_processed_at) as stamp
            from lake.silver.events
            where event_id like 'evt-%'
            group by 1
            union all
            select cast(substr(order_id, 3) as bigint) // {ORDERS_PER_SLICE} - 1 as slice,
                max(_processed_at) as stamp
            from lake.silver.orders
            where order_id like 'o-%'
            group by 1
        )
        select slice, max(stamp) from written where slice >= 0 group by slice
    """
    with open_lake(settings) as con:
        rows = con.execute(query).fetchall()
    return {int(index): stamp.replace(tzinfo=UTC).timestamp() for index, stamp in rows}


@dataclass
class Arrivals:
    """When each landed slice reached Gold."""

    latencies: list[float] = field(default_factory=list)  # seconds, by slice
    backlog: list[tuple[float, int]] = field(default_factory=list)  # (run end, slices not in Gold)
    unreached: int = 0  # landed, not in Gold when the bench ended


def arrivals(
    landed: list[tuple[int, float]], written: dict[int, float], runs: list[TransformRun]
) -> Arrivals:
    """Landing-to-Gold of each slice, and the slices not yet in Gold at each run's end."""
    result = Arrivals()
    reached: dict[int, float] = {}
    for index, landed_at in landed:
        stamp = written.get(index)
        at = None if stamp is None else reached_at(stamp, runs)
        if at is None:
            result.unreached += 1
            continue
        reached[index] = at
        result.latencies.append(at - landed_at)
    for run in runs:
        waiting = sum(
            1
            for index, landed_at in landed
            if landed_at <= run.ended and reached.get(index, float("inf")) > run.ended
        )
        result.backlog.append((run.ended, waiting))
    return result


def reached_at(stamp: float, runs: list[TransformRun]) -> float | None:
    """When the dbt build stamped `stamp` ended, in the run holding it; if that run
    failed (Gold not written), when the next one that completed ended its build."""
    holding = [run for run in runs if run.started <= stamp <= run.ended]
    if holding and holding[0].completed:
        return holding[0].built or holding[0].ended
    later = [run.built or run.ended for run in runs if run.completed and run.started > stamp]
    return min(later) if later else None


def percentile(values: list[float], share: float) -> float | None:
    ordered = sorted(values)
    return ordered[max(0, round(share * len(ordered)) - 1)] if ordered else None


def landing_figures(result: Arrivals) -> dict[str, Any]:
    latencies = result.latencies
    return {
        "slices_measured": len(latencies),
        "slices_not_in_gold_at_end": result.unreached,
        "landing_to_gold_p50_s": _median(latencies),
        "landing_to_gold_p95_s": _p95(latencies),
        "landing_to_gold_max_s": round(max(latencies), 1) if latencies else None,
    }


def run_figures(runs: list[TransformRun], started_wall: float) -> dict[str, Any]:
    """The transform runs of the bench: how many, how long, and (served) how long
    a run waited between being asked for and starting."""
    ours = [run for run in runs if run.started >= started_wall]
    builds = sorted(
        (run.build_started, run.built)
        for run in ours
        if run.build_started is not None and run.built is not None
    )
    build_seconds = [end - start for start, end in builds]
    # From one build's end to the next one's start: the run's report and alert
    # rules, then the next run's Bronze check (its process is up already, waiting).
    between = [nxt[0] - prev[1] for prev, nxt in itertools.pairwise(builds)]
    return {
        "transforms": len(ours),
        "transforms_failed": sum(1 for run in ours if not run.completed),
        "transforms_without_dbt": len(ours) - len(builds),
        "dbt_build_seconds_median": _median(build_seconds),
        "dbt_build_seconds_p95": _p95(build_seconds),
        "seconds_between_builds_median": _median(between),
        "transform_run_seconds_median": _median([run.seconds for run in ours if run.completed]),
        "transform_wait_to_start_median_s": _median([run.started - run.expected for run in ours]),
    }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _p95(values: list[float]) -> float | None:
    found = percentile(values, 0.95)
    return None if found is None else round(found, 1)


def machine() -> dict[str, Any]:
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# --- memory -------------------------------------------------------------------------------


def rss_mb(pid: int | str = "self") -> float:
    """A process's resident memory now (Linux), in MB; NaN when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children_of() -> dict[int, list[int]]:
    """Every process's children (Linux /proc)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    tree, found, todo = children_of(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# --- one bench run -----------------------------------------------------------------------


@dataclass
class Outcome:
    """What a bench run measured."""

    started_wall: float
    seconds: float  # landing, from its start to its stop
    runs: list[TransformRun]
    arrivals: Arrivals
    caught_up: bool  # every slice landed had a transform started after it, finished


def drive(
    settings: Settings,
    landing: Landing,
    serve: ServeProcess | None,
    minutes: float,
    tick: Callable[[float], str],
    on_start: Callable[[], None] = lambda: None,
) -> Outcome:
    """Land for `minutes` while the transforms run (served, or in this process
    without `serve`), let the last slices reach Gold, then read when each did.
    `tick(seconds so far)` says how it goes, every 30 s (served) or after each
    transform (in this process); `on_start()` is called once all has started."""
    started_wall, started = time.time(), time.monotonic()
    deadline = started + minutes * 60
    landing_thread = threading.Thread(target=landing.run, daemon=True)
    if serve is not None:
        serve.start()
    landing_thread.start()
    on_start()
    try:
        if serve is None:
            transform_in_process(
                landing, deadline, lambda _: print(tick(time.monotonic() - started), flush=True)
            )
        else:
            while time.monotonic() < deadline:
                time.sleep(min(30.0, max(0.0, deadline - time.monotonic())))
                serve.check()
                print(tick(time.monotonic() - started), flush=True)
        seconds = time.monotonic() - started
        landing.stop.set()
        landing_thread.join()
        if serve is None:
            transform_in_process(landing, time.monotonic() + 120, lambda seconds: None)
            caught_up = True
        else:
            caught_up = wait_until_caught_up(landing, timeout=180)
    finally:
        landing.stop.set()
        if serve is not None:
            serve.stop()
    runs = transform_runs()
    result = arrivals(landing.snapshot(), slices_written(settings), runs)
    return Outcome(started_wall, seconds, runs, result, caught_up)
