"""The aws target, built offline against the Athena emulator (athena_emulator/).

One emulator (moto's server on 127.0.0.1 with Athena's front end) serves the
module. A small plan lands through the handlers into its S3, then dbt runs as
on AWS: create_bronze_tables, `dbt seed`, `dbt run` twice (the first build,
then the incremental MERGE path from the tables' own watermarks) and `dbt docs
generate`, every statement checked with the Trino grammar, Trino's function
catalog and the Glue catalog, and run on the emulator's DuckDB. The statement
log is kept at target/athena_emulator/statements.log.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from athena_emulator.landing import land
from athena_emulator.server import AthenaEmulator, Statement
from flows.demo_app.delivery import DeliveryConfig, deliveries
from flows.demo_app.workload import WorkloadConfig, generate
from flows.warehouse.lakehouse import dbt_environment
from ingestion.application import load_application
from ingestion.bronze_catalog import bronze_tables, glue_table_input
from ingestion.settings import Settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
STATEMENT_LOG = ROOT / "target" / "athena_emulator" / "statements.log"
BUCKET = "streamlake-emulated-lake"
LAKE = f"s3://{BUCKET}/lake"
WORKGROUP = "streamlake"
# Enough Bronze for every model to hold rows, so that the watermarks are real.
SMALL_PLAN = WorkloadConfig(seed=3, customers=8, products=5, orders=30, events=200, days=3)
# Names other than the layers' own, so that nothing can lean on the defaults.
DATABASES = {"bronze": "sl_bronze", "silver": "sl_silver", "gold": "sl_gold"}
# Contract types (Gold YAML) as Glue stores them for an Iceberg table.
GLUE_TYPE = {
    "varchar": "string",
    "integer": "int",
    "bigint": "bigint",
    "double": "double",
    "date": "date",
    "timestamp": "timestamp",
    "boolean": "boolean",
    "decimal(18,2)": "decimal(18,2)",
}


@dataclass
class DbtStep:
    command: list[str]
    returncode: int
    output: str
    statements: list[Statement]


@dataclass
class AwsBuild:
    emulator: AthenaEmulator
    target_path: Path
    steps: dict[str, DbtStep]
    environment: dict[str, str]
    # The project dbt builds: this one, or a copy with another application file.
    project_dir: Path = ROOT

    def dbt(self, name: str, *args: str) -> DbtStep:
        before = len(self.emulator.statements)
        self.emulator.mark(f"dbt {' '.join(args)}")
        # The entry point the flows and `emulate-athena` run dbt through.
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "flows.warehouse.dbt_command",
                *args,
                "--target",
                "aws",
                "--project-dir",
                str(self.project_dir),
                "--profiles-dir",
                str(self.project_dir),
                "--target-path",
                str(self.target_path),
                "--log-path",
                str(self.target_path.parent / "logs"),
            ],
            cwd=ROOT,
            env=self.environment,
            capture_output=True,
            text=True,
            check=False,
        )
        step = DbtStep(
            command=list(args),
            returncode=completed.returncode,
            output=completed.stdout + completed.stderr,
            statements=self.emulator.statements[before:],
        )
        self.steps[name] = step
        return step

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.target_path / "manifest.json").read_text())


def _isolated_environment(emulator: AthenaEmulator) -> dict[str, str]:
    settings = Settings(
        target="aws",
        lake_root=LAKE,
        aws_region=emulator.region,
        athena_workgroup=WORKGROUP,
        athena_s3_staging_dir=f"s3://{BUCKET}/athena-results/",
        bronze_database=DATABASES["bronze"],
        silver_database=DATABASES["silver"],
        gold_database=DATABASES["gold"],
    )
    environment = emulator.process_environment()
    environment.update(dbt_environment(settings))
    return environment


@contextmanager
def emulated_account(log: Path, cache_dir: Path | None = None) -> Iterator[AthenaEmulator]:
    """The emulator with the lake's bucket and a workgroup as the CDK app makes it: engine
    v3, its results location enforced."""
    with AthenaEmulator(log, cache_dir=cache_dir) as emulator:
        emulator.client("s3").create_bucket(Bucket=BUCKET)
        emulator.client("athena").create_work_group(
            Name=WORKGROUP,
            Configuration={
                "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/athena-results/"},
                "EnforceWorkGroupConfiguration": True,
            },
        )
        yield emulator


@pytest.fixture(scope="module")
def aws_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsBuild]:
    with emulated_account(STATEMENT_LOG) as emulator:
        plan = deliveries(generate(SMALL_PLAN), DeliveryConfig(seed=3))
        land(emulator, plan, LAKE)
        build = AwsBuild(
            emulator=emulator,
            target_path=tmp_path_factory.mktemp("aws") / "target",
            steps={},
            environment=_isolated_environment(emulator),
        )
        sequence = [
            ("bronze", ["run-operation", "create_bronze_tables"]),
            ("seed", ["seed"]),
            ("first run", ["run"]),
            ("second run", ["run"]),
            ("docs", ["docs", "generate"]),
            ("maintenance", ["run-operation", "iceberg_maintenance"]),
        ]
        for name, args in sequence:
            step = build.dbt(name, *args)
            if step.returncode != 0:
                pytest.fail(f"dbt {' '.join(args)} failed on the emulator:\n{step.output[-8000:]}")
        yield build


def _models(build: AwsBuild) -> dict[str, dict[str, Any]]:
    return {
        node["name"]: node
        for node in build.manifest()["nodes"].values()
        if node["resource_type"] == "model"
    }


def _iceberg_models(build: AwsBuild) -> dict[str, dict[str, Any]]:
    return {
        name: node
        for name, node in _models(build).items()
        if node["config"].get("table_type") == "iceberg"
    }


def test_the_build_passes_every_statement(aws_build: AwsBuild) -> None:
    statements = aws_build.emulator.statements
    failed = [s for s in statements if s.outcome.state != "SUCCEEDED"]
    assert not failed, "\n\n".join(f"{s.outcome.reason}\n{s.sql}" for s in failed)
    kinds = {s.outcome.substatement_type for s in statements}
    assert {"CREATE_TABLE", "CREATE_VIEW", "CREATE_TABLE_AS_SELECT", "MERGE_INTO"} <= kinds
    assert {"SELECT", "OPTIMIZE", "VACUUM"} <= kinds
    log = STATEMENT_LOG.read_text()
    assert log.count("\n-- #") == len(statements)
    assert "-- ==== dbt run ====" in log


def test_glue_holds_every_silver_and_gold_model_with_its_columns(aws_build: AwsBuild) -> None:
    glue = aws_build.emulator.client("glue")
    s3 = aws_build.emulator.client("s3")
    models = _iceberg_models(aws_build)
    layers = {node["fqn"][1] for node in models.values()}
    assert layers == {"silver", "gold"}
    assert len(models) == 17  # data_quality among them
    for name, node in models.items():
        database = DATABASES[node["fqn"][1]]
        table = glue.get_table(DatabaseName=database, Name=name)["Table"]
        assert table["Parameters"]["table_type"] == "ICEBERG"
        columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
        documented = node["columns"]
        assert set(columns) == set(documented), name
        if node["config"]["contract"]["enforced"]:
            for column, spec in documented.items():
                assert columns[column] == GLUE_TYPE[spec["data_type"].replace(" ", "")], (
                    f"{name}.{column}"
                )
        # The emulator's stand-in for Iceberg metadata: partition spec and properties.
        bucket, _, key = (
            table["Parameters"]["metadata_location"].removeprefix("s3://").partition("/")
        )
        metadata = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert metadata["properties"]["write_compression"] == "zstd"
        assert metadata["properties"]["vacuum_max_snapshot_age_seconds"] == "604800"
        assert metadata["partition-spec"] == (node["config"].get("partitioned_by") or [])
    partitioned = {n: m["config"].get("partitioned_by") for n, m in models.items()}
    assert partitioned["orders"] == ["day(order_date)"]
    assert partitioned["events"] == ["day(event_date)"]
    assert partitioned["daily_sales_by_region"] == ["day(order_date)"]
    # Tables without a time grain stay whole (see the models' YAML).
    assert partitioned["customers"] is None
    assert partitioned["key_metrics"] is None
    # Views over Bronze, and no temporary table left behind.
    views = glue.get_tables(DatabaseName=DATABASES["bronze"])["TableList"]
    assert {t["Name"] for t in views if t["TableType"] == "VIRTUAL_VIEW"} == {
        "stg_events",
        "stg_customers",
        "stg_products",
        "stg_orders",
    }
    for database in DATABASES.values():
        names = [t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"]]
        assert not [n for n in names if "__dbt_tmp" in n], names


def test_the_second_run_merges_into_every_table_from_its_watermark(aws_build: AwsBuild) -> None:
    statements = aws_build.steps["second run"].statements
    merged = {
        s.outcome.target.split(".")[1]
        for s in statements
        if s.outcome.substatement_type == "MERGE_INTO" and s.outcome.target
    }
    assert merged == set(_iceberg_models(aws_build))
    # One statement per model: a MERGE from the model's own query, no temporary
    # table (dbt_project/macros/materializations/incremental_athena.sql).
    assert not [s for s in statements if s.outcome.substatement_type == "CREATE_TABLE_AS_SELECT"]
    per_model = Counter(
        s.sql.split('"node_id": "', 1)[1].split('"', 1)[0]
        for s in statements
        if '"node_id": "model.' in s.sql
    )
    merges = {f"model.streamlake.{name}" for name in _iceberg_models(aws_build)}
    expected = dict.fromkeys(merges, 1)
    # Silver events ask the days of their new rows; their post-hook takes the
    # Gold event models' changed days from that answer, since those models had
    # read all of Silver events before the run (no query of its own).
    expected["model.streamlake.events"] = 2
    assert {node: per_model[node] for node in merges} == expected
    assert not [s for s in statements if "max(_first_processed_at)" in s.sql]
    # Silver events' MERGE reads the target's partitions of its new rows' days
    # alone, and takes only new rows of those days.
    events = next(s for s in statements if s.outcome.target == "sl_silver.events")
    bound = re.search(
        r"and \(target\.event_date between date '[-\d]+' and date '[-\d]+'", events.sql
    )
    assert bound, events.sql
    assert re.search(r"cast\(event_time as date\) in \(date '", events.sql)
    assert re.search(r"ingestion_time <= timestamp '", events.sql)
    # Every watermark of the run in one query, at its start (on-run-start), and
    # none read by a model itself.
    (hook,) = [s for s in statements if "' as unique_id, " in s.sql]
    for name in _iceberg_models(aws_build):
        assert f'"{name}"' in hook.sql, name
    assert not [s for s in statements if re.search(r"^\s*select max\(", s.sql, re.MULTILINE)]
    # The increments read from each table's own watermark, rendered as a literal.
    orders = next(s for s in statements if s.outcome.target == "sl_silver.orders")
    assert "merge into" in orders.sql
    assert "changes.ingestion_time > timestamp '" in orders.sql
    assert "cast(dt as date) >= date '" in orders.sql
    daily = next(s for s in statements if s.outcome.target == "sl_gold.daily_sales_by_region")
    assert re.search(r"when matched and \(src\.order_count = 0\)\s+then delete", daily.sql)


def test_bronze_tables_are_the_handlers_schema(aws_build: AwsBuild) -> None:
    glue = aws_build.emulator.client("glue")
    for table in bronze_tables(load_application()):
        expected = glue_table_input(table, LAKE)
        actual = glue.get_table(DatabaseName=DATABASES["bronze"], Name=table.name)["Table"]
        descriptor = actual["StorageDescriptor"]
        assert descriptor["Columns"] == expected["StorageDescriptor"]["Columns"]
        assert actual["PartitionKeys"] == expected["PartitionKeys"]
        assert descriptor["Location"] == expected["StorageDescriptor"]["Location"]
        assert descriptor["SerdeInfo"] == expected["StorageDescriptor"]["SerdeInfo"]
        assert descriptor["InputFormat"] == expected["StorageDescriptor"]["InputFormat"]
        assert actual["Parameters"].items() >= expected["Parameters"].items()
        assert actual["Parameters"]["comment"] == expected["Description"]


def test_docs_catalog_covers_every_model(aws_build: AwsBuild) -> None:
    catalog = json.loads((aws_build.target_path / "catalog.json").read_text())
    nodes = {node["metadata"]["name"] for node in catalog["nodes"].values()}
    assert set(_models(aws_build)) <= nodes
    assert "event_types" in nodes
    sources = {source["metadata"]["name"] for source in catalog["sources"].values()}
    assert sources == {t.name for t in bronze_tables(load_application())}


def test_maintenance_optimizes_and_vacuums_every_iceberg_table(aws_build: AwsBuild) -> None:
    statements = aws_build.steps["maintenance"].statements
    models = _iceberg_models(aws_build)
    for verb in ("OPTIMIZE", "VACUUM", "ALTER_TABLE_SET_PROPERTIES"):
        targets = {
            s.outcome.target.split(".")[1]
            for s in statements
            if s.outcome.substatement_type == verb and s.outcome.target
        }
        assert targets == set(models), verb
    optimize = next(s for s in statements if s.outcome.substatement_type == "OPTIMIZE")
    assert optimize.sql.lower().endswith("rewrite data using bin_pack")
    assert "maintained 17 Iceberg tables" in aws_build.steps["maintenance"].output


BAD_SQL = {
    "a :: cast": ("select order_id::varchar as id from sl_silver.orders", "SYNTAX_ERROR"),
    "INTERVAL 3 DAY": (
        "select order_id from sl_silver.orders where created_at > now() - interval 3 day",
        "SYNTAX_ERROR",
    ),
    "strftime": (
        "select strftime(created_at, '%Y-%m-%d') as day from sl_silver.orders",
        "FUNCTION_NOT_FOUND",
    ),
    "QUALIFY": (
        "select order_id from sl_silver.orders "
        "qualify row_number() over (partition by order_id order by changed_at desc) = 1",
        "SYNTAX_ERROR",
    ),
    "* EXCLUDE": ("select * exclude (amount) from sl_silver.orders", "SYNTAX_ERROR"),
    "a missing column": ("select order_total from sl_silver.orders", "COLUMN_NOT_FOUND"),
    "a missing table": ("select order_id from sl_silver.order_lines", "TABLE_NOT_FOUND"),
    "a select alias reused in the same select": (
        "select amount * 2 as doubled, doubled + 1 as more from sl_silver.orders",
        "COLUMN_NOT_FOUND",
    ),
    "$path through a CTE": (
        'with landed as (select * from sl_bronze.orders) select "$path" from landed',
        "COLUMN_NOT_FOUND",
    ),
    "varchar compared with a number": (
        "select order_id from sl_silver.orders where status = 1",
        "TYPE_MISMATCH",
    ),
    "backticks in a query": ("select `order_id` from sl_silver.orders", "SYNTAX_ERROR"),
    "timestamp(3) into an Iceberg table": (
        "create table sl_silver.stamps with (table_type = 'iceberg', is_external = false, "
        f"location = '{LAKE}/warehouse/stamps') as "
        "select cast(created_at as timestamp(3)) as at from sl_silver.orders",
        "NOT_SUPPORTED",
    ),
    "an unknown CTAS property": (
        "create table sl_silver.stamps with (table_type = 'iceberg', is_external = false, "
        f"location = '{LAKE}/warehouse/stamps', sort_by = ARRAY['created_at']) as "
        "select created_at from sl_silver.orders",
        "INVALID_TABLE_PROPERTY",
    ),
    "double quotes in Hive DDL": (
        'create external table "sl_bronze"."x" (a string) location \'s3://b/x/\'',
        "FAILED: ParseException",
    ),
    "OPTIMIZE of a Hive table": (
        "optimize sl_bronze.orders rewrite data using bin_pack",
        "NOT_SUPPORTED",
    ),
    "a Hive type Athena does not know": (
        f"create external table sl_bronze.x (a varchar) location '{LAKE}/x/'",
        "FAILED: ParseException",
    ),
    "EXTERNAL for an Iceberg table": (
        f"create external table sl_silver.x (a string) location '{LAKE}/x/' "
        "tblproperties ('table_type' = 'ICEBERG')",
        "FAILED: External keyword not supported for table type ICEBERG",
    ),
    "MERGE into a Hive table": (
        "merge into sl_bronze.orders as target using sl_bronze.orders as src "
        "on (target.event_id = src.event_id) when matched then delete",
        "NOT_SUPPORTED",
    ),
    "a MERGE insert that reads the target": (
        "merge into sl_silver.orders as target using sl_silver.orders as src "
        "on (target.order_id = src.order_id) "
        "when not matched then insert (order_id) values (target.order_id)",
        "COLUMN_NOT_FOUND",
    ),
    "RENAME of a Hive table": (
        "alter table sl_bronze.orders rename to sl_bronze.orders_old",
        "FAILED: ALTER TABLE RENAME TO is supported only for Iceberg tables",
    ),
}


def _run(build: AwsBuild, sql: str) -> dict[str, Any]:
    athena = build.emulator.client("athena")
    query_id = athena.start_query_execution(
        QueryString=sql,
        QueryExecutionContext={"Catalog": "awsdatacatalog", "Database": DATABASES["silver"]},
        WorkGroup=WORKGROUP,
    )["QueryExecutionId"]
    return athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]


@pytest.mark.parametrize("case", list(BAD_SQL), ids=list(BAD_SQL))
def test_the_emulator_rejects_sql_athena_rejects(aws_build: AwsBuild, case: str) -> None:
    sql, error = BAD_SQL[case]
    status = _run(aws_build, sql)["Status"]
    assert status["State"] == "FAILED"
    assert status["StateChangeReason"].startswith(error), status["StateChangeReason"]
    assert status["AthenaError"]["ErrorMessage"] == status["StateChangeReason"]
    assert status["AthenaError"]["ErrorCategory"] == 2


def test_the_same_statements_pass_when_written_for_trino(aws_build: AwsBuild) -> None:
    """The fixed versions of the rejected SQL pass: the rejections are about the SQL."""
    good = [
        "select cast(order_id as varchar) as id from sl_silver.orders",
        "select order_id from sl_silver.orders where created_at > now() - interval '3' day",
        "select date_format(created_at, '%Y-%m-%d') as day from sl_silver.orders",
        "select order_id from (select order_id, row_number() over (partition by order_id "
        "order by changed_at desc) as version from sl_silver.orders) as ranked "
        "where version = 1",
        'with landed as (select *, "$path" as source_file from sl_bronze.orders) '
        "select source_file from landed",
        "select order_id from sl_silver.orders where status = '1'",
    ]
    for sql in good:
        status = _run(aws_build, sql)["Status"]
        assert status["State"] == "SUCCEEDED", (sql, status.get("StateChangeReason"))


def test_dbt_athena_raises_athenas_error_for_a_rejected_statement(aws_build: AwsBuild) -> None:
    """What makes `dbt` fail: the adapter's cursor raises the reason the emulator gave."""
    from dbt.adapters.athena.connections import AthenaCredentials, AthenaCursor
    from dbt.adapters.athena.exceptions import AthenaQueryFailedError

    credentials = AthenaCredentials(
        database="awsdatacatalog",
        schema=DATABASES["silver"],
        region_name=aws_build.emulator.region,
        work_group=WORKGROUP,
        poll_interval=0.01,
    )
    cursor = AthenaCursor(aws_build.emulator.client("athena"), credentials)
    with pytest.raises(AthenaQueryFailedError, match="COLUMN_NOT_FOUND: line 1:8: Column"):
        cursor.execute("select order_total from sl_silver.orders")
    cursor.execute("select order_id, amount from sl_silver.orders")
    assert [c[:2] for c in cursor.description] == [("order_id", "varchar"), ("amount", "decimal")]


