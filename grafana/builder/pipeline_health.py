"""The Pipeline health dashboard (dbt exposure `pipeline_health`): freshness, volumes, alerts.

Grafana's role may read the Gold database only, so everything here comes from
Gold: the `pipeline_health` model (Bronze landed and quarantined, per source),
the `data_quality` model (the plausibility tests' failing rows, which warn
rather than stop a build), and the row count of every Gold model dbt's manifest
lists. Every source and Gold model is covered with no edit here. Ages are
measured against the end of the dashboard's range, which is now unless the user
moves it. The alert list shows the provisioned rules, the same rules the Prefect
transform flow evaluates after each run.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, stat, table
from grafana_foundation_sdk.builders import dashboard as sdk
from grafana_foundation_sdk.models import common

from grafana.builder import style
from grafana.builder.alerting import RULE_LABELS
from grafana.builder.board import Board
from grafana.builder.fields import Query, number, string, time
from grafana.builder.sql import clean, gold_models

# Minutes: fresh within the hour, stale after six.
AGE_STEPS = ((None, "green"), (60, "orange"), (360, "red"))

LAST_GOLD_WRITE = Query(
    clean("""
    select
        date_diff('minute', max(newest_gold_write), $__timeTo())
            as minutes_since_last_gold_write
    from pipeline_health
    """),
    (number("minutes_since_last_gold_write"),),
)

FRESHNESS = Query(
    clean("""
    with layers as (
        select
            bronze_source,
            'bronze' as layer,
            newest_ingestion_time as last_updated
        from pipeline_health
        union all
        select
            bronze_source,
            'silver' as layer,
            newest_silver_write as last_updated
        from pipeline_health
        union all
        select
            bronze_source,
            'gold' as layer,
            newest_gold_write as last_updated
        from pipeline_health
    )

    select
        bronze_source,
        layer,
        last_updated,
        date_diff('minute', last_updated, $__timeTo()) as minutes_behind
    from layers
    order by bronze_source, layer
    """),
    (string("bronze_source"), string("layer"), time("last_updated"), number("minutes_behind")),
)

ROWS_LANDED = Query(
    clean("""
    select
        bronze_source,
        rows_landed
    from pipeline_health
    order by rows_landed desc, bronze_source
    """),
    (string("bronze_source"), number("rows_landed")),
)

QUARANTINED = Query(
    clean("""
    select
        bronze_source,
        records_quarantined
    from pipeline_health
    order by records_quarantined desc, bronze_source
    """),
    (string("bronze_source"), number("records_quarantined")),
)

PLAUSIBILITY_WARNINGS = Query(
    clean("""
    select
        bronze_source,
        plausibility_warnings
    from pipeline_health
    order by plausibility_warnings desc, bronze_source
    """),
    (string("bronze_source"), number("plausibility_warnings")),
)

# The failing tests first: a passing test is listed too, so the panel shows what is checked.
FAILING_TESTS = Query(
    clean("""
    select
        model_name,
        tested_column,
        test_name,
        bronze_source,
        failing_rows
    from data_quality
    order by failing_rows desc, model_name, test_name, bronze_source
    """),
    (
        string("model_name"),
        string("tested_column"),
        string("test_name"),
        string("bronze_source"),
        number("failing_rows"),
    ),
)


def gold_rows() -> Query:
    """Rows of each Gold model of the project (dbt's manifest says which there are)."""
    counts = "\n    union all\n    ".join(
        f"select '{model}' as model, count(*) as row_count from {model}" for model in gold_models()
    )
    return Query(
        clean(f"""
    {counts}
    order by row_count desc, model
    """),
        (string("model"), number("row_count")),
    )


def _label_filter() -> str:
    return "{" + ", ".join(f'{name}="{value}"' for name, value in RULE_LABELS.items()) + "}"


def _alert_list() -> sdk.Panel:
    """Grafana's list of the provisioned alert rules and their state (no query of its own)."""
    return (
        sdk.Panel()
        .type("alertlist")
        .title("Last run status: alert rules on Gold")
        .description("The rules of flows/alert_rules.yml, as the Prefect flow evaluates them.")
        .options(
            {
                # The provisioned rules carry this label (alerting.py), whatever folder holds them.
                "alertInstanceLabelFilter": _label_filter(),
                "alertName": "",
                "dashboardAlerts": False,
                "groupBy": [],
                "groupMode": "default",
                "maxItems": 20,
                "showInstances": False,
                "sortOrder": 1,
                "stateFilter": {
                    "error": True,
                    "firing": True,
                    "noData": True,
                    "normal": True,
                    "pending": True,
                },
                "viewMode": "list",
            }
        )
    )


def build() -> Board:
    board = Board(
        name="pipeline_health",
        uid="streamlake-pipeline-health",
        title="Streamlake: Pipeline health",
        description=(
            "Freshness per source and layer, rows landed and quarantined, "
            "plausibility warnings, Gold sizes."
        ),
        time_from="now-24h",
    )
    board.add(
        stat.Panel()
        .title("Minutes since Gold was last written")
        .description("The newest _processed_at of the Gold models, against the range's end.")
        .reduce_options(style.last_value())
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .unit(style.MINUTES)
        .thresholds(style.thresholds(*AGE_STEPS))
        .color_scheme(style.by_thresholds()),
        LAST_GOLD_WRITE,
        width=8,
        height=8,
    )
    board.add(_alert_list(), None, width=16, height=8)
    board.add(
        table.Panel()
        .title("Freshness per source and layer")
        .description(
            "Bronze: newest record landed. Silver: newest change of its table. "
            "Gold: newest write of the models it feeds."
        )
        .override_by_name("bronze_source", style.properties(display_name="source"))
        .override_by_name("last_updated", style.properties(display_name="last updated"))
        .override_by_name(
            "minutes_behind",
            [
                *style.properties(
                    display_name="minutes behind", unit=style.MINUTES, threshold_steps=AGE_STEPS
                ),
                style.coloured_cells(),
            ],
        ),
        FRESHNESS,
        width=12,
        height=8,
    )
    board.add(
        bargauge.Panel()
        .title("Rows landed in Bronze")
        .description("Redeliveries included: Silver keeps one version per key.")
        .reduce_options(style.last_value(all_rows=True))
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .color_scheme(style.fixed("blue")),
        ROWS_LANDED,
        width=6,
        height=8,
    )
    board.add(
        bargauge.Panel()
        .title("Quarantined records")
        .reduce_options(style.last_value(all_rows=True))
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .thresholds(style.thresholds((None, "green"), (1, "orange"), (500, "red")))
        .color_scheme(style.by_thresholds()),
        QUARANTINED,
        width=6,
        height=8,
    )
    warned = ((None, "green"), (1, "orange"))
    board.add(
        bargauge.Panel()
        .title("Plausibility warnings per source")
        .description(
            "Rows failing the plausibility tests (data_quality) of the models each source "
            "feeds: new values or odd data that warn instead of stopping the build."
        )
        .reduce_options(style.last_value(all_rows=True))
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .thresholds(style.thresholds(*warned))
        .color_scheme(style.by_thresholds()),
        PLAUSIBILITY_WARNINGS,
        width=8,
        height=8,
    )
    board.add(
        table.Panel()
        .title("Plausibility tests (data_quality)")
        .description(
            "Each plausibility test of the dbt project and the rows failing it now, over the "
            "whole tables; dbt build reports the same tests as WARN."
        )
        .override_by_name("model_name", style.properties(display_name="model"))
        .override_by_name("tested_column", style.properties(display_name="column"))
        .override_by_name("test_name", style.properties(display_name="test"))
        .override_by_name("bronze_source", style.properties(display_name="source"))
        .override_by_name(
            "failing_rows",
            [
                *style.properties(display_name="failing rows", threshold_steps=warned),
                style.coloured_cells(),
            ],
        ),
        FAILING_TESTS,
        width=16,
        height=8,
    )
    board.add(
        bargauge.Panel()
        .title("Gold row counts")
        .reduce_options(style.last_value(all_rows=True))
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .color_scheme(style.fixed("purple")),
        gold_rows(),
        width=24,
        height=10,
    )
    return board
