"""Grafana as code, without a lake: generated files, structure, lineage, provisioning, Athena.

The panels' SQL is checked here through the Athena emulator's statement checker
(athena_emulator: the Trino grammar, Trino's function catalog, names
resolved against Glue) with the datasource's macros expanded, which is what
Athena receives. tests/test_dashboards_lake.py runs the same SQL on a built lake.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlglot
import yaml
from moto import mock_aws
from sqlglot import exp

from athena_emulator.catalog import GlueCatalog
from athena_emulator.engine import Frontend
from athena_emulator.types import glue_type_from_trino
from flows.alerts import load_rules
from flows.warehouse.lakehouse import PROJECT_DIR
from grafana.builder import (
    ALERT_RULES_FILE,
    DASHBOARD_DIR,
    DATASOURCE_TYPE,
    DATASOURCE_UID,
    DATASOURCE_VARIABLE,
    GRAFANA_DIR,
    PROVISIONING_DIR,
    alerting,
    pipeline_health,
    sales,
)
from grafana.builder.board import Board
from grafana.builder.catalog import boards, generated_files, stale
from grafana.builder.fields import Query, trino_kind
from grafana.builder.macros import (
    MacroError,
    QueryContext,
    TimeRange,
    dashboard_range,
    expand,
    expand_for,
    macro_names,
)
from grafana.builder.sql import gold_models

GOLD_DIR = PROJECT_DIR / "dbt_project" / "models" / "gold"
# Every Gold model's YAML: the platform's, and the demo shop's.
GOLD_YAMLS = sorted(GOLD_DIR.rglob("_*__models.yml"))
EXPOSURES_YAMLS = sorted(GOLD_DIR.rglob("_*__exposures.yml"))


def gold_yaml_models() -> list[dict]:
    return [m for path in GOLD_YAMLS for m in yaml.safe_load(path.read_text())["models"]]


END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WEEK = TimeRange(END - timedelta(days=7), END)
# The macros whose expansion both Athena and DuckDB run (the $__timeGroup family
# expands to FROM_UNIXTIME/TO_UNIXTIME, which DuckDB lacks).
PORTABLE_MACROS = {"dateFilter", "timeFilter", "timeFrom", "timeTo"}


def panel_queries() -> list[tuple[str, int, Query]]:
    return [(board.name, pid, query) for board in boards() for pid, query in board.queries.items()]


def committed(board: Board) -> dict[str, Any]:
    import json

    return json.loads((DASHBOARD_DIR / f"{board.name}.json").read_text())


# ------------------------------------------------------------- generated files


def test_committed_files_are_what_the_code_generates() -> None:
    assert stale() == [], "run `streamlake dashboards generate` and commit the result"


def test_a_changed_panel_makes_its_committed_dashboard_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = sales.REVENUE_BY_REGION
    changed = Query(before.sql.replace("order by revenue desc", "order by revenue"), before.fields)
    monkeypatch.setattr(sales, "REVENUE_BY_REGION", changed)
    assert stale() == [f"{DASHBOARD_DIR / 'sales.json'}: differs from what the code generates"]


def test_a_changed_alert_rule_makes_the_provisioned_rules_stale(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rules = alerting.RULES_FILE.read_text().replace("threshold: 500", "threshold: 400")
    (tmp_path / "alert_rules.yml").write_text(rules)
    monkeypatch.setattr(alerting, "RULES_FILE", tmp_path / "alert_rules.yml")
    assert stale() == [f"{ALERT_RULES_FILE}: differs from what the code generates"]


def test_an_uncommitted_or_foreign_dashboard_file_is_reported(tmp_path: Path) -> None:
    for path, text in generated_files(tmp_path, tmp_path / "rules.yaml").items():
        path.write_text(text)
    (tmp_path / "hand_made.json").write_text("{}")
    (tmp_path / "sales.json").unlink()
    assert stale(tmp_path, tmp_path / "rules.yaml") == [
        f"{tmp_path / 'sales.json'}: missing",
        f"{tmp_path / 'hand_made.json'}: no code generates it",
    ]


# ------------------------------------------------------------------ structure


@pytest.mark.parametrize("board", boards(), ids=lambda b: b.name)
def test_every_query_goes_to_athena_through_the_datasource_variable(board: Board) -> None:
    dashboard = committed(board)
    variables = dashboard["templating"]["list"]
    assert [(v["name"], v["type"], v["query"]) for v in variables] == [
        (DATASOURCE_VARIABLE, "datasource", DATASOURCE_TYPE)
    ]
    assert variables[0]["current"]["value"] == DATASOURCE_UID
    with_queries = [p for p in dashboard["panels"] if p.get("targets")]
    assert {p["id"] for p in with_queries} == set(board.queries)
    for panel in with_queries:
        reference = {"type": DATASOURCE_TYPE, "uid": f"${{{DATASOURCE_VARIABLE}}}"}
        assert panel["datasource"] == reference
        (target,) = panel["targets"]
        assert target["datasource"] == reference
        # The Gold database is the datasource's default; nothing pins another one.
        assert target["connectionArgs"]["database"] == "__default"
        query = board.queries[panel["id"]]
        assert target["rawSQL"] == query.sql
        assert target["format"] == (0 if query.format == "time_series" else 1)
    without = [p for p in dashboard["panels"] if not p.get("targets")]
    assert [p["type"] for p in without] in ([], ["alertlist"])


@pytest.mark.parametrize("board", boards(), ids=lambda b: b.name)
def test_panels_tile_the_grid_without_overlap(board: Board) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in committed(board)["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


@pytest.mark.parametrize(("board", "panel", "query"), panel_queries())
def test_panel_sql_is_lowercase_with_explicit_columns_and_portable_macros(
    board: str, panel: int, query: Query
) -> None:
    without_macros = re.sub(r"\$__[A-Za-z]+", "", query.sql)
    assert without_macros == without_macros.lower()
    assert not re.search(r"select\s+\*|\.\*", query.sql)
    assert macro_names(query.sql) <= PORTABLE_MACROS


def test_the_time_range_reaches_every_dashboard_with_a_time_dimension() -> None:
    for board in boards():
        used = set().union(*(macro_names(q.sql) for q in board.queries.values()))
        assert used & PORTABLE_MACROS, f"{board.name} ignores the dashboard's time range"


def _tables(sql: str) -> set[str]:
    tree = sqlglot.parse_one(expand_for(sql, WEEK), read="trino")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {t.name for t in tree.find_all(exp.Table) if t.name not in ctes}


def test_exposures_name_each_dashboard_with_exactly_the_models_it_reads() -> None:
    exposures = {
        e["name"]: e
        for path in EXPOSURES_YAMLS
        for e in yaml.safe_load(path.read_text())["exposures"]
    }
    assert set(exposures) == {board.name for board in boards()}
    for board in boards():
        exposure = exposures[board.name]
        assert exposure["url"].endswith(f"/d/{board.uid}")
        read = set().union(*(_tables(q.sql) for q in board.queries.values()))
        listed = {re.fullmatch(r"ref\('(\w+)'\)", d).group(1) for d in exposure["depends_on"]}
        if board.name == "pipeline_health":
            # Its Gold row counts read every Gold model, whatever the application:
            # the exposure names the platform's models, not each of the others.
            read -= set(gold_models())
        assert listed == read, board.name


def test_the_pipeline_dashboard_counts_every_gold_model() -> None:
    declared = {model["name"] for model in gold_yaml_models()}
    assert set(gold_models()) == declared - {"pipeline_health", "data_quality"}
    counted = _tables(pipeline_health.gold_rows().sql)
    assert counted == set(gold_models())


# --------------------------------------------------------------------- macros

RANGE = TimeRange(datetime(2021, 6, 23, 0, 0, tzinfo=UTC), datetime(2021, 6, 23, 1, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("sql", "expanded"),
    [
        # The cases of the plugin's own macros_test.go.
        ("$__timeGroup(starttime, '1m')", "FROM_UNIXTIME(FLOOR(TO_UNIXTIME(starttime)/60)*60)"),
        (
            "$__timeGroup(starttime, '1m', 'yyyy-MM-dd HH:mm:ss')",
            "FROM_UNIXTIME(FLOOR(TO_UNIXTIME(TIMESTAMP starttime)/60)*60)",
        ),
        (
            "$__timeGroup(starttime, '1m', 'yyyy-MM-dd''T''HH:mm:ss''Z')",
            "FROM_UNIXTIME(FLOOR(TO_UNIXTIME(parse_datetime(starttime,"
            "'yyyy-MM-dd''T''HH:mm:ss''Z'))/60)*60)",
        ),
        ("$__parseTime(starttime, 'yyyy-MM-dd HH:mm:ss')", "TIMESTAMP starttime"),
        (
            "$__timeFilter(starttime)",
            "starttime BETWEEN TIMESTAMP '2021-06-23 00:00:00' AND TIMESTAMP '2021-06-23 01:00:00'",
        ),
        (
            "$__timeFilter(starttime, 'yyyy-MM-dd''T''HH:mm:ss''+0000')",
            "parse_datetime(starttime,'yyyy-MM-dd''T''HH:mm:ss''+0000') "
            "BETWEEN TIMESTAMP '2021-06-23 00:00:00' AND TIMESTAMP '2021-06-23 01:00:00'",
        ),
        ("$__timeFrom()", "TIMESTAMP '2021-06-23 00:00:00'"),
        ("$__timeTo()", "TIMESTAMP '2021-06-23 01:00:00'"),
        ("$__unixEpochFilter(time)", "time BETWEEN 1624406400 AND 1624410000"),
        ("$__unixEpochGroup(time, 5m)", "FROM_UNIXTIME(FLOOR(time/300)*300)"),
        # And the ones this project relies on.
        ("$__dateFilter(order_date)", "order_date BETWEEN date '2021-06-23' AND date '2021-06-23'"),
        ("$__timeGroup(t, '1d')", "FROM_UNIXTIME(FLOOR(TO_UNIXTIME(t)/86400)*86400)"),
        ("$__timeGroup(t, '30d')", "FROM_UNIXTIME(FLOOR(TO_UNIXTIME(t)/2.592e+06)*2.592e+06)"),
        (
            "$__timeFilter(cast(d as timestamp)) and x in (1, 2)",
            "cast(d as timestamp) BETWEEN TIMESTAMP '2021-06-23 00:00:00' "
            "AND TIMESTAMP '2021-06-23 01:00:00' and x in (1, 2)",
        ),
        (
            "a > $__timeFrom() and b < $__timeFrom()",
            "a > TIMESTAMP '2021-06-23 00:00:00' and b < TIMESTAMP '2021-06-23 00:00:00'",
        ),
        ("$__table, $__column", "orders, amount"),
        ("$__unknownMacro(x)", "$__unknownMacro(x)"),
    ],
)
def test_macros_expand_as_the_athena_datasource_expands_them(sql: str, expanded: str) -> None:
    assert expand(sql, QueryContext(RANGE, table="orders", column="amount")) == expanded


@pytest.mark.parametrize(
    "sql",
    ["$__timeGroup()", "$__dateFilter(a, b)", "$__unixEpochFilter(a, b)", "$__timeGroup(t, x)"],
)
def test_macros_with_wrong_arguments_fail_the_query(sql: str) -> None:
    with pytest.raises(MacroError):
        expand(sql, QueryContext(RANGE))


def test_a_range_in_another_timezone_is_sent_in_utc() -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    local = TimeRange(
        datetime(2026, 11, 20, 0, 30, tzinfo=berlin), datetime(2026, 11, 21, tzinfo=berlin)
    )
    assert expand_for("$__dateFilter(d) and t < $__timeTo()", local) == (
        "d BETWEEN date '2026-11-19' AND date '2026-11-20' and t < TIMESTAMP '2026-11-20 23:00:00'"
    )


def test_dashboard_times_resolve_like_grafana() -> None:
    now = datetime(2026, 11, 20, 12, 34, 56, tzinfo=UTC)
    assert dashboard_range("now-7d", "now", now) == TimeRange(now - timedelta(days=7), now)
    day = dashboard_range("now-1d/d", "now-1d/d", now)
    assert day.start == datetime(2026, 11, 19, tzinfo=UTC)
    assert day.end == datetime(2026, 11, 19, 23, 59, 59, 999000, tzinfo=UTC)
    with pytest.raises(ValueError, match="calendar units"):
        dashboard_range("now-1M", "now", now)


# ------------------------------------------------------------- alert rules


def test_alert_rules_are_provisioned_from_the_prefect_rules_file() -> None:
    rules = load_rules(alerting.RULES_FILE)
    document = yaml.safe_load(ALERT_RULES_FILE.read_text())
    (group,) = document["groups"]
    provisioned = {rule["title"]: rule for rule in group["rules"]}
    assert list(provisioned) == [rule.name for rule in rules]
    for rule in rules:
        grafana = provisioned[rule.name]
        query, threshold = grafana["data"]
        assert grafana["condition"] == threshold["refId"] == "B"
        assert query["datasourceUid"] == DATASOURCE_UID
        assert query["model"]["format"] == 1  # a table with one number: numeric data
        assert threshold["model"]["type"] == "threshold"
        assert threshold["model"]["expression"] == query["refId"]
        (condition,) = threshold["model"]["conditions"]
        expected = {"above": "gt", "below": "lt"}[rule.condition]
        assert condition["evaluator"] == {"type": expected, "params": [rule.threshold]}
        assert grafana["labels"]["severity"] == rule.severity
        assert "$__timeTo()" in query["model"]["rawSQL"] or rule.window_days is None
        assert query["relativeTimeRange"]["from"] >= (rule.window_days or 1) * 86400


# --------------------------------------------------------------- provisioning


def test_the_datasource_is_provisioned_without_keys_for_the_default_credential_chain() -> None:
    text = (PROVISIONING_DIR / "datasources" / "athena.yaml").read_text()
    (datasource,) = yaml.safe_load(text)["datasources"]
    assert (datasource["uid"], datasource["type"]) == (DATASOURCE_UID, DATASOURCE_TYPE)
    assert datasource["jsonData"]["authType"] == "default"
    assert datasource["jsonData"]["assumeRoleArn"].startswith("$")
    assert datasource["jsonData"]["database"] == "$STREAMLAKE_GOLD_DATABASE"
    assert "secureJsonData" not in datasource
    assert not re.search(r"(?i)accesskey|secretkey|AKIA[0-9A-Z]{16}", text)


def test_compose_mounts_the_provisioning_and_the_dashboards_where_the_provider_reads() -> None:
    compose = yaml.safe_load((GRAFANA_DIR / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    environment = dict(e.split("=", 1) if "=" in e else (e, None) for e in grafana["environment"])
    assert environment["GF_INSTALL_PLUGINS"] == DATASOURCE_TYPE
    assert environment["AWS_SECRET_ACCESS_KEY"] is None  # passed through, never written here
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"])
    assert mounts["./provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load((PROVISIONING_DIR / "dashboards" / "streamlake.yaml").read_text())
    (files,) = provider["providers"]
    assert mounts["./dashboards"] == files["options"]["path"]
    assert ALERT_RULES_FILE.parent == PROVISIONING_DIR / "alerting"
    # Every variable the provisioning reads is set by the compose file.
    datasources = yaml.safe_load((PROVISIONING_DIR / "datasources" / "athena.yaml").read_text())
    settings = datasources["datasources"][0]["jsonData"].values()
    used = {value[1:] for value in settings if str(value).startswith("$")}
    assert used and used <= set(environment)


# ----------------------------------------------------------- Athena grammar


@pytest.fixture(scope="module")
def athena() -> Iterator[Frontend]:
    """The emulator's statement checker over a Glue catalog holding Gold as dbt contracts it."""
    models = gold_yaml_models()
    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        glue.create_database(DatabaseInput={"Name": "gold"})
        for model in models:
            columns = [
                {
                    "Name": column["name"],
                    # Gold is Iceberg on Athena: its timestamps are timestamp(6).
                    "Type": glue_type_from_trino(
                        "timestamp(6)"
                        if column["data_type"] == "timestamp"
                        else column["data_type"],
                        iceberg=True,
                    ),
                }
                for column in model["columns"]
            ]
            glue.create_table(
                DatabaseName="gold",
                TableInput={
                    "Name": model["name"],
                    "TableType": "EXTERNAL_TABLE",
                    "Parameters": {"table_type": "ICEBERG"},
                    "StorageDescriptor": {
                        "Columns": columns,
                        "Location": f"s3://lake/warehouse/gold/{model['name']}",
                    },
                },
            )
        yield Frontend(GlueCatalog(glue), boto3.client("s3", region_name="us-east-1"))


