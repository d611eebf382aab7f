"""The SQL the flows send to Athena on the aws target, checked by the Athena emulator.

The alerts and exports flows bind values as Athena ExecutionParameters; Athena
puts each literal where its `?` stands. Here the same substitution is made and
every statement goes through the emulator's front end over a Glue catalog that
holds Gold as the dbt contracts declare it (the fixture of test_dashboards).
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from athena_emulator.engine import Frontend
from flows.alerts import insert_statement, load_rules, rule_query, rules_query
from flows.export import ExportRequest, export_query
from flows.warehouse.gold_queries import AthenaWarehouse, athena_literal
from flows.warehouse.lakehouse import PROJECT_DIR
from ingestion.settings import Settings
from tests.test_dashboards import athena  # noqa: F401  (the Glue catalog of Gold, as a fixture)

SETTINGS = Settings(target="aws", lake_root="s3://lake", gold_database="gold")


def bound(sql: str, parameters: list) -> str:
    """The statement as Athena runs it: each `?` replaced by its parameter's literal."""
    pieces = sql.split("?")
    assert len(pieces) == len(parameters) + 1, (sql, parameters)
    out = pieces[0]
    for literal, piece in zip((athena_literal(p) for p in parameters), pieces[1:], strict=True):
        out += literal + piece
    return out


@pytest.mark.parametrize(
    "rule", load_rules(PROJECT_DIR / "flows" / "alert_rules.yml"), ids=lambda r: r.name
)
def test_alert_queries_pass_athena(athena: Frontend, rule) -> None:  # noqa: F811
    sql, parameters = rule_query(rule, AthenaWarehouse(SETTINGS).gold(rule.model), date.today())
    outcome = athena.run(bound(sql, parameters), "gold", rule.name)
    assert outcome.state == "SUCCEEDED", outcome.reason


def test_every_rule_in_one_statement_passes_athena(athena: Frontend) -> None:  # noqa: F811
    """What the alerts flow sends after each transform: one query for all the rules."""
    rules = load_rules(PROJECT_DIR / "flows" / "alert_rules.yml")
    sql, parameters = rules_query(rules, AthenaWarehouse(SETTINGS).gold, date.today())
    outcome = athena.run(bound(sql, parameters), "gold", "rules")
    assert outcome.state == "SUCCEEDED", outcome.reason
    assert sql.count(" as rule_") == len(rules) > 1


@pytest.mark.parametrize(
    "request_",
    [
        ExportRequest(model="key_metrics"),
        ExportRequest(
            model="daily_sales_by_region",
            filters=(("region", "it's EU"), ("order_count", "3")),
            time_column="order_date",
            start=date(2026, 11, 1),
            end=date(2026, 11, 20),
        ),
        ExportRequest(model="events_hourly", time_column="event_hour", start=date(2026, 11, 1)),
    ],
    ids=["whole", "filtered", "timestamp-range"],
)
def test_export_queries_pass_athena(athena: Frontend, request_: ExportRequest) -> None:  # noqa: F811
    sql, parameters = export_query(request_, SETTINGS, AthenaWarehouse(SETTINGS))
    outcome = athena.run(bound(sql, parameters), "gold", request_.model)
    assert outcome.state == "SUCCEEDED", outcome.reason


def test_a_quote_in_a_value_stays_inside_its_literal(athena: Frontend) -> None:  # noqa: F811
    request = ExportRequest(model="key_metrics", filters=(("metric_name", "x' or '1'='1"),))
    sql, parameters = export_query(request, SETTINGS, AthenaWarehouse(SETTINGS))
    statement = bound(sql, parameters)
    assert "'x'' or ''1''=''1'" in statement
    assert athena.run(statement, "gold", "quoted").state == "SUCCEEDED"


def test_the_alert_table_ddl_and_insert_pass_athena(athena: Frontend) -> None:  # noqa: F811
    warehouse = AthenaWarehouse(SETTINGS)
    for statement in warehouse.alert_table_ddl():
        outcome = athena.run(statement, "gold", "ddl")
        assert outcome.state == "SUCCEEDED", outcome.reason
    insert = insert_statement(warehouse.ops_table("alert_events"))

    values = [datetime(2026, 11, 21, 8), "r", "warning", "key_metrics", 1.5, "above", 1.0, "m"]
    outcome = athena.run(bound(insert, values), "gold", "insert")
    assert outcome.state == "SUCCEEDED", outcome.reason
