{#- Rows are written only when one of these values changed (one condition,
    under the name each adapter reads). -#}
{%- set write_when_changed = changed_values_condition([
    'metric_value',
    'previous_day_value',
    'previous_week_value',
]) %}

{{
    config(
        unique_key=['metric_date', 'metric_name'],
        merge_update_condition=write_when_changed,
        update_condition=write_when_changed,
        partitioned_by=iceberg_partitioning(['day(metric_date)']),
    )
}}

{#- Day-over-day and week-over-week change of the headline metrics. Rows whose
    values did not change are left as they are. -#}

with daily as (
    select
        order_date as metric_date,
        'revenue' as metric_name,
        cast(sum(total_revenue) as double) as metric_value
    from {{ ref('daily_sales_by_region') }}
    group by order_date
    union all
    select
        order_date as metric_date,
        'orders' as metric_name,
        cast(sum(order_count) as double) as metric_value
    from {{ ref('daily_sales_by_region') }}
    group by order_date
    union all
    select
        event_date as metric_date,
        'events' as metric_name,
        cast(sum(event_count) as double) as metric_value
    from {{ ref('top_events') }}
    group by event_date
    union all
    select
        activity_date as metric_date,
        'daily_active_users' as metric_name,
        cast(daily_active_users as double) as metric_value
    from {{ ref('active_users') }}
    union all
    select
        event_date as metric_date,
        'conversion_rate' as metric_name,
        overall_conversion_rate as metric_value
    from {{ ref('funnel_daily') }}
)

select
    today.metric_date,
    today.metric_name,
    today.metric_value,
    previous_day.metric_value as previous_day_value,
    previous_week.metric_value as previous_week_value,
    -- rounded: a ratio's last bits depend on how the engine evaluates it
    round(
        (today.metric_value - previous_day.metric_value)
        / nullif(previous_day.metric_value, 0), 6
    ) as day_over_day_change,
    round(
        (today.metric_value - previous_week.metric_value)
        / nullif(previous_week.metric_value, 0), 6
    ) as week_over_week_change,
    {{ run_timestamp() }} as _processed_at
from daily as today
left join daily as previous_day
    on today.metric_name = previous_day.metric_name
        and previous_day.metric_date = {{ dbt.dateadd('day', -1, 'today.metric_date') }}
left join daily as previous_week
    on today.metric_name = previous_week.metric_name
        and previous_week.metric_date = {{ dbt.dateadd('day', -7, 'today.metric_date') }}
