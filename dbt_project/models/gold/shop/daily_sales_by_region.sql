{{
    config(
        unique_key=['order_date', 'region'],
        merge_insert_condition=merge_source_alias() ~ '.order_count > 0',
        insert_condition=merge_source_alias() ~ '.order_count > 0',
        delete_condition=emptied_group_condition('order_count'),
        post_hook="{{ delete_emptied_groups('order_count') }}",
        partitioned_by=iceberg_partitioning(['day(order_date)']),
    )
}}

{%- set processed_after = watermark('_processed_at') %}

with orders as (
    select * from {{ ref('orders_enriched') }}
),

-- The groups touched since the last run (every group on a first run): where
-- changed orders are now, and where they were before (a customer who moved
-- region takes orders along).
changed_groups as (
    select
        order_date,
        region
    from orders
    where {{ after_watermark('_processed_at', processed_after) }}
    union
    select
        previous_order_date as order_date,
        previous_region as region
    from orders
    where
        {{ after_watermark('_processed_at', processed_after) }}
        and previous_order_date is not null
),

live_orders as (
    select orders.*
    from orders
    inner join changed_groups
        on orders.order_date = changed_groups.order_date
            and orders.region = changed_groups.region
    where not orders.is_deleted
)

-- order_count counts every live order, whatever its status (a group lives while
-- it has one); revenue, and the average order value, only the orders whose
-- status counts as revenue (the order_statuses seed).
select
    changed_groups.order_date,
    changed_groups.region,
    count(live_orders.order_id) as order_count,
    count(case when live_orders.counts_as_revenue then live_orders.order_id end)
        as revenue_order_count,
    cast(
        coalesce(sum(case when live_orders.counts_as_revenue then live_orders.amount end), 0)
        as decimal(18, 2)
    ) as total_revenue,
    cast(
        coalesce(
            sum(case when live_orders.counts_as_revenue then live_orders.amount end)
            / nullif(
                count(case when live_orders.counts_as_revenue then live_orders.order_id end), 0
            ),
            0
        )
        as decimal(18, 2)
    ) as avg_order_value,
    count(distinct live_orders.customer_id) as unique_customers,
    {{ run_timestamp() }} as _processed_at
from changed_groups
left join live_orders
    on changed_groups.order_date = live_orders.order_date
        and changed_groups.region = live_orders.region
group by changed_groups.order_date, changed_groups.region
-- A build without a watermark (the first, a full refresh) writes the table
-- whole, and must write no emptied group: the MERGE's delete_condition, which
-- removes them on Athena, acts on incremental runs only.
having {{ '1 = 1' if processed_after is not none else 'count(live_orders.order_id) > 0' }}