def test_models_compiled_for_athena_lint_clean_with_the_athena_dialect(
    aws_build: AwsBuild,
) -> None:
    models = aws_build.target_path / "compiled" / "streamlake" / "dbt_project" / "models"
    # Every folder's models (the demo shop's in shop/), not the tests compiled under a YAML's name.
    compiled = sorted(p for p in models.rglob("*.sql") if p.parent.suffix != ".yml")
    assert len(compiled) == len(_models(aws_build))
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("sqlfluff")),
            "lint",
            "--config",
            str(ROOT / ".sqlfluff-athena"),
            *map(str, compiled),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-6000:]


def test_seed_feeds_the_funnel(aws_build: AwsBuild) -> None:
    seed = aws_build.steps["seed"].statements
    ctas = [s for s in seed if s.outcome.substatement_type == "CREATE_TABLE_AS_SELECT"]
    assert sorted(s.outcome.target for s in ctas) == [
        "sl_silver.event_types",
        "sl_silver.order_statuses",
    ]
    table = aws_build.emulator.client("glue").get_table(
        DatabaseName=DATABASES["silver"], Name="event_types"
    )["Table"]
    assert table["Parameters"]["table_type"] == "ICEBERG"
    assert table["StorageDescriptor"]["Location"].startswith(f"{LAKE}/warehouse/sl_silver/")
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert columns == {"event_type": "string", "funnel_step": "int", "description": "string"}
    funnel = next(
        s
        for s in aws_build.steps["first run"].statements
        if s.outcome.target == "sl_gold.funnel_daily"
    )
    assert '"awsdatacatalog"."sl_silver"."event_types"' in funnel.sql
    properties = yaml.safe_load(
        (ROOT / "dbt_project" / "seeds" / "shop" / "_seeds.yml").read_text()
    )
    assert properties["seeds"][0]["name"] == "event_types"


