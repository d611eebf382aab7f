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
    {{ dynamodb_text('keys', 'customers', 'customer_id') }} as customer_id,
    {{ dynamodb_text('item', 'customers', 'customer_name') }} as customer_name,
    {{ dynamodb_text('item', 'customers', 'email') }} as email,
    {{ dynamodb_text('item', 'customers', 'region') }} as region,
    {{ iso_timestamp(dynamodb_text('item', 'customers', 'created_at')) }} as created_at,
    {{ change_metadata_columns() }}
from changes
