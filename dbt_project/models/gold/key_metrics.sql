{{
    config(
        unique_key='metric_name',
        merge_update_condition=changed_values_condition(['metric_value', 'window_days']),
        update_condition=changed_values_condition(['metric_value', 'window_days']),
    )
}}

{#- Headline numbers over trailing windows that end today (UTC). -#}
{%- set window = var('metrics_window_days') %}
{%- set conversion_window = var('conversion_window_days') %}

with today as (
    select cast({{ dbt.current_timestamp() }} as date) as day
),

sales as (
    select
        sum(total_revenue) as revenue,
        sum(order_count) as orders
    from {{ ref('daily_sales_by_region') }}
    cross join today
    where order_date > {{ dbt.dateadd('day', -window, 'today.day') }}
),

customers as (
    select count(distinct customer_id) as active_customers
    from {{ ref('orders_enriched') }}
    cross join today
    where not is_deleted and order_date > {{ dbt.dateadd('day', -window, 'today.day') }}
),

funnel as (
    select
        sum(purchase_sessions) as purchases,
        sum(product_view_sessions) as product_views
    from {{ ref('funnel_daily') }}
    cross join today
    where event_date > {{ dbt.dateadd('day', -conversion_window, 'today.day') }}
),

metrics as (
    select 'revenue_{{ window }}d' as metric_name,
        cast(coalesce(revenue, 0) as double) as metric_value, {{ window }} as window_days
    from sales
    union all
    select 'orders_{{ window }}d', cast(coalesce(orders, 0) as double), {{ window }} from sales
    union all
    select 'avg_order_value_{{ window }}d',
        coalesce(cast(revenue as double) / nullif(orders, 0), 0), {{ window }}
    from sales
    union all
    select 'active_customers_{{ window }}d', cast(active_customers as double), {{ window }}
    from customers
    union all
    select 'conversion_rate_{{ conversion_window }}d',
        coalesce(cast(purchases as double) / nullif(product_views, 0), 0),
        {{ conversion_window }}
    from funnel
)

select
    metric_name,
    metric_value,
    window_days,
    {{ run_timestamp() }} as _processed_at
from metrics
