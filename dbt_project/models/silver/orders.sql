{{
    config(
        unique_key='order_id',
        merge_update_condition=newer_version_condition(),
        update_condition=newer_version_condition(),
        partitioned_by=iceberg_partitioning(['day(order_date)']),
    )
}}

with latest as (
    {{ latest_changes('stg_orders', 'order_id') }}
)

select
    order_id,
    customer_id,
    product_id,
    quantity,
    amount,
    status,
    created_at,
    cast(created_at as date) as order_date,
    updated_at,
    is_delete as is_deleted,
    case when is_delete then changed_at end as deleted_at,
    sequence_number,
    sequence_key,
    changed_at,
    {{ utc_timestamp('ingestion_time') }} as _ingested_at,
    {{ run_timestamp() }} as _processed_at
from latest
