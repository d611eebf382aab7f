-- depends_on: {{ source('bronze', 'customers') }}
with changes as (
    select
        *,
        -- a delete carries the item's last state in its old image
        coalesce(new_image, old_image) as item,
        {{ source_file_column() }} as source_file
    from {{ bronze_relation('customers') }}
)

select
    {{ json_text('keys', '$.customer_id') }} as customer_id,
    {{ json_text('item', '$.name') }} as customer_name,
    {{ json_text('item', '$.email') }} as email,
    {{ json_text('item', '$.region') }} as region,
    {{ iso_timestamp(json_text('item', '$.created_at')) }} as created_at,
    {{ change_metadata_columns() }}
from changes
