{#- What every DynamoDB Streams change carries besides the item's attributes,
    the same for every table's staging model (which selects source_file from
    the Bronze relation itself). -#}
{% macro change_metadata_columns() -%}
    event_name,
    is_delete,
    sequence_number,
    {{ sequence_key('sequence_number') }} as sequence_key,
    {{ utc_timestamp('approximate_creation_time') }} as changed_at,
    -- as landed, not cast: incremental filters on it reach the Parquet statistics
    ingestion_time,
    cast(dt as date) as dt,
    source_file
{%- endmacro %}