def test_a_long_statement_runs_on_after_start_query_execution_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on Athena, StartQueryExecution does not wait for a long statement:
    botocore would time out after 60 s and send the statement again."""
    import threading

    import botocore.exceptions

    from athena_emulator import server

    monkeypatch.setattr(server, "SYNCHRONOUS_SECONDS", 0.2)
    with AthenaEmulator(tmp_path / "statements.log") as emulator:
        emulator.client("s3").create_bucket(Bucket=BUCKET)
        athena = emulator.client("athena")
        athena.create_work_group(
            Name=WORKGROUP,
            Configuration={
                "ResultConfiguration": {"OutputLocation": f"s3://{BUCKET}/athena-results/"}
            },
        )
        release = threading.Event()
        frontend_run = emulator.frontend.run

        def slow_run(*args: Any, **kwargs: Any) -> Any:
            release.wait(timeout=30)
            return frontend_run(*args, **kwargs)

        monkeypatch.setattr(emulator.frontend, "run", slow_run)
        query_id = athena.start_query_execution(QueryString="select 1 as one", WorkGroup=WORKGROUP)[
            "QueryExecutionId"
        ]
        execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        assert execution["Status"]["State"] == "RUNNING"
        with pytest.raises(botocore.exceptions.ClientError, match="not yet finished"):
            athena.get_query_results(QueryExecutionId=query_id)
        release.set()
        for _ in range(100):
            execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            if execution["Status"]["State"] != "RUNNING":
                break
            threading.Event().wait(0.05)
        assert execution["Status"]["State"] == "SUCCEEDED"
        rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
        assert rows[1]["Data"] == [{"VarCharValue": "1"}]
        assert len(emulator.statements) == 1
