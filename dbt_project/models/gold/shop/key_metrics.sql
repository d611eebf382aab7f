{#- Rows are written only when one of these values changed (one condition,
    under the name each adapter reads). -#}
{%- set write_when_changed = changed_values_condition([
    'metric_value',
    'window_days',
]) %}

{{
    config(
        unique_key='metric_name',
        merge_update_condition=write_when_changed,
        update_condition=write_when_changed,
    )
}}

{#- Headline numbers over trailing windows that end today (UTC). -#}
{%- set window = var('metrics_window_days') %}
{%- set conversion_window = var('conversion_window_days') %}

with today as (
    select cast({{ dbt.current_timestamp() }} as date) as today_date
),

sales as (
    select
        sum(sales_days.total_revenue) as revenue,
        sum(sales_days.order_count) as orders,
        sum(sales_days.revenue_order_count) as revenue_orders
    from {{ ref('daily_sales_by_region') }} as sales_days
    cross join today
    where sales_days.order_date > {{ dbt.dateadd('day', -window, 'today.today_date') }}
),

customers as (
    select count(distinct orders.customer_id) as active_customers
    from {{ ref('orders_enriched') }} as orders
    cross join today
    where
        not orders.is_deleted
        and orders.order_date > {{ dbt.dateadd('day', -window, 'today.today_date') }}
),

funnel as (
    select
        sum(funnel_days.purchase_sessions) as purchases,
        sum(funnel_days.product_view_sessions) as product_views
    from {{ ref('funnel_daily') }} as funnel_days
    cross join today
    where
        funnel_days.event_date
        > {{ dbt.dateadd('day', -conversion_window, 'today.today_date') }}
),

metrics as (
    select
        'revenue_{{ window }}d' as metric_name,
        cast(coalesce(revenue, 0) as double) as metric_value,
        {{ window }} as window_days
    from sales
    union all
    select
        'orders_{{ window }}d' as metric_name,
        cast(coalesce(orders, 0) as double) as metric_value,
        {{ window }} as window_days
    from sales
    union all
    select
        'avg_order_value_{{ window }}d' as metric_name,
        coalesce(cast(revenue as double) / nullif(revenue_orders, 0), 0) as metric_value,
        {{ window }} as window_days
    from sales
    union all
    select
        'active_customers_{{ window }}d' as metric_name,
        cast(active_customers as double) as metric_value,
        {{ window }} as window_days
    from customers
    union all
    select
        'conversion_rate_{{ conversion_window }}d' as metric_name,
        coalesce(cast(purchases as double) / nullif(product_views, 0), 0) as metric_value,
        {{ conversion_window }} as window_days
    from funnel
)

select
    metric_name,
    metric_value,
    window_days,
    {{ run_timestamp() }} as _processed_at
from metrics
