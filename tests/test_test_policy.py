"""Tests that protect, not freeze (models/_test_policy.md), and revenue by order status.

One lake per module: a small simulated application plus the surprises real
producers make (an order in a status the application just introduced, an event
of a new type, a negative order amount, an order whose customer has not
landed), through the real handlers, then one `dbt build`. The build must finish,
write every Gold model, report the plausibility tests as warnings, count them in
data_quality and pipeline_health and fire the alert rule; the new values flow
through under their own names, and only revenue statuses count as revenue.

The same plan lands in the Athena emulator's S3 and is built on the aws target
(dbt-athena against the emulator, which executes every statement on DuckDB
with Trino's semantics): the tests of the build's outcome run on both targets,
the aws build must count the same warnings as the local one, and the Gold unit
tests (the funnel, revenue by status) pass on Athena too.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from athena_emulator.landing import land
from flows.alerts import evaluate, load_rules, rules_path
from flows.demo_app.delivery import Delivery, DeliveryConfig, deliveries
from flows.demo_app.feed import feed
from flows.demo_app.lambda_events import dynamodb_record, kinesis_record
from flows.demo_app.workload import WorkloadConfig, generate
from flows.transform import TransformReport, report_markdown
from flows.warehouse.dbt_invocation import DbtInvocation, NodeResult
from flows.warehouse.gold_queries import LocalWarehouse
from flows.warehouse.lakehouse import DbtFailed, dbt_target_path, open_lake, run_dbt
from flows.warehouse.manifest import model_names
from ingestion.settings import Settings
from tests.test_athena import (
    DATABASES,
    LAKE,
    STATEMENT_LOG,
    AwsBuild,
    _isolated_environment,
    emulated_account,
)
from tests.test_lakehouse import GOLD as LAKEHOUSE_GOLD

pytestmark = pytest.mark.slow

# The model-level test of key_metrics' required columns.
KEY_METRICS_NOT_NULL = "not_null_columns_key_metrics_metric_name__metric_value"

END = datetime.now(UTC).replace(second=0, microsecond=0)
WORKLOAD = WorkloadConfig(
    seed=19, customers=15, products=8, orders=120, events=1_200, days=4, end=END
)
REFUNDED = {"order_id": "o-surprise-refunded", "status": "refunded", "amount": Decimal("55.55")}
NEGATIVE = {"order_id": "o-surprise-negative", "status": "placed", "amount": Decimal("-5.00")}
ORPHAN = {"order_id": "o-surprise-orphan", "status": "paid", "amount": Decimal("12.34")}
ORPHAN_CUSTOMER = "c-not-landed-yet"
NEW_EVENT_TYPE = "wishlist_add"
# The plausibility tests the surprises fail, and by how many rows each.
EXPECTED_WARNINGS = {
    "relationships_orders_status__status__ref_order_statuses_": 1,
    "accepted_range_orders_amount__0": 1,
    "relationships_orders_customer_id__customer_id__ref_customers_": 1,
    "relationships_events_event_type__event_type__ref_event_types_": 1,
}
REVENUE_STATUSES = ("placed", "paid", "shipped", "delivered")
# Every Gold model: those the key-property tests compare, and the two that
# report on the pipeline itself.
GOLD = [*LAKEHOUSE_GOLD, "data_quality", "pipeline_health"]


def _first_key(records: list[dict[str, Any]], key: str) -> str:
    return records[0]["dynamodb"]["Keys"][key]["S"]


def surprises(customer_id: str, product_id: str) -> list[Delivery]:
    """One DynamoDB batch of three odd orders and one Kinesis batch with a new event type."""
    placed = (END - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    orders = []
    for n, order in enumerate((REFUNDED, NEGATIVE, ORPHAN)):
        item = {
            "customer_id": ORPHAN_CUSTOMER if order is ORPHAN else customer_id,
            "product_id": product_id,
            "quantity": 1,
            "created_at": placed,
            "updated_at": placed,
            **order,
        }
        orders.append(
            dynamodb_record(
                table="orders",
                event_name="INSERT",
                keys={"order_id": order["order_id"]},
                new_item=item,
                old_item=None,
                # Far beyond the workload's, so this batch's Bronze file is its own.
                sequence_number=str(9 * 10**25 + n),
                created=END - timedelta(hours=3),
            )
        )
    event = {
        "event_id": "evt-surprise-1",
        "event_type": NEW_EVENT_TYPE,
        "user_id": customer_id,
        "session_id": "s-surprise",
        "event_time": placed,
        "properties": {"product_id": product_id},
        "geo": {"country": "DE", "region": "Bavaria", "city": "Munich"},
        "device": {"type": "mobile", "os": "iOS", "browser": "Safari"},
    }
    kinesis = kinesis_record(
        json.dumps(event).encode(),
        stream=WORKLOAD.stream,
        shard_id="shardId-000000000009",
        sequence_number="49590338271490256608559692538361571095921575989999999999",
        partition_key=customer_id,
        arrival=END - timedelta(hours=3),
    )
    return [
        Delivery("dynamodb_streams", "orders", {"Records": orders}),
        Delivery("kinesis", WORKLOAD.stream, {"Records": [kinesis]}),
    ]


def plan() -> list[Delivery]:
    workload = generate(WORKLOAD)
    customer_id = _first_key(workload.dynamodb["customers"], "customer_id")
    product_id = _first_key(workload.dynamodb["products"], "product_id")
    return [*deliveries(workload, DeliveryConfig(seed=3)), *surprises(customer_id, product_id)]


# The Gold unit tests of issue #19, run on the aws target as well.
UNIT_TESTS = ("the_funnel_counts_steps_in_order", "only_orders_whose_status_counts_are_revenue")


@dataclass
class Built:
    """One target's build of the plan, and how to read its tables back."""

    target: str
    started: datetime  # naive UTC, as the lake's timestamps
    results: dict[str, dict[str, Any]]  # run_results.json by unique_id
    manifest: dict[str, Any]
    schemas: dict[str, str]  # layer -> qualified schema, for SQL on the target's DuckDB
    run: Callable[[str, list[Any]], list[tuple]]
    settings: Settings | None = None  # the local lake
    aws: AwsBuild | None = None

    def table(self, layer: str, name: str) -> str:
        return f'{self.schemas[layer]}."{name}"'

    def query(self, sql: str, parameters: list[Any] | None = None) -> list[tuple]:
        return self.run(sql, parameters or [])


