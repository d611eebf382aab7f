{#- What every DynamoDB Streams change carries besides the item's attributes,
    the same for every entity's staging model (which selects source_file from
    the Bronze relation itself). A REMOVE is an application's delete or an
    expiry by the table's time to live: DynamoDB Streams marks the latter with
    the service as its user identity (principalId dynamodb.amazonaws.com). -#}
{% macro change_metadata_columns() -%}
    event_name,
    is_delete,
    coalesce(is_delete and user_identity = 'dynamodb.amazonaws.com', false) as is_expired,
    sequence_number,
    {{ sequence_key('sequence_number') }} as sequence_key,
    {{ utc_timestamp('approximate_creation_time') }} as changed_at,
    -- as landed, not cast: incremental filters on it reach the Parquet statistics
    ingestion_time,
    cast(dt as date) as dt,
    source_file
{%- endmacro %}
