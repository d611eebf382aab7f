-- depends_on: {{ source('bronze', 'orders') }}
with changes as (
    select
        *,
        coalesce(new_image, old_image) as item,
        {{ source_file_column() }} as source_file
    from {{ bronze_relation('orders') }}
)

select
    {{ json_text('keys', '$.order_id') }} as order_id,
    {{ json_text('item', '$.customer_id') }} as customer_id,
    {{ json_text('item', '$.product_id') }} as product_id,
    cast({{ json_text('item', '$.quantity') }} as integer) as quantity,
    cast({{ json_text('item', '$.amount') }} as decimal(18, 2)) as amount,
    {{ json_text('item', '$.status') }} as status,
    {{ iso_timestamp(json_text('item', '$.created_at')) }} as created_at,
    {{ iso_timestamp(json_text('item', '$.updated_at')) }} as updated_at,
    {{ change_metadata_columns() }}
from changes
