"""A run on Athena, modeled: its time with dbt's threads over the DAG, and landing to Gold.

The Athena emulator measures each statement of a dbt invocation (bytes
scanned and billed); what Athena would take for it is a model
(athena_emulator/emulate.py `modeled_latency`: about 1.2 s of queueing and
planning plus 16 MB/s of scan, in whole seconds of dbt-athena's 1 s poll).
Here the statements are put back on the nodes that sent them (dbt's query
comment names the node) and the nodes on the DAG of the run (the manifest's
dependencies, a model's tests before what is downstream of it, as `dbt build`
orders them): the run's time is dbt's scheduling of those nodes on the
profile's threads, never less than the DAG's critical path. Glue calls and
dbt's own work between statements are not counted.

Landing to Gold on AWS is then the wait for the next run, the runner's start
before dbt (`RUNNER_START_S`, an assumption: Fargate's already running
process starts a flow run, lists the new Bronze on S3) and the run's modeled
time:

- at the default cadence (a run every `transform_interval_seconds`), a file
  waits for the next scheduled run;
- with the Bronze-triggered mode on (`STREAMLAKE_TRANSFORM_POLL_SECONDS`, and
  `STREAMLAKE_TRANSFORM_MIN_INTERVAL_SECONDS` as its cost guard), a run
  starts when the watch sees new Bronze, at most once a minimum interval, so
  under steady traffic there is a run every max(interval, run) seconds.

A month's Athena cost is the run's billed bytes (and the alert rules' query
after each run) times the runs a month.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from athena_emulator.emulate import (
    MONTH_SECONDS,
    STATE_FOLDER,
    TB,
    USD_PER_TB,
    modeled_latency,
)
from athena_emulator.server import MINIMUM_BILLED_BYTES

ROOT = Path(__file__).resolve().parents[1]
# Before dbt's first statement on AWS: the runner (already running on Fargate)
# starts a flow-run process, which lists the new Bronze on S3 and starts dbt.
RUNNER_START_S = 10.0
# After each run the transform evaluates the alert rules in one Athena query,
# billed its minimum.
ALERT_QUERY_BILLED = MINIMUM_BILLED_BYTES
ALERT_QUERY_S = 2.0
# The statement log's blocks (athena_emulator/server.py _log_block).
_BLOCK = re.compile(
    r"-- #\d+ \S+ (?P<state>\w+) \S+(?: \S+)?\n-- kind=(?P<kind>\w+) "
    r"scanned=(?P<scanned>\d+) billed=(?P<billed>\d+)\n(?P<sql>.*?)\n;\n",
    re.S,
)
_NODE = re.compile(r'"node_id": "([^"]+)"')
START = "(on-run-start)"


@dataclass(frozen=True)
class LoggedStatement:
    node: str  # the dbt node that sent it, or START for a run hook
    kind: str
    bytes_scanned: int
    billed_bytes: int

    @property
    def seconds(self) -> float:
        return modeled_latency(self)  # type: ignore[arg-type]


def last_call_statements(lake: Path) -> list[LoggedStatement]:
    """Every statement of the emulator's last call (its statements.log), with its node."""
    text = (lake / STATE_FOLDER / "statements.log").read_text()
    found = []
    for block in _BLOCK.finditer(text):
        node = _NODE.search(block["sql"])
        found.append(
            LoggedStatement(
                node.group(1) if node else START,
                block["kind"],
                int(block["scanned"]),
                int(block["billed"]),
            )
        )
    return found


def run_dag(lake: Path) -> dict[str, set[str]]:
    """The last dbt invocation's nodes (its run_results.json) and what each waits for."""
    target = lake / STATE_FOLDER / "dbt" / "target"
    ran = [r["unique_id"] for r in json.loads((target / "run_results.json").read_text())["results"]]
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = {**manifest["nodes"], **manifest.get("unit_tests", {})}
    in_run = {uid for uid in ran if not uid.startswith("operation.")}

    def parents(uid: str) -> set[str]:
        return set(nodes.get(uid, {}).get("depends_on", {}).get("nodes", [])) & in_run

    tests_of: dict[str, set[str]] = {}
    for uid in in_run:
        if uid.startswith("test."):
            for parent in parents(uid):
                tests_of.setdefault(parent, set()).add(uid)
    upstream: dict[str, set[str]] = {}

    def ancestors(uid: str) -> set[str]:
        if uid not in upstream:
            upstream[uid] = set()
            for parent in parents(uid):
                upstream[uid] |= {parent} | ancestors(parent)
        return upstream[uid]

    waits: dict[str, set[str]] = {}
    for uid in in_run:
        waits[uid] = parents(uid)
        if not uid.startswith("test."):
            # dbt build: what is downstream of a model waits for the model's tests,
            # those whose every parent is upstream of it (dbt's rule, which keeps cycles out).
            for parent in list(waits[uid]):
                waits[uid] |= {
                    test for test in tests_of.get(parent, set()) if parents(test) <= ancestors(uid)
                }
    return waits


