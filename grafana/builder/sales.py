"""The Sales dashboard (dbt exposure `sales`): revenue, orders, key metrics, stock, top products."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, piechart, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import piechart as piechart_model

from grafana.builder import style
from grafana.builder.board import Board
from grafana.builder.fields import Query, number, string, time
from grafana.builder.sql import clean, period_comparison

REVENUE = period_comparison(
    table="daily_sales_by_region",
    date_column="order_date",
    measure="total_revenue",
    value="revenue",
)
# Orders are every live order placed, whatever its status; revenue and the average
# order value count the orders whose status counts as revenue (the order_statuses
# seed), as daily_sales_by_region and key_metrics do.
ORDERS = period_comparison(
    table="daily_sales_by_region", date_column="order_date", measure="order_count", value="orders"
)
AVERAGE_ORDER_VALUE = period_comparison(
    table="daily_sales_by_region",
    date_column="order_date",
    measure="total_revenue",
    per="revenue_order_count",
    value="avg_order_value",
)

# key_metrics names each metric after its window (revenue_30d, conversion_rate_7d):
# the window is a dbt variable, so match the prefix.
TRAILING_WINDOWS = Query(
    clean("""
    select
        max(case when metric_name like 'revenue_%' then metric_value end) as revenue,
        max(case when metric_name like 'orders_%' then metric_value end) as orders,
        max(case when metric_name like 'avg_order_value_%' then metric_value end)
            as avg_order_value,
        max(case when metric_name like 'active_customers_%' then metric_value end)
            as active_customers,
        max(case when metric_name like 'conversion_rate_%' then metric_value end)
            as conversion_rate
    from key_metrics
    """),
    (
        number("revenue"),
        number("orders"),
        number("avg_order_value"),
        number("active_customers"),
        number("conversion_rate"),
    ),
)

REVENUE_BY_REGION = Query(
    clean("""
    select
        region,
        cast(sum(total_revenue) as double) as revenue
    from daily_sales_by_region
    where $__dateFilter(order_date)
    group by region
    order by revenue desc
    """),
    (string("region"), number("revenue")),
)

DAILY_REVENUE = Query(
    clean("""
    select
        cast(order_date as timestamp) as time,
        region,
        cast(sum(total_revenue) as double) as revenue
    from daily_sales_by_region
    where $__dateFilter(order_date)
    group by order_date, region
    order by time, region
    """),
    (time(), string("region"), number("revenue")),
    format="time_series",
)

ORDERS_AND_AOV = Query(
    clean("""
    select
        cast(order_date as timestamp) as time,
        sum(order_count) as orders,
        cast(sum(total_revenue) as double) / nullif(sum(revenue_order_count), 0)
            as avg_order_value
    from daily_sales_by_region
    where $__dateFilter(order_date)
    group by order_date
    order by time
    """),
    (time(), number("orders"), number("avg_order_value")),
    format="time_series",
)

# The last complete day of the range: the range usually ends today, which is not over.
WEEK_OVER_WEEK = Query(
    clean("""
    select
        metric_name,
        week_over_week_change
    from metric_trends
    where metric_date = (
        select max(metric_date)
        from metric_trends
        where $__dateFilter(metric_date) and metric_date < cast($__timeTo() as date)
    )
    order by metric_name
    """),
    (string("metric_name"), number("week_over_week_change")),
)

TOP_PRODUCTS = Query(
    clean("""
    select
        product_name,
        cast(revenue as double) as revenue
    from product_performance
    order by revenue desc, product_name
    limit 10
    """),
    (string("product_name"), number("revenue")),
)

STOCK_STATUS = Query(
    clean("""
    select
        product_name,
        category,
        current_stock,
        stock_status,
        units_sold
    from product_performance
    order by
        case stock_status when 'out of stock' then 0 when 'low' then 1 else 2 end,
        current_stock,
        product_name
    """),
    (
        string("product_name"),
        string("category"),
        number("current_stock"),
        string("stock_status"),
        number("units_sold"),
    ),
)

STOCK_COLOURS = {"out of stock": "red", "low": "orange", "ok": "green"}


def comparison_stat(title: str, description: str, value: str, unit: str) -> stat.Panel:
    """The period's value and its change against the previous period, coloured by sign."""
    return (
        style.named_values_stat(title, description)
        .color_mode(common.BigValueColorMode.VALUE)
        .override_by_name(
            value,
            style.properties(display_name=value.replace("_", " "), unit=unit, fixed_color="blue"),
        )
        .override_by_name(
            "change_vs_previous_period",
            style.properties(
                display_name="vs previous period",
                unit=style.PERCENT,
                decimals=1,
                threshold_steps=((None, "red"), (0, "green")),
            ),
        )
    )


