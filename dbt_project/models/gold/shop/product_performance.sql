{{
    config(
        unique_key='product_id',
        merge_insert_condition=merge_source_alias() ~ '.is_listed = 1',
        insert_condition=merge_source_alias() ~ '.is_listed = 1',
        delete_condition=emptied_group_condition('is_listed'),
        post_hook="{{ delete_emptied_groups('is_listed') }}",
    )
}}

{%- set processed_after = watermark('_processed_at') %}

with products as (
    select * from {{ ref('products') }}
),

orders as (
    select * from {{ ref('orders_enriched') }}
),

changed_products as (
    select product_id from products
    where {{ after_watermark('_processed_at', processed_after) }}
    union
    select product_id from orders
    where {{ after_watermark('_processed_at', processed_after) }}
),

sales as (
    select
        orders.product_id,
        sum(orders.quantity) as units_sold,
        sum(orders.amount) as revenue
    from orders
    inner join changed_products on orders.product_id = changed_products.product_id
    where not orders.is_deleted and orders.counts_as_revenue
    group by orders.product_id
)

select
    changed_products.product_id,
    products.product_name,
    products.category,
    cast(coalesce(sales.units_sold, 0) as bigint) as units_sold,
    cast(coalesce(sales.revenue, 0) as decimal(18, 2)) as revenue,
    products.stock as current_stock,
    case
        when products.stock <= 0 then 'out of stock'
        when products.stock <= {{ var('low_stock_threshold') }} then 'low'
        else 'ok'
    end as stock_status,
    case when products.product_id is not null and not products.is_deleted then 1 else 0 end
        as is_listed,
    {{ run_timestamp() }} as _processed_at
from changed_products
left join products on changed_products.product_id = products.product_id
left join sales on changed_products.product_id = sales.product_id
-- A build without a watermark (the first, a full refresh) writes the table
-- whole, and must write no unlisted product: the MERGE's delete_condition,
-- which removes them on Athena, acts on incremental runs only.
where
    {{ '1 = 1' if processed_after is not none
        else 'products.product_id is not null and not products.is_deleted' }}