def _run_results(target: Path) -> dict[str, dict[str, Any]]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"]: r for r in results}


@pytest.fixture(scope="module")
def surprise_plan() -> list[Delivery]:
    return plan()


@pytest.fixture(scope="module")
def built(surprise_plan: list[Delivery], tmp_path_factory: pytest.TempPathFactory) -> Built:
    settings = Settings(lake_root=str(tmp_path_factory.mktemp("policy") / "lake"))
    report = feed(surprise_plan, settings)
    assert not report.unlanded_batches
    started = datetime.now(UTC).replace(tzinfo=None)
    run_dbt(settings, ["build", "--quiet"])  # raises unless dbt exits 0
    target = dbt_target_path(settings)
    return Built(
        target="local",
        started=started,
        results=_run_results(target),
        manifest=json.loads((target / "manifest.json").read_text()),
        schemas={"silver": "lake.silver", "gold": "lake.gold"},
        run=lambda sql, parameters: _query(settings, sql, parameters),
        settings=settings,
    )


@pytest.fixture(scope="module")
def aws_built(
    surprise_plan: list[Delivery], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    """The same plan through the handlers into the emulator's S3, then on the
    aws target: create_bronze_tables, `dbt build` (unit tests aside: one that
    mocks `this` needs its model built first) and `dbt test` of the unit tests."""
    cache = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp(), prefix="s3-cache-"))
    with emulated_account(
        STATEMENT_LOG.with_name("policy_statements.log"), cache_dir=cache
    ) as emulator:
        land(emulator, surprise_plan, LAKE)
        build = AwsBuild(
            emulator=emulator,
            target_path=tmp_path_factory.mktemp("aws-policy") / "target",
            steps={},
            environment=_isolated_environment(emulator),
        )
        bronze = build.dbt("bronze", "run-operation", "create_bronze_tables")
        assert bronze.returncode == 0, bronze.output[-4000:]
        started = datetime.now(UTC).replace(tzinfo=None)
        step = build.dbt("build", "build", "--exclude-resource-type", "unit_test")
        assert step.returncode == 0, step.output[-8000:]
        built = Built(
            target="aws",
            started=started,
            results=_run_results(build.target_path),
            manifest=build.manifest(),
            schemas={layer: f'awsdatacatalog."{DATABASES[layer]}"' for layer in ("silver", "gold")},
            run=emulator.frontend.engine.query,
            aws=build,
        )
        build.dbt("unit tests", "test", "--select", "test_type:unit")
        yield built


