"""SQL shapes more than one panel uses, written once.

The SQL is lowercase Trino that DuckDB also runs once the datasource's macros
are expanded: no `::` casts, no DuckDB-only functions, `date_diff` with the unit
first, intervals as `n * interval '1' day`.
"""

from __future__ import annotations

from textwrap import dedent

from flows.warehouse.manifest import layer_models
from grafana.builder.fields import Query, number


def period_comparison(
    *, table: str, date_column: str, measure: str, value: str, per: str | None = None
) -> Query:
    """A total over the dashboard's days and its change against as many days just before.

    The current period is the days `$__dateFilter` would select (first and last
    day included); the previous one is the same number of days before it. With
    `per`, the value is sum(measure) / sum(per), e.g. revenue per order.
    """
    per_columns = ""
    current, previous = "cast(current_total as double)", "cast(previous_total as double)"
    if per:
        per_columns = f"""
            sum(case when facts.{date_column} >= periods.current_start then facts.{per} end)
                as current_per,
            sum(case when facts.{date_column} < periods.current_start then facts.{per} end)
                as previous_per,"""
        current += " / nullif(current_per, 0)"
        previous += " / nullif(previous_per, 0)"
    sql = f"""
    with bounds as (
        select
            cast($__timeFrom() as date) as current_start,
            cast($__timeTo() as date) as current_end
    ),

    periods as (
        select
            current_start,
            current_end,
            current_start - (date_diff('day', current_start, current_end) + 1) * interval '1' day
                as previous_start
        from bounds
    ),

    totals as (
        select{per_columns}
            sum(case when facts.{date_column} >= periods.current_start then facts.{measure} end)
                as current_total,
            sum(case when facts.{date_column} < periods.current_start then facts.{measure} end)
                as previous_total
        from {table} as facts
        cross join periods
        where
            facts.{date_column} >= periods.previous_start
            and facts.{date_column} <= periods.current_end
    ),

    compared as (
        select
            {current} as current_value,
            {previous} as previous_value
        from totals
    )

    select
        current_value as {value},
        current_value / nullif(previous_value, 0) - 1 as change_vs_previous_period
    from compared
    """
    return Query(clean(sql), (number(value), number("change_vs_previous_period")), format="table")


def clean(sql: str) -> str:
    """Dedented, without blank lines at either end; what the panel's JSON stores."""
    return dedent(sql).strip("\n") + "\n"


def gold_models() -> list[str]:
    """Every Gold model of the project but the platform's own, from dbt's manifest: the
    Pipeline health dashboard counts the rows of each."""
    return layer_models("gold")
