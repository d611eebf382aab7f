-- depends_on: {{ source('bronze', 'customers') }}
with changes as (
    select
        *,
        -- a delete carries the item's last state in its old image
        coalesce(new_image, old_image) as item
    from {{ bronze_relation('customers') }}
)

select
    {{ json_text('keys', '$.customer_id') }} as customer_id,
    {{ json_text('item', '$.name') }} as customer_name,
    {{ json_text('item', '$.email') }} as email,
    {{ json_text('item', '$.region') }} as region,
    {{ iso_timestamp(json_text('item', '$.created_at')) }} as created_at,
    event_name,
    is_delete,
    sequence_number,
    {{ sequence_key('sequence_number') }} as sequence_key,
    {{ utc_timestamp('approximate_creation_time') }} as changed_at,
    -- as landed, not cast: incremental filters on it reach the Parquet statistics
    ingestion_time,
    cast(dt as date) as dt,
    {{ source_file_column() }} as source_file
from changes