def project_threads(target: str = "aws") -> int:
    """The thread count of the profile's target (profiles.yml)."""
    profiles = yaml.safe_load((ROOT / "profiles.yml").read_text())
    return int(profiles["streamlake"]["outputs"][target].get("threads", 1))


@dataclass(frozen=True)
class ModeledRun:
    statements: int
    one_thread_s: float
    critical_path_s: float
    threaded_s: float
    threads: int
    billed_bytes: int

    @property
    def cost_usd(self) -> float:
        return (self.billed_bytes + ALERT_QUERY_BILLED) / TB * USD_PER_TB


def model_run(lake: Path, threads: int) -> ModeledRun:
    """The last call's dbt run on Athena: one thread, the critical path, `threads`."""
    statements = last_call_statements(lake)
    node_s: dict[str, float] = {}
    for statement in statements:
        node_s[statement.node] = node_s.get(statement.node, 0.0) + statement.seconds
    start = node_s.pop(START, 0.0)
    waits = run_dag(lake) if statements else {}
    for node in node_s:  # a node the run results do not list (they always do)
        waits.setdefault(node, set())
    return ModeledRun(
        statements=len(statements),
        one_thread_s=start + sum(node_s.values()),
        critical_path_s=start + critical_path(node_s, waits),
        threaded_s=start + scheduled(node_s, waits, threads),
        threads=threads,
        billed_bytes=sum(s.billed_bytes for s in statements),
    )


def critical_path(seconds: dict[str, float], waits: dict[str, set[str]]) -> float:
    """The longest chain of waits, in seconds."""
    done: dict[str, float] = {}

    def finish(node: str) -> float:
        if node not in done:
            done[node] = seconds.get(node, 0.0) + max(
                (finish(p) for p in waits.get(node, ())), default=0.0
            )
        return done[node]

    return max((finish(node) for node in waits), default=0.0)


def scheduled(seconds: dict[str, float], waits: dict[str, set[str]], threads: int) -> float:
    """dbt's scheduling: a node starts on a free thread once all it waits for has
    finished, in the order the nodes became ready; the time the last one ends."""
    remaining = {node: set(parents) for node, parents in waits.items()}
    ready = sorted(node for node, parents in remaining.items() if not parents)
    running: list[tuple[float, str]] = []
    now = 0.0
    finished = 0
    while finished < len(remaining):
        while ready and len(running) < threads:
            node = ready.pop(0)
            heapq.heappush(running, (now + seconds.get(node, 0.0), node))
        now, node = heapq.heappop(running)
        finished += 1
        for other, parents in remaining.items():
            if node in parents:
                parents.discard(node)
                if not parents:
                    ready.append(other)
    return now


@dataclass(frozen=True)
class LandingToGold:
    mode: str
    runs_a_month: int
    p50_s: float
    p95_s: float
    cost_a_month_usd: float


def landing_to_gold(
    run: ModeledRun, interval_s: float, poll_s: float, min_interval_s: float
) -> list[LandingToGold]:
    """Landing to Gold under steady traffic: at the cadence, and Bronze-triggered."""
    busy = RUNNER_START_S + run.threaded_s
    # A scheduled run that finds the last one running skips: the cadence's multiple.
    cycle = interval_s * math.ceil(busy / interval_s)
    scheduled_runs = int(MONTH_SECONDS // cycle)
    triggered_cycle = max(min_interval_s, busy + ALERT_QUERY_S)
    triggered_runs = int(MONTH_SECONDS // triggered_cycle)
    return [
        LandingToGold(
            f"every {interval_s:.0f} s (default)",
            scheduled_runs,
            cycle / 2 + busy,
            0.95 * cycle + busy,
            scheduled_runs * run.cost_usd,
        ),
        LandingToGold(
            f"Bronze-triggered, {poll_s:.0f} s poll, at least {min_interval_s:.0f} s apart",
            triggered_runs,
            triggered_cycle / 2 + poll_s / 2 + busy,
            0.95 * triggered_cycle + poll_s + busy,
            triggered_runs * run.cost_usd,
        ),
    ]