@pytest.fixture(scope="module", params=["local", "aws"])
def each_build(request: pytest.FixtureRequest) -> Built:
    return request.getfixturevalue("built" if request.param == "local" else "aws_built")


def _query(settings: Settings, sql: str, parameters: list[Any] | None = None) -> list[tuple]:
    with open_lake(settings) as con:
        return con.execute(sql, parameters or []).fetchall()


def test_every_test_follows_the_policy(built: Built) -> None:
    """Plausibility tests warn, all others block; the rules the surprises hit are plausibility."""
    tests = [n for n in built.manifest["nodes"].values() if n["resource_type"] == "test"]
    assert len(tests) > 30
    plausibility = {}
    for node in tests:
        severity = node["config"]["severity"].lower()
        tagged = "plausibility" in node["tags"]
        assert severity == ("warn" if tagged else "error"), (node["name"], severity, tagged)
        if tagged:
            plausibility[node["name"]] = node
    assert set(EXPECTED_WARNINGS) <= set(plausibility)
    # Keys stay integrity tests.
    names = {node["name"] for node in tests}
    assert {"unique_orders_order_id", KEY_METRICS_NOT_NULL} <= names
    assert "unique_orders_order_id" not in plausibility
    assert KEY_METRICS_NOT_NULL not in plausibility
    freshness = built.manifest["sources"]["source.streamlake.bronze.orders"]["freshness"]
    assert freshness["warn_after"]["count"] and not freshness["error_after"]["count"]


def test_the_build_writes_every_gold_model_and_warns(each_build: Built) -> None:
    results = each_build.results
    by_name = {
        r["unique_id"].split(".")[-1]: r
        for r in results.values()
        if r["unique_id"].startswith("model.")
    }
    assert {name: by_name[name]["status"] for name in GOLD} == dict.fromkeys(GOLD, "success")
    assert not [
        r["unique_id"] for r in results.values() if r["status"] in ("skipped", "error", "fail")
    ]
    # Every Gold table holds this run's rows.
    for model in GOLD:
        [(newest,)] = each_build.query(
            f"select max(_processed_at) from {each_build.table('gold', model)}"
        )
        assert newest is not None and newest >= each_build.started - timedelta(seconds=5), model
    # dbt reports exactly the surprised tests as warnings, with their failing rows.
    warned = {
        each_build.manifest["nodes"][uid]["name"]: r["failures"]
        for uid, r in results.items()
        if r["status"] == "warn"
    }
    assert warned == EXPECTED_WARNINGS


def _data_quality(build: Built) -> list[tuple]:
    return build.query(
        "select test_name, model_name, tested_column, bronze_source, failing_rows "
        f"from {build.table('gold', 'data_quality')} order by all"
    )


def _plausibility_warnings(build: Built) -> dict[str, int]:
    return dict(
        build.query(
            "select bronze_source, plausibility_warnings "
            f"from {build.table('gold', 'pipeline_health')}"
        )
    )


