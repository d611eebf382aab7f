"""DynamoDB attribute names are configuration (the application file's `attribute`s).

The same workload lands through the real DynamoDB Streams handler twice: as
the simulator makes it (snake_case), and with every table, key and item
attribute renamed to an application's own names (PascalCase, and three names
that are not identifiers). dbt builds each lake, the second in a copy of the
project whose streamlake.yml names the new attributes (and `streamlake
sources apply` run), and Silver and Gold must come out the same. The renamed
workload also lands in the Athena emulator's S3 and is built on the aws target
from the same copy: its Silver and Gold, read back from the emulator, must
equal the snake_case lake's too, which proves the Trino JSON paths (quoted in
brackets, escaped) read the same attributes as DuckDB's.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from athena_emulator.landing import land
from flows.demo_app.delivery import Delivery, DeliveryConfig, deliveries
from flows.demo_app.feed import feed
from flows.demo_app.workload import WorkloadConfig, generate
from flows.warehouse.lakehouse import PROJECT_DIR, open_lake, run_dbt
from ingestion.application import load_application
from ingestion.settings import Settings
from ingestion.store import LakeStore
from tests.conftest import PASCAL_CASE_ATTRIBUTES, read_area
from tests.projects import project_copy
from tests.test_athena import (
    DATABASES,
    LAKE,
    STATEMENT_LOG,
    AwsBuild,
    _isolated_environment,
    emulated_account,
)
from tests.test_lakehouse import BOOKKEEPING, GOLD, SILVER, snapshot

pytestmark = pytest.mark.slow

WORKLOAD = WorkloadConfig(
    seed=19,
    customers=15,
    products=8,
    orders=150,
    events=600,
    days=6,
    end=datetime.now(UTC).replace(second=0, microsecond=0),
    delete_fraction=0.1,
    late_fraction=0.05,
)
# Attributes no staged column reads: renamed too, as the application would.
UNSTAGED = {"products": {"tags": "Tags"}}
# The application's tables are named in PascalCase as well; the handler lands
# them under the lowercased source name.
TABLE_NAMES = {"customers": "Customers", "products": "Products", "orders": "Orders"}


def default_attributes() -> dict[str, dict[str, str]]:
    """Table -> staged column -> the attribute the shipped application file reads it from."""
    app = load_application(PROJECT_DIR / "streamlake.yml")
    return {
        table.source: {c.name: c.source_attribute for c in table.entities[0].staged_columns}
        for table in app.dynamodb_tables
    }


def pascal_case_application() -> str:
    """The shipped application file with the application's own names."""
    shop = yaml.safe_load((PROJECT_DIR / "streamlake.yml").read_text())
    for table in shop["dynamodb_tables"]:
        names = PASCAL_CASE_ATTRIBUTES[table["source"]]
        table["table_name"] = TABLE_NAMES[table["source"]]
        table["partition_key"] = names[table["entities"][0]["key"][0]]
        for column in table["entities"][0]["columns"]:
            if "day_of" not in column:
                column["attribute"] = names[column["name"]]
    return yaml.safe_dump(shop, sort_keys=False, allow_unicode=True)


@pytest.fixture(scope="module")
def pascal_case_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project_copy(tmp_path_factory.mktemp("pascal_case_project"), pascal_case_application())


def _renames(table: str) -> dict[str, str]:
    """The simulator's attribute name -> the application's, for one table."""
    defaults = default_attributes()[table]
    renames = {defaults[column]: name for column, name in PASCAL_CASE_ATTRIBUTES[table].items()}
    return {**renames, **UNSTAGED.get(table, {})}


def _renamed_record(record: dict[str, Any]) -> dict[str, Any]:
    table = record["eventSourceARN"].split(":table/")[1].split("/")[0]
    renames = _renames(table)
    record = copy.deepcopy(record)
    record["eventSourceARN"] = record["eventSourceARN"].replace(
        f":table/{table}/", f":table/{TABLE_NAMES[table]}/"
    )
    change = record["dynamodb"]
    for image in ("Keys", "NewImage", "OldImage"):
        if image in change:
            change[image] = {renames[name]: value for name, value in change[image].items()}
    return record


def in_application_names(plan: list[Delivery]) -> list[Delivery]:
    """The plan as an application with its own attribute names would deliver it."""
    return [
        Delivery(
            delivery.kind,
            delivery.source,
            {"Records": [_renamed_record(record) for record in delivery.event["Records"]]},
            delivery.note,
        )
        if delivery.kind == "dynamodb_streams"
        else delivery
        for delivery in plan
    ]


