-- A full audit of the whole table: a scheduled run excludes tag:full_audit.
{{ config(tags=['full_audit']) }}

-- A deleted order counts nowhere in Gold: each group's count is its live orders,
-- and a group of deleted orders only has no row.
with live as (
    select
        order_date,
        region,
        count(*) as live_orders
    from {{ ref('orders_enriched') }}
    where not is_deleted
    group by order_date, region
)

select
    gold.order_date,
    gold.region,
    gold.order_count,
    live.live_orders
from {{ ref('daily_sales_by_region') }} as gold
left join live
    on gold.order_date = live.order_date
        and gold.region = live.region
where live.live_orders is null or gold.order_count <> live.live_orders