def test_data_quality_and_pipeline_health_count_the_warnings(each_build: Built) -> None:
    rows = _data_quality(each_build)
    plausibility = {
        n["name"]
        for n in each_build.manifest["nodes"].values()
        if n["resource_type"] == "test" and "plausibility" in n["tags"]
    }
    assert {row[0] for row in rows} == plausibility, "one row per plausibility test"
    failing = {test: count for test, _, _, _, count in rows if count}
    assert failing == EXPECTED_WARNINGS
    assert (
        "relationships_orders_status__status__ref_order_statuses_",
        "orders",
        "status",
        "orders",
        1,
    ) in rows
    per_source = _plausibility_warnings(each_build)
    assert per_source == {"orders": 3, "events": 1, "customers": 0, "products": 0}


def test_the_aws_build_counts_what_the_local_build_counts(built: Built, aws_built: Built) -> None:
    """Row for row, not only the surprised tests: every plausibility test's count."""
    assert _data_quality(aws_built) == _data_quality(built)
    assert _plausibility_warnings(aws_built) == _plausibility_warnings(built)


def test_the_alert_rule_fires(built: Built) -> None:
    rules = [r for r in load_rules(rules_path(built.settings)) if r.name == "plausibility_warnings"]
    [result] = evaluate(rules, LocalWarehouse(built.settings), built.settings)
    assert result.firing and result.observed == sum(EXPECTED_WARNINGS.values())


def test_new_values_flow_through_and_only_revenue_statuses_count(each_build: Built) -> None:
    query, table = each_build.query, each_build.table
    statuses = ", ".join(f"'{s}'" for s in REVENUE_STATUSES)
    [(expected_revenue, live_orders, revenue_orders)] = query(
        f"select sum(case when status in ({statuses}) then amount else 0 end), count(*), "
        f"count(case when status in ({statuses}) then 1 end) "
        f"from {table('silver', 'orders')} where not is_deleted",
    )
    [(revenue, orders, counted)] = query(
        "select sum(total_revenue), sum(order_count), sum(revenue_order_count) "
        f"from {table('gold', 'daily_sales_by_region')}",
    )
    assert (revenue, orders, counted) == (expected_revenue, live_orders, revenue_orders)
    assert orders > counted, "cancelled and refunded orders are orders, not revenue"
    [(status, amount)] = query(
        f"select status, amount from {table('silver', 'orders')} where order_id = ?",
        [REFUNDED["order_id"]],
    )
    assert (status, amount) == ("refunded", REFUNDED["amount"])
    [(key_revenue,)] = query(
        f"select metric_value from {table('gold', 'key_metrics')} where metric_name = 'revenue_30d'"
    )
    assert key_revenue == pytest.approx(float(expected_revenue))
    # The orphan order counts under the region 'unknown' until its customer lands.
    [(unknown_orders,)] = query(
        f"select sum(order_count) from {table('gold', 'daily_sales_by_region')} "
        "where region = 'unknown'",
    )
    assert unknown_orders == 1
    for model in ("events_hourly", "top_events"):
        [(events,)] = query(
            f"select sum(event_count) from {table('gold', model)} where event_type = ?",
            [NEW_EVENT_TYPE],
        )
        assert events == 1, model


def test_a_null_in_a_required_column_fails_the_models_not_null_test(built: Built) -> None:
    """not_null_columns (one query for a model's required columns) fails on a null
    in any of them, and names the column."""
    planted = (
        "insert into lake.gold.key_metrics (metric_name, metric_value) values ('planted', null)"
    )
    with open_lake(built.settings, read_only=False) as con:
        con.execute(planted)
    try:
        with pytest.raises(DbtFailed):
            run_dbt(built.settings, ["test", "--quiet", "--select", KEY_METRICS_NOT_NULL])
        failures = dbt_target_path(built.settings) / "run_results.json"
        results = json.loads(failures.read_text())["results"]
        (result,) = [r for r in results if KEY_METRICS_NOT_NULL in r["unique_id"]]
        assert result["status"] == "fail" and result["failures"] == 1, results
    finally:
        with open_lake(built.settings, read_only=False) as con:
            con.execute("delete from lake.gold.key_metrics where metric_name = 'planted'")
    run_dbt(built.settings, ["test", "--quiet", "--select", KEY_METRICS_NOT_NULL])