@pytest.mark.parametrize(("board", "panel", "query"), panel_queries())
def test_panel_sql_passes_athena_with_the_columns_the_panel_expects(
    athena: Frontend, board: str, panel: int, query: Query
) -> None:
    outcome = athena.run(expand_for(query.sql, WEEK), "gold", f"{board}-{panel}")
    assert outcome.state == "SUCCEEDED", outcome.reason
    assert [(name, trino_kind(kind)) for name, kind in outcome.columns] == [
        (f.name, f.kind) for f in query.fields
    ]


@pytest.mark.parametrize("rule", load_rules(alerting.RULES_FILE), ids=lambda r: r.name)
def test_alert_rule_sql_passes_athena(athena: Frontend, rule: Any) -> None:
    outcome = athena.run(expand_for(alerting.grafana_sql(rule), WEEK), "gold", rule.name)
    assert outcome.state == "SUCCEEDED", outcome.reason
    assert [(n, trino_kind(k)) for n, k in outcome.columns] == [("observed", "number")]


def test_the_athena_check_rejects_what_athena_rejects(athena: Frontend) -> None:
    # DuckDB accepts these; Athena does not. The check must tell them apart.
    for sql in (
        "select order_date::timestamp as time from daily_sales_by_region",
        "select strftime(order_date, '%Y') as y from daily_sales_by_region",
        "select missing_column from daily_sales_by_region",
    ):
        assert athena.run(sql, "gold", "bad").state == "FAILED", sql


