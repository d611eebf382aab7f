"""The aws target executed: the same Bronze built on both targets gives the same
Silver and Gold.

One small plan (updates of old orders, deletes, late events, redelivered and
out-of-order batches) lands through the handlers twice with the same clock:
into a local lake, built by dbt on DuckDB + DuckLake, and into the Athena
emulator's S3, built by dbt-athena against the emulator, which runs every
statement on its DuckDB (flows/athena_emulator/executor.py). It lands in two
halves with a build after each, so that the second build takes the
incremental path (watermarks, MERGE with its delete and update conditions). Every Silver and
Gold table must then hold the same rows in every column except the
bookkeeping timestamps (tests/test_lakehouse.py BOOKKEEPING: when a row was
written, not what it holds).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.athena_emulator import AthenaEmulator
from flows.athena_emulator.landing import land
from flows.lakehouse import open_lake, run_dbt
from flows.simulator.delivery import DeliveryConfig, deliveries
from flows.simulator.feed import feed
from flows.simulator.workload import WorkloadConfig, generate
from ingestion.settings import Settings
from tests.test_athena import (
    BUCKET,
    DATABASES,
    LAKE,
    ROOT,
    WORKGROUP,
    AwsBuild,
    _isolated_environment,
)
from tests.test_lakehouse import BOOKKEEPING, GOLD, SILVER

pytestmark = pytest.mark.slow

STATEMENT_LOG = ROOT / "target" / "athena_emulator" / "execution.log"
LANDED_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
WORKLOAD = WorkloadConfig(
    seed=11,
    customers=15,
    products=8,
    orders=120,
    events=800,
    days=6,
    end=LANDED_AT - timedelta(minutes=5),
    delete_fraction=0.1,
    late_fraction=0.05,
    late_days_max=5,
)
# Tables the aws branches of the models build differently today; each entry
# is a bug in dbt_project (see the report of issue #17), not in the emulator.
KNOWN_DIFFERENCES: dict[str, str] = {}


@pytest.fixture(scope="module")
def plan() -> list[Any]:
    return deliveries(
        generate(WORKLOAD),
        DeliveryConfig(
            seed=4, dynamodb_batch_size=40, out_of_order_fraction=0.2, duplicate_fraction=0.1
        ),
    )


def _clock() -> datetime:
    return LANDED_AT


def _halves(plan: list[Any]) -> list[tuple[list[Any], Any]]:
    """The plan's two halves, each with the clock it lands with (an hour apart)."""
    middle = len(plan) // 2
    return [
        (plan[:middle], lambda: LANDED_AT - timedelta(hours=1)),
        (plan[middle:], _clock),
    ]


@pytest.fixture(scope="module")
def local_tables(plan: list[Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = Settings(lake_root=str(tmp_path_factory.mktemp("local") / "lake"))
    run_dbt(settings, ["seed", "--quiet"])
    for half, clock in _halves(plan):
        feed(half, settings, clock=clock)
        run_dbt(settings, ["run", "--quiet"])
    tables: dict[str, Any] = {}
    with open_lake(settings) as con:
        for layer, names in (("silver", SILVER), ("gold", GOLD)):
            for name in names:
                columns = [
                    row[0]
                    for row in con.execute(
                        "select column_name from information_schema.columns "
                        "where table_catalog = 'lake' and table_schema = ? and table_name = ? "
                        "order by ordinal_position",
                        [layer, name],
                    ).fetchall()
                    if row[0] not in BOOKKEEPING
                ]
                rows = con.execute(
                    f'select {", ".join(columns)} from lake.{layer}."{name}" order by all'
                ).fetchall()
                tables[f"{layer}.{name}"] = (columns, rows)
    return tables


@pytest.fixture(scope="module")
def aws_build(plan: list[Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsBuild]:
    cache = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp(), prefix="s3-cache-"))
    with AthenaEmulator(STATEMENT_LOG, cache_dir=cache) as emulator:
        emulator.client("s3").create_bucket(Bucket=BUCKET)
        emulator.client("athena").create_work_group(
            Name=WORKGROUP,
            Configuration={
                "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/athena-results/"},
                "EnforceWorkGroupConfiguration": True,
            },
        )
        build = AwsBuild(
            emulator=emulator,
            target_path=tmp_path_factory.mktemp("aws") / "target",
            steps={},
            environment=_isolated_environment(emulator),
        )
        steps: list[tuple[str, list[str]]] = [
            ("bronze", ["run-operation", "create_bronze_tables"]),
            ("seed", ["seed"]),
        ]
        for name, args in steps:
            _dbt(build, name, args)
        for number, (half, clock) in enumerate(_halves(plan), start=1):
            land(emulator, half, LAKE, clock=clock)
            _dbt(build, f"run {number}", ["run"])
        yield build


def _dbt(build: AwsBuild, name: str, args: list[str]) -> None:
    step = build.dbt(name, *args)
    if step.returncode != 0:
        pytest.fail(f"dbt {' '.join(args)} failed on the emulator:\n{step.output[-8000:]}")


@pytest.mark.parametrize(
    "table",
    [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[name])]
            if name in KNOWN_DIFFERENCES
            else [],
        )
        for name in [f"silver.{n}" for n in SILVER] + [f"gold.{n}" for n in GOLD]
    ],
)
def test_the_aws_build_equals_the_local_build(
    table: str, local_tables: dict[str, Any], aws_build: AwsBuild
) -> None:
    layer, name = table.split(".")
    columns, local_rows = local_tables[table]
    assert local_rows, f"{table} is empty locally: the plan is too small to compare it"
    engine = aws_build.emulator.frontend.engine
    selected = ", ".join(f'"{c}"' for c in columns)
    aws_rows = engine.query(
        f'select {selected} from awsdatacatalog."{DATABASES[layer]}"."{name}" order by all'
    )
    missing = sorted(set(local_rows) - set(aws_rows))[:5]
    extra = sorted(set(aws_rows) - set(local_rows))[:5]
    assert aws_rows == local_rows, (
        f"{table}: {len(local_rows)} rows locally, {len(aws_rows)} on aws; columns {columns}\n"
        f"only local: {missing}\nonly aws: {extra}"
    )


def test_the_second_build_merged_into_every_table(aws_build: AwsBuild) -> None:
    """What makes the comparison cover the aws target's incremental SQL."""
    merged = {
        s.outcome.target.split(".")[1]
        for s in aws_build.steps["run 2"].statements
        if s.outcome.substatement_type == "MERGE_INTO" and s.outcome.target
    }
    assert set(SILVER) | set(GOLD) <= merged
    assert all(s.outcome.state == "SUCCEEDED" for s in aws_build.emulator.statements)
