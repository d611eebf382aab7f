-- depends_on: {{ source('bronze', 'products') }}
with changes as (
    select
        *,
        coalesce(new_image, old_image) as item,
        {{ source_file_column() }} as source_file
    from {{ bronze_relation('products') }}
)

select
    {{ json_text('keys', '$.product_id') }} as product_id,
    {{ json_text('item', '$.name') }} as product_name,
    {{ json_text('item', '$.category') }} as category,
    cast({{ json_text('item', '$.price') }} as decimal(18, 2)) as price,
    cast({{ json_text('item', '$.stock') }} as integer) as stock,
    {{ change_metadata_columns() }}
from changes