def previews_missing(dashboard_dir: Path, preview_dir: Path, page: str) -> list[str]:
    """Dashboards without a committed preview, or whose preview the page does not show."""
    missing = []
    for dashboard in sorted(dashboard_dir.glob("*.json")):
        preview = preview_dir / f"{dashboard.stem}.png"
        if not preview.is_file():
            missing.append(f"{dashboard.stem}: no {preview.name}")
        elif f"grafana/preview/{preview.name})" not in page:
            missing.append(f"{dashboard.stem}: not shown on the page")
    return missing


def test_every_dashboard_has_a_preview_shown_where_dashboards_are_described(
    tmp_path: Path,
) -> None:
    page = (PROJECT_DIR / "docs" / "dashboards.md").read_text()
    assert previews_missing(DASHBOARD_DIR, PROJECT_DIR / "grafana" / "preview", page) == []
    # A new dashboard without its picture is caught, as is a picture the page leaves out.
    (tmp_path / "inventory.json").write_text("{}")
    (tmp_path / "sales.json").write_text("{}")
    (tmp_path / "sales.png").write_bytes(b"")
    assert previews_missing(tmp_path, tmp_path, page) == ["inventory: no inventory.png"]
    assert previews_missing(tmp_path, tmp_path, "no pictures") == [
        "inventory: no inventory.png",
        "sales: not shown on the page",
    ]