@pytest.fixture(scope="module")
def plan() -> list[Delivery]:
    return deliveries(
        generate(WORKLOAD),
        DeliveryConfig(
            seed=3,
            dynamodb_batch_size=40,
            kinesis_batch_size=300,
            out_of_order_fraction=0.2,
            duplicate_fraction=0.1,
        ),
    )


@pytest.fixture(scope="module")
def application_plan(plan: list[Delivery]) -> list[Delivery]:
    return in_application_names(plan)


@pytest.fixture(scope="module")
def snake_case_lake(plan: list[Delivery], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(lake_root=str(tmp_path_factory.mktemp("snake_case") / "lake"))
    feed(plan, settings)
    run_dbt(settings, ["build", "--quiet"])
    return settings


@pytest.fixture(scope="module")
def pascal_case_lake(
    application_plan: list[Delivery],
    pascal_case_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    settings = Settings(lake_root=str(tmp_path_factory.mktemp("pascal_case") / "lake"))
    report = feed(application_plan, settings)
    assert not report.unlanded_batches
    run_dbt(settings, ["build", "--quiet"], project_dir=pascal_case_project)
    return settings


Query = Callable[[str, list[Any]], list[tuple]]


def tables_of(query: Query, catalog: str, schemas: dict[str, str]) -> dict[str, Any]:
    """Every Silver and Gold table as (columns, rows in order), without the
    bookkeeping columns, read through `query` from `catalog` (the local lake's
    `lake`, or the emulator's `awsdatacatalog` with `schemas` naming each
    layer's database); both are DuckDB, so one SQL text serves."""
    tables: dict[str, Any] = {}
    for layer, names in (("silver", SILVER), ("gold", GOLD)):
        for name in names:
            columns = [
                row[0]
                for row in query(
                    "select column_name from information_schema.columns "
                    "where table_catalog = ? and table_schema = ? and table_name = ? "
                    "order by ordinal_position",
                    [catalog, schemas[layer], name],
                )
                if row[0] not in BOOKKEEPING
            ]
            assert columns, f"{catalog}.{schemas[layer]}.{name} does not exist"
            selected = ", ".join(f'"{c}"' for c in columns)
            rows = query(
                f'select {selected} from {catalog}."{schemas[layer]}"."{name}" order by all', []
            )
            tables[f"{layer}.{name}"] = (columns, rows)
    return tables


def local_tables(settings: Settings) -> dict[str, Any]:
    with open_lake(settings) as con:
        return tables_of(
            lambda sql, parameters: con.execute(sql, parameters).fetchall(),
            "lake",
            {"silver": "silver", "gold": "gold"},
        )


def aws_tables(build: AwsBuild) -> dict[str, Any]:
    return tables_of(build.emulator.frontend.engine.query, "awsdatacatalog", DATABASES)


def test_the_application_names_cover_every_attribute(application_plan: list[Delivery]) -> None:
    """The renamed plan holds none of the simulator's attribute names, so
    nothing in the comparison below can be read by its old name."""
    renamed = [
        record
        for delivery in application_plan
        if delivery.kind == "dynamodb_streams"
        for record in delivery.event["Records"]
    ]
    assert {record["eventSourceARN"].split(":table/")[1].split("/")[0] for record in renamed} == (
        set(TABLE_NAMES.values())
    )
    for record in renamed:
        table = record["eventSourceARN"].split(":table/")[1].split("/")[0].lower()
        allowed = set(_renames(table).values())
        for image in ("Keys", "NewImage", "OldImage"):
            assert set(record["dynamodb"].get(image, {})) <= allowed, (table, image)


def test_application_names_build_the_same_silver_and_gold(
    snake_case_lake: Settings, pascal_case_lake: Settings
) -> None:
    landed = read_area(LakeStore.from_settings(pascal_case_lake), "bronze", "orders")
    assert landed is not None
    assert '"TotalAmount"' in landed.column("new_image")[0].as_py(), "Bronze holds the new names"

    snake, pascal = snapshot(snake_case_lake), snapshot(pascal_case_lake)
    assert set(pascal) == set(snake)
    for table in snake:
        assert pascal[table] == snake[table], f"{table} differs with the application's names"
    for table in ("silver.customers", "silver.products", "silver.orders"):
        assert snake[table], f"{table} is empty: the comparison would prove nothing"
    assert snake["gold.daily_sales_by_region"] and snake["gold.product_performance"]
    with open_lake(pascal_case_lake) as con:
        named = con.execute(
            "select count(*) from lake.silver.customers "
            "where customer_name is not null and email is not null"
        ).fetchone()[0]
        categorised = con.execute(
            "select count(*) from lake.silver.products where category is not null"
        ).fetchone()[0]
    # Read through the quoted paths ("Full Name", "Contact.Email", the category).
    assert named == WORKLOAD.customers
    assert categorised == WORKLOAD.products


@pytest.fixture(scope="module")
def pascal_case_aws(
    application_plan: list[Delivery],
    pascal_case_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AwsBuild]:
    """The renamed workload landed in the emulator's S3 and built on the aws
    target from the project with the application's names: one `dbt build`
    without tests (the comparison is of the models; tests/test_test_policy.py
    builds with tests)."""
    cache = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp(), prefix="s3-cache-"))
    log = STATEMENT_LOG.with_name("attribute_names.log")
    with emulated_account(log, cache_dir=cache) as emulator:
        land(emulator, application_plan, LAKE)
        build = AwsBuild(
            emulator=emulator,
            target_path=tmp_path_factory.mktemp("aws-pascal-case") / "target",
            steps={},
            environment=_isolated_environment(emulator),
            project_dir=pascal_case_project,
        )
        steps = [
            ("bronze", ["run-operation", "create_bronze_tables"]),
            ("build", ["build", "--exclude-resource-type", "test", "unit_test"]),
        ]
        for name, args in steps:
            step = build.dbt(name, *args)
            if step.returncode != 0:
                pytest.fail(f"dbt {' '.join(args)} failed on the emulator:\n{step.output[-8000:]}")
        yield build


