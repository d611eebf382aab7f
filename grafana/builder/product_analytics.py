"""The Product analytics dashboard (dbt exposure `product_analytics`): events, users, funnel."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, geomap, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.models import common

from grafana.builder import style
from grafana.builder.board import Board
from grafana.builder.fields import Query, number, string, time
from grafana.builder.sql import clean, period_comparison

TOTAL_EVENTS = period_comparison(
    table="top_events", date_column="event_date", measure="event_count", value="events"
)

# The last day of the range with activity: its 7- and 30-day windows end on it.
ACTIVE_USERS_LATEST = Query(
    clean("""
    select
        daily_active_users,
        weekly_active_users,
        monthly_active_users
    from active_users
    where activity_date = (
        select max(activity_date)
        from active_users
        where $__dateFilter(activity_date)
    )
    """),
    (
        number("daily_active_users"),
        number("weekly_active_users"),
        number("monthly_active_users"),
    ),
)

# user_activity keeps lifetime figures per user; the range picks who was seen in it.
ENGAGEMENT = Query(
    clean("""
    select
        count(*) as users_seen,
        avg(events_per_active_hour) as events_per_active_hour,
        avg(cast(active_days as double)) as active_days
    from user_activity
    where $__timeFilter(last_seen)
    """),
    (number("users_seen"), number("events_per_active_hour"), number("active_days")),
)

EVENTS_BY_TYPE = Query(
    clean("""
    select
        event_hour as time,
        event_type,
        event_count as events
    from events_hourly
    where $__timeFilter(event_hour)
    order by time, event_type
    """),
    (time(), string("event_type"), number("events")),
    format="time_series",
)

ACTIVE_USERS = Query(
    clean("""
    select
        cast(activity_date as timestamp) as time,
        daily_active_users,
        weekly_active_users,
        monthly_active_users
    from active_users
    where $__dateFilter(activity_date)
    order by time
    """),
    (
        time(),
        number("daily_active_users"),
        number("weekly_active_users"),
        number("monthly_active_users"),
    ),
    format="time_series",
)

TOP_EVENTS = Query(
    clean("""
    select
        event_type,
        sum(event_count) as events
    from top_events
    where $__dateFilter(event_date)
    group by event_type
    order by events desc, event_type
    """),
    (string("event_type"), number("events")),
)

# Country codes (ISO 3166 alpha-2) are what Grafana's countries gazetteer looks up.
GEO = Query(
    clean("""
    select
        country,
        sum(event_count) as events
    from geo_distribution
    where $__dateFilter(event_date)
    group by country
    order by events desc, country
    """),
    (string("country"), number("events")),
)

# Sessions per step summed over the days; each step's rate is against the step before.
FUNNEL = Query(
    clean("""
    with totals as (
        select
            sum(product_view_sessions) as product_view,
            sum(add_to_cart_sessions) as add_to_cart,
            sum(checkout_start_sessions) as checkout_start,
            sum(purchase_sessions) as purchase
        from funnel_daily
        where $__dateFilter(event_date)
    ),

    steps as (
        select
            1 as step_number,
            'product view' as step,
            product_view as sessions,
            product_view as previous_sessions,
            product_view as first_sessions
        from totals
        union all
        select 2, 'add to cart', add_to_cart, product_view, product_view from totals
        union all
        select 3, 'checkout start', checkout_start, add_to_cart, product_view from totals
        union all
        select 4, 'purchase', purchase, checkout_start, product_view from totals
    )

    select
        step,
        sessions,
        cast(sessions as double) / nullif(previous_sessions, 0) as step_rate,
        cast(sessions as double) / nullif(first_sessions, 0) as overall_rate
    from steps
    order by step_number
    """),
    (string("step"), number("sessions"), number("step_rate"), number("overall_rate")),
)


def _markers_layer() -> common_builders.MapLayerOptions:
    """Bubbles per country, sized and coloured by events, placed by the countries gazetteer."""
    return (
        common_builders.MapLayerOptions()
        .type("markers")
        .name("Events by country")
        .location(
            common_builders.FrameGeometrySource()
            .mode(common.FrameGeometrySourceMode.LOOKUP)
            .lookup("country")
            .gazetteer("public/gazetteer/countries.json")
        )
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"field": "events", "fixed": "dark-green"},
                    "opacity": 0.6,
                    "size": {"field": "events", "fixed": 5, "min": 4, "max": 30},
                    "symbol": {"fixed": "img/icons/marker/circle.svg", "mode": "fixed"},
                    "text": {"field": "country", "fixed": "", "mode": "field"},
                    "textConfig": {"fontSize": 10, "offsetY": -14, "textAlign": "center"},
                },
            }
        )
        .tooltip(True)
    )


def build() -> Board:
    board = Board(
        name="product_analytics",
        uid="streamlake-product-analytics",
        title="Streamlake: Product analytics",
        description="Gold event models: volume, active users, top events, geography and funnel.",
    )
    board.add(
        style.named_values_stat(
            "Total events",
            "Events over the dashboard's days, and the change against as many before.",
        )
        .override_by_name("events", style.properties(fixed_color="blue"))
        .override_by_name(
            "change_vs_previous_period",
            style.properties(
                display_name="vs previous period",
                unit=style.PERCENT,
                decimals=1,
                threshold_steps=((None, "red"), (0, "green")),
            ),
        ),
        TOTAL_EVENTS,
        width=8,
        height=5,
    )
    board.add(
        style.named_values_stat("Active users, last active day")
        .color_scheme(style.fixed("purple"))
        .override_by_name("daily_active_users", style.properties(display_name="DAU"))
        .override_by_name("weekly_active_users", style.properties(display_name="WAU"))
        .override_by_name("monthly_active_users", style.properties(display_name="MAU")),
        ACTIVE_USERS_LATEST,
        width=8,
        height=5,
    )
    board.add(
        style.named_values_stat(
            "Users seen in range (user_activity)",
            "Users whose last event falls in the range, with their lifetime averages.",
        )
        .color_scheme(style.fixed("text"))
        .override_by_name("users_seen", style.properties(display_name="users"))
        .override_by_name(
            "events_per_active_hour",
            style.properties(display_name="events per active hour", decimals=1),
        )
        .override_by_name("active_days", style.properties(display_name="active days", decimals=1)),
        ENGAGEMENT,
        width=8,
        height=5,
    )
    board.add(
        timeseries.Panel()
        .title("Events per hour by type")
        .draw_style(common.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(20)
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        .legend(style.legend_below())
        .override_by_name("events", style.properties(display_name="${__field.labels.event_type}")),
        EVENTS_BY_TYPE,
        width=24,
        height=9,
    )
    board.add(
        timeseries.Panel()
        .title("Active users: daily, weekly (7 days), monthly (30 days)")
        .line_width(2)
        .legend(style.legend_below())
        .override_by_name("daily_active_users", style.properties(display_name="DAU"))
        .override_by_name("weekly_active_users", style.properties(display_name="WAU"))
        .override_by_name("monthly_active_users", style.properties(display_name="MAU")),
        ACTIVE_USERS,
        width=12,
        height=9,
    )
    board.add(
        bargauge.Panel()
        .title("Top events")
        .reduce_options(style.last_value(all_rows=True))
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .color_scheme(style.fixed("blue")),
        TOP_EVENTS,
        width=12,
        height=9,
    )
    board.add(
        geomap.Panel()
        .title("Events by country")
        .view(geomap.MapViewConfig().id("zero").lat(20).lon(0).zoom(1))
        .basemap(common_builders.MapLayerOptions().type("default").name("Basemap"))
        .layers([_markers_layer()])
        .color_scheme(style.fixed("dark-green")),
        GEO,
        width=12,
        height=10,
    )
    board.add(
        table.Panel()
        .title("Conversion funnel")
        .description("Sessions reaching each step; step rate against the step before it.")
        .override_by_name("sessions", [style.gauge_cells()])
        .override_by_name(
            "step_rate", style.properties(display_name="step rate", unit=style.PERCENT, decimals=1)
        )
        .override_by_name(
            "overall_rate",
            style.properties(display_name="of product views", unit=style.PERCENT, decimals=1),
        ),
        FUNNEL,
        width=12,
        height=10,
    )
    return board
