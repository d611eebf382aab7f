-- depends_on: {{ source('bronze', 'products') }}
with changes as (
    select
        *,
        coalesce(new_image, old_image) as item
    from {{ bronze_relation('products') }}
)

select
    {{ json_text('keys', '$.product_id') }} as product_id,
    {{ json_text('item', '$.name') }} as product_name,
    {{ json_text('item', '$.category') }} as category,
    cast({{ json_text('item', '$.price') }} as decimal(18, 2)) as price,
    cast({{ json_text('item', '$.stock') }} as integer) as stock,
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