def test_data_quality_drops_the_row_of_a_test_no_longer_in_the_project(built: Built) -> None:
    with open_lake(built.settings, read_only=False) as con:
        before = con.execute("select * from lake.gold.data_quality order by all").fetchall()
        con.execute(
            "insert into lake.gold.data_quality values "
            "('a_retired_test', 'orders', 'amount', 'orders', 7, now()::timestamp)"
        )
    run_dbt(built.settings, ["run", "--quiet", "--select", "data_quality"])
    after = _query(built.settings, "select * from lake.gold.data_quality order by all")
    assert after == before, "the retired test's row is gone, the others unchanged"


def test_a_changed_seed_is_one_backfill_of_the_sales_models(built: Built) -> None:
    """`streamlake backfill --full-refresh order_statuses` takes the seed and rebuilds
    everything downstream of it (dbt's `order_statuses+`): every sales Gold model."""
    assert "order_statuses" in model_names(built.settings)
    children = built.manifest["child_map"]
    downstream, todo = set(), ["seed.streamlake.order_statuses"]
    while todo:
        for child in children[todo.pop()]:
            if child.startswith("model.") and child not in downstream:
                downstream.add(child)
                todo.append(child)
    names = {uid.split(".")[-1] for uid in downstream}
    assert {"daily_sales_by_region", "product_performance", "key_metrics", "metric_trends"} <= names


def test_every_statement_of_the_aws_build_succeeds(aws_built: Built) -> None:
    assert LAKE.startswith("s3://")
    assert aws_built.aws is not None
    step = aws_built.aws.steps["build"]
    failed = [s for s in step.statements if s.outcome.state != "SUCCEEDED"]
    assert not failed, "\n\n".join(f"{s.outcome.reason}\n{s.sql}" for s in failed)
    data_quality = [s for s in step.statements if "data_quality" in (s.outcome.target or "")]
    assert data_quality, "data_quality was built on Athena"
    assert any("order_statuses" in s.sql for s in data_quality)


def test_the_gold_unit_tests_pass_on_aws(aws_built: Built) -> None:
    """The funnel's steps in order and revenue by status, as Athena computes them."""
    assert aws_built.aws is not None
    step = aws_built.aws.steps["unit tests"]
    results = _run_results(aws_built.aws.target_path)
    statuses = {uid.split(".")[-1]: r["status"] for uid, r in results.items()}
    assert {name: statuses.get(name) for name in UNIT_TESTS} == dict.fromkeys(UNIT_TESTS, "pass")
    assert step.returncode == 0, step.output[-8000:]


def test_the_transform_report_lists_the_warnings(built: Built) -> None:
    """The transform flow's artifact names each plausibility warning, so the
    Prefect UI shows it beside the run that met it."""
    nodes = [
        NodeResult(
            unique_id=uid,
            name=built.manifest["nodes"][uid]["name"],
            resource_type=built.manifest["nodes"][uid]["resource_type"],
            status=r["status"],
            seconds=r["execution_time"],
            message=r["message"] or "",
        )
        for uid, r in built.results.items()
        if uid in built.manifest["nodes"]
    ]
    invocation = DbtInvocation(args=["build"], success=True, seconds=1.0, nodes=nodes)
    markdown = report_markdown(TransformReport(status="succeeded", invocation=invocation))
    assert f"warned {len(EXPECTED_WARNINGS)}, failed 0" in markdown
    warnings = markdown.split("## Warnings (plausibility tests)", 1)[1]
    for name in EXPECTED_WARNINGS:
        assert f"`{name}`" in warnings
