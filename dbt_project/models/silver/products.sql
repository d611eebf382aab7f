{{
    config(
        unique_key='product_id',
        merge_update_condition=newer_version_condition(),
        update_condition=newer_version_condition(),
    )
}}

with latest as (
    {{ latest_changes('stg_products', 'product_id') }}
)

select
    product_id,
    product_name,
    category,
    price,
    stock,
    is_delete as is_deleted,
    case when is_delete then changed_at end as deleted_at,
    sequence_number,
    sequence_key,
    changed_at,
    {{ utc_timestamp('ingestion_time') }} as _ingested_at,
    {{ run_timestamp() }} as _processed_at
from latest
