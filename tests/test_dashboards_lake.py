"""SQL on a real local lake: every panel, alert rule and documented example, and the previews.

One lake per module, built by the real pipeline: a seeded workload ending at a
fixed time goes through the Lambda handlers into Bronze (with redeliveries,
reordering and malformed records), then `dbt build` makes Silver and Gold.
Every panel's SQL, with the Athena datasource's macros expanded for a fixed
week, must run on that Gold and return rows whose DuckDB types are the kinds
the panel expects. Each model's example query in its dbt description must run
there too, so that the examples dbt docs show cannot rot.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.alerts import AlertRule, load_rules, rule_query
from flows.demo_app.delivery import DeliveryConfig, deliveries
from flows.demo_app.feed import feed
from flows.demo_app.workload import WorkloadConfig, generate
from flows.warehouse.lakehouse import open_lake, run_dbt
from flows.warehouse.manifest import project_manifest
from grafana.builder import alerting
from grafana.builder.catalog import boards
from grafana.builder.fields import Query
from grafana.builder.local import gold, run
from grafana.builder.macros import TimeRange, macro_names
from grafana.builder.render import HEADER_PX, MARGIN_PX, ROW_PX, WIDTH_PX
from ingestion.settings import Settings

pytestmark = pytest.mark.slow

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WEEK = TimeRange(END - timedelta(days=7), END)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    root = tmp_path_factory.mktemp("dashboards")
    settings = Settings(lake_root=str(root / "lake"))
    workload = WorkloadConfig(events=3_000, orders=300, end=END)
    delivery = DeliveryConfig(
        kinesis_batch_size=1_000,
        dynamodb_batch_size=200,
        duplicate_fraction=0.05,
        out_of_order_fraction=0.05,
        malformed_fraction=0.01,
    )
    report = feed(deliveries(generate(workload), delivery), settings)
    assert not report.unlanded_batches
    run_dbt(settings, ["build", "--exclude-resource-type", "unit_test", "--quiet"])
    yield settings


def _panels() -> list[tuple[str, int, Query]]:
    return [(b.name, pid, q) for b in boards() for pid, q in b.queries.items()]


def test_every_panel_sql_runs_on_local_gold_with_the_kinds_it_expects(lake: Settings) -> None:
    failures = []
    with gold(lake) as con:
        for board, panel, query in _panels():
            result = run(con, query.sql, WEEK)
            problems = result.mismatches(query)
            if result.table.num_rows == 0:
                problems.append("no rows")
            if problems:
                failures.append(f"{board} panel {panel}: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)


def test_a_range_without_data_shows_no_data(lake: Settings) -> None:
    """The range reaches the SQL: before the lake's first day, every ranged panel is empty."""
    empty = TimeRange(datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 8, tzinfo=UTC))
    starts = {"dateFilter", "timeFilter", "timeFrom"}
    ranged = [p for p in _panels() if starts & macro_names(p[2].sql)]
    assert len(ranged) >= 10
    with gold(lake) as con:
        for board, panel, query in ranged:
            table = run(con, query.sql, empty).table
            numbers = [
                value
                for field, column in zip(query.fields, table.columns, strict=True)
                if field.kind == "number"
                for value in column.to_pylist()
            ]
            assert all(value in (None, 0) for value in numbers), (board, panel, numbers)


def test_the_comparison_stats_compare_with_the_days_just_before(lake: Settings) -> None:
    """Revenue in range and its change, recomputed from the daily rows by hand."""
    from grafana.builder.sales import REVENUE

    with gold(lake) as con:
        daily = dict(
            con.execute(
                "select order_date, sum(total_revenue) from daily_sales_by_region group by 1"
            ).fetchall()
        )
        result = run(con, REVENUE.sql, WEEK).table.to_pylist()[0]
    days = [(END.date() - timedelta(days=n)) for n in range(16)]
    current = sum(float(daily.get(d, 0)) for d in days[:8])  # the range's 8 calendar days
    previous = sum(float(daily.get(d, 0)) for d in days[8:16])
    assert result["revenue"] == pytest.approx(current)
    assert result["change_vs_previous_period"] == pytest.approx(current / previous - 1)


@pytest.mark.parametrize("rule", load_rules(alerting.RULES_FILE), ids=lambda r: r.name)
def test_grafana_alert_rules_see_what_the_prefect_alerts_flow_sees(
    lake: Settings, rule: AlertRule
) -> None:
    with gold(lake) as con:
        sql, parameters = rule_query(rule, f'lake.gold."{rule.model}"', END.date())
        flow = con.execute(sql, parameters).fetchone()[0]
        window = TimeRange(END - timedelta(days=rule.window_days or 1), END)
        grafana = run(con, alerting.grafana_sql(rule), window).table.column(0)[0].as_py()
    assert grafana == pytest.approx(flow)


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_render_draws_each_dashboard_at_its_layout_size(lake: Settings, tmp_path: Path) -> None:
    from flows.cli import app

    result = CliRunner().invoke(
        app,
        [
            "dashboards",
            "render",
            "--lake-root",
            lake.lake_root,
            "--out",
            str(tmp_path),
            "--at",
            END.strftime("%Y-%m-%dT%H:%M:%S"),
        ],
    )
    assert result.exit_code == 0, result.output
    for board in boards():
        path = tmp_path / f"{board.name}.png"
        assert f"dashboard preview: {path}" in result.output.replace("\n", "")
        rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board.to_json()["panels"])
        assert _png_size(path) == (WIDTH_PX, HEADER_PX + rows * ROW_PX + MARGIN_PX)


def _model_examples() -> list[tuple[str, str]]:
    """Each model's example query, from the ```sql block of its description (every model of
    dbt's manifest, the generated staging and Silver models among them)."""
    examples = []
    for node in project_manifest()["nodes"].values():
        if node["resource_type"] == "model":
            found = re.search(r"```sql\n(.*?)```", node["description"], re.S)
            examples.append((node["name"], found.group(1) if found else ""))
    return sorted(examples)


@pytest.mark.parametrize(
    ("model", "sql"), _model_examples(), ids=lambda v: v if "\n" not in v else ""
)
def test_each_model_documents_an_example_query_that_runs(
    lake: Settings, model: str, sql: str
) -> None:
    assert sql, f"{model}'s description has no ```sql example"
    assert re.search(rf"\bfrom (bronze|silver|gold)\.{model}\b", sql), sql
    with open_lake(lake) as con:
        con.execute("use lake")
        cursor = con.execute(sql)
        assert cursor.description, sql
        cursor.fetchall()