def build() -> Board:
    board = Board(
        name="sales",
        uid="streamlake-sales",
        title="Streamlake: Sales",
        description="Gold sales models: revenue, orders, key metrics, stock and top products.",
    )
    period = "Sum over the dashboard's days, and its change against as many days before."
    board.add(
        comparison_stat("Revenue", period, "revenue", style.CURRENCY),
        REVENUE,
        width=8,
        height=5,
    )
    board.add(
        comparison_stat(
            "Orders", f"Every live order, cancelled ones included. {period}", "orders", style.COUNT
        ),
        ORDERS,
        width=8,
        height=5,
    )
    board.add(
        comparison_stat(
            "Average order value",
            "Revenue per order that counts as revenue (its status, order_statuses seed), "
            "over the dashboard's days, against as many days before.",
            "avg_order_value",
            style.CURRENCY,
        ),
        AVERAGE_ORDER_VALUE,
        width=8,
        height=5,
    )
    board.add(
        style.named_values_stat(
            "Trailing windows ending today (key_metrics)",
            "Revenue, orders, order value and customers over 30 days; conversion 7.",
        )
        .color_scheme(style.fixed("purple"))
        .override_by_name("revenue", style.properties(display_name="revenue", unit=style.CURRENCY))
        .override_by_name(
            "avg_order_value",
            style.properties(display_name="avg order value", unit=style.CURRENCY),
        )
        .override_by_name("active_customers", style.properties(display_name="active customers"))
        .override_by_name(
            "conversion_rate",
            style.properties(display_name="conversion", unit=style.PERCENT, decimals=1),
        ),
        TRAILING_WINDOWS,
        width=24,
        height=4,
    )
    board.add(
        piechart.Panel()
        .title("Revenue by region")
        .reduce_options(style.last_value(all_rows=True))
        .pie_type(piechart_model.PieChartType.DONUT)
        .display_labels([piechart_model.PieChartLabels.PERCENT])
        .legend(
            piechart.PieChartLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.RIGHT)
            .values([piechart_model.PieChartLegendValues.VALUE])
        )
        .unit(style.CURRENCY),
        REVENUE_BY_REGION,
        width=8,
        height=9,
    )
    board.add(
        timeseries.Panel()
        .title("Daily revenue by region")
        .unit(style.CURRENCY)
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        .legend(style.legend_below())
        # Grafana turns the long rows into one `revenue` field per region, labelled.
        .override_by_name("revenue", style.properties(display_name="${__field.labels.region}")),
        DAILY_REVENUE,
        width=16,
        height=9,
    )
    board.add(
        timeseries.Panel()
        .title("Orders and average order value")
        .legend(style.legend_below())
        .override_by_name(
            "orders",
            style.properties(custom={"drawStyle": "bars", "fillOpacity": 60}, fixed_color="blue"),
        )
        .override_by_name(
            "avg_order_value",
            style.properties(
                display_name="avg order value",
                unit=style.CURRENCY,
                fixed_color="orange",
                custom={"axisPlacement": "right", "lineWidth": 2},
            ),
        ),
        ORDERS_AND_AOV,
        width=12,
        height=9,
    )
    board.add(
        bargauge.Panel()
        .title("Week over week, last complete day (metric_trends)")
        .reduce_options(style.last_value(all_rows=True))
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .unit(style.PERCENT)
        .decimals(1)
        .thresholds(style.CHANGE_THRESHOLDS)
        .color_scheme(style.by_thresholds()),
        WEEK_OVER_WEEK,
        width=12,
        height=9,
    )
    board.add(
        bargauge.Panel()
        .title("Top products by revenue (all time)")
        .reduce_options(style.last_value(all_rows=True))
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .unit(style.CURRENCY)
        .color_scheme(style.fixed("green")),
        TOP_PRODUCTS,
        width=10,
        height=11,
    )
    board.add(
        table.Panel()
        .title("Product stock status")
        .description("Out of stock first, then low, then by units in stock.")
        .override_by_name(
            "stock_status",
            [
                *style.properties(display_name="status"),
                style.coloured_cells(),
                style.value_colors(STOCK_COLOURS),
            ],
        )
        .override_by_name("current_stock", style.properties(display_name="in stock"))
        .override_by_name("units_sold", style.properties(display_name="units sold"))
        .override_by_name("product_name", style.properties(display_name="product")),
        STOCK_STATUS,
        width=14,
        height=11,
    )
    return board