def test_application_names_build_the_same_silver_and_gold_on_aws(
    snake_case_lake: Settings, pascal_case_aws: AwsBuild
) -> None:
    """The Trino JSON paths, executed: `$.OrderID`, and `$["Full Name"]`,
    `$["Contact.Email"]` and the category's escaped name in brackets."""
    staging = [
        s.sql
        for s in pascal_case_aws.steps["build"].statements
        if s.outcome.substatement_type == "CREATE_VIEW"
    ]
    assert any("""'$["Full Name"]'""" in sql for sql in staging), "the quoted form was built"
    snake, aws = local_tables(snake_case_lake), aws_tables(pascal_case_aws)
    assert set(aws) == set(snake)
    for table, (columns, rows) in snake.items():
        aws_columns, aws_rows = aws[table]
        assert aws_columns == columns, table
        only_local, only_aws = sorted(set(rows) - set(aws_rows)), sorted(set(aws_rows) - set(rows))
        assert aws_rows == rows, (
            f"{table} differs on aws with the application's names: {len(rows)} rows locally, "
            f"{len(aws_rows)} on aws\nonly local: {only_local[:3]}\nonly aws: {only_aws[:3]}"
        )
    [(named,)] = pascal_case_aws.emulator.frontend.engine.query(
        f'select count(*) from awsdatacatalog."{DATABASES["silver"]}".customers '
        "where customer_name is not null and email is not null"
    )
    [(categorised,)] = pascal_case_aws.emulator.frontend.engine.query(
        f'select count(*) from awsdatacatalog."{DATABASES["silver"]}".products '
        "where category is not null"
    )
    assert (named, categorised) == (WORKLOAD.customers, WORKLOAD.products)


def test_the_staging_views_read_the_quoted_names_on_aws(pascal_case_aws: AwsBuild) -> None:
    """The Trino JSON path of each kind of name: plain, with a space, a dot, and quotes
    and backslashes escaped."""
    views = [
        s.sql
        for s in pascal_case_aws.steps["build"].statements
        if s.outcome.substatement_type == "CREATE_VIEW" and s.outcome.state == "SUCCEEDED"
    ]
    sql = "\n".join(views)
    assert "json_extract_scalar(keys, '$.OrderID') as order_id" in sql
    assert "json_extract_scalar(item, '$.TotalAmount') as decimal(18, 2)" in sql
    assert """json_extract_scalar(item, '$["Full Name"]') as customer_name""" in sql
    assert """json_extract_scalar(item, '$["Contact.Email"]') as email""" in sql
    category = r"""json_extract_scalar(item, '$["Category \"Main\" \\\\ Shop''s"]')"""
    assert category + " as category" in sql
    assert "'$.customer_id'" not in sql and "'$.name'" not in sql
