-- A full audit of the whole table: a scheduled run excludes tag:full_audit.
{{ config(tags=['full_audit']) }}

-- Gold revenue per day equals the revenue of Silver's live orders that day.
with gold as (
    select
        order_date,
        sum(total_revenue) as revenue,
        sum(order_count) as orders
    from {{ ref('daily_sales_by_region') }}
    group by order_date
),

silver as (
    select
        order_date,
        sum(amount) as revenue,
        count(*) as orders
    from {{ ref('orders') }}
    where not is_deleted
    group by order_date
)

select
    coalesce(gold.order_date, silver.order_date) as order_date,
    gold.revenue as gold_revenue,
    silver.revenue as silver_revenue,
    gold.orders as gold_orders,
    silver.orders as silver_orders
from gold
full outer join silver on gold.order_date = silver.order_date
where gold.revenue is null
    or silver.revenue is null
    or gold.revenue <> silver.revenue
    or gold.orders <> silver.orders
