-- depends_on: {{ source('bronze', 'orders') }}
with changes as (
    select
        *,
        coalesce(new_image, old_image) as item,
        {{ source_file_column() }} as source_file
    from {{ bronze_relation('orders') }}
)

select
    {{ dynamodb_text('keys', 'orders', 'order_id') }} as order_id,
    {{ dynamodb_text('item', 'orders', 'customer_id') }} as customer_id,
    {{ dynamodb_text('item', 'orders', 'product_id') }} as product_id,
    cast({{ dynamodb_text('item', 'orders', 'quantity') }} as integer) as quantity,
    cast({{ dynamodb_text('item', 'orders', 'amount') }} as decimal(18, 2)) as amount,
    {{ dynamodb_text('item', 'orders', 'status') }} as status,
    {{ iso_timestamp(dynamodb_text('item', 'orders', 'created_at')) }} as created_at,
    {{ iso_timestamp(dynamodb_text('item', 'orders', 'updated_at')) }} as updated_at,
    {{ change_metadata_columns() }}
from changes
