{{
    config(
        unique_key='customer_id',
        merge_update_condition=newer_version_condition(),
        update_condition=newer_version_condition(),
    )
}}

with latest as (
    {{ latest_changes('stg_customers', 'customer_id') }}
)

select
    customer_id,
    customer_name,
    email,
    region,
    created_at,
    is_delete as is_deleted,
    case when is_delete then changed_at end as deleted_at,
    sequence_number,
    sequence_key,
    changed_at,
    {{ utc_timestamp('ingestion_time') }} as _ingested_at,
    {{ run_timestamp() }} as _processed_at
from latest
