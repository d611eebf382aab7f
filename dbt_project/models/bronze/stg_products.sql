-- depends_on: {{ source('bronze', 'products') }}
with changes as (
    select
        *,
        coalesce(new_image, old_image) as item,
        {{ source_file_column() }} as source_file
    from {{ bronze_relation('products') }}
)

select
    {{ dynamodb_text('keys', 'products', 'product_id') }} as product_id,
    {{ dynamodb_text('item', 'products', 'product_name') }} as product_name,
    {{ dynamodb_text('item', 'products', 'category') }} as category,
    cast({{ dynamodb_text('item', 'products', 'price') }} as decimal(18, 2)) as price,
    cast({{ dynamodb_text('item', 'products', 'stock') }} as integer) as stock,
    {{ change_metadata_columns() }}
from changes
