-- A full audit of the whole table: a scheduled run excludes tag:full_audit.
{{ config(tags=['full_audit']) }}

-- Gold revenue per day equals the amounts of Silver's live orders that day whose
-- status counts as revenue in the order_statuses seed (read here from Silver
-- orders and the seed, not from orders_enriched, which Gold sums); Gold's order
-- count equals all of that day's live orders.
with gold as (
    select
        order_date,
        sum(total_revenue) as revenue,
        sum(order_count) as orders,
        sum(revenue_order_count) as revenue_orders
    from {{ ref('daily_sales_by_region') }}
    group by order_date
),

revenue_statuses as (
    select status
    from {{ ref('order_statuses') }}
    where counts_as_revenue
),

silver as (
    select
        orders.order_date,
        coalesce(
            sum(case when revenue_statuses.status is not null then orders.amount end), 0
        ) as revenue,
        count(*) as orders,
        count(revenue_statuses.status) as revenue_orders
    from {{ ref('orders') }} as orders
    left join revenue_statuses on orders.status = revenue_statuses.status
    where not orders.is_deleted
    group by orders.order_date
)

select
    coalesce(gold.order_date, silver.order_date) as order_date,
    gold.revenue as gold_revenue,
    silver.revenue as silver_revenue,
    gold.orders as gold_orders,
    silver.orders as silver_orders,
    gold.revenue_orders as gold_revenue_orders,
    silver.revenue_orders as silver_revenue_orders
from gold
full outer join silver on gold.order_date = silver.order_date
where gold.revenue is null
    or silver.revenue is null
    or gold.revenue <> silver.revenue
    or gold.orders <> silver.orders
    or gold.revenue_orders <> silver.revenue_orders
