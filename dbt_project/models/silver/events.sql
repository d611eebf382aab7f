{{
    config(
        unique_key='event_id',
        merge_exclude_columns=['_first_processed_at'],
        merge_update_condition=earlier_delivery_condition(),
        update_condition=earlier_delivery_condition(),
        partitioned_by=iceberg_partitioning(['day(event_date)']),
        post_hook="{{ remember_changed_event_days() }}",
    )
}}

{%- set landed_after = bronze_watermark() %}
{%- set new_rows %}
    select *
    from {{ ref('stg_events') }}
    where {{ dt_after_watermark(landed_after) }}
        and {{ after_watermark('ingestion_time', landed_after) }}
{%- endset %}
{%- set on_merged_days = bound_merge_to_days(
    new_rows, 'cast(event_time as date)', 'ingestion_time', 'event_date') %}

with landed as (
    {{ new_rows }}
        and {{ on_merged_days }}
),

-- A producer retry or a redelivered batch repeats an event: keep its first delivery.
ranked as (
    select
        *,
        row_number() over (partition by event_id order by sequence_key) as delivery_rank
    from landed
)

select
    event_id,
    event_type,
    user_id,
    session_id,
    event_time,
    cast(event_time as date) as event_date,
    arrival_time,
    properties,
    geo_country,
    geo_region,
    geo_city,
    device_type,
    device_os,
    device_browser,
    sequence_number,
    sequence_key,
    {{ utc_timestamp('ingestion_time') }} as _ingested_at,
    {{ run_timestamp() }} as _processed_at,
    -- kept when an earlier delivery replaces the row: Gold can tell the events
    -- it has not counted yet from the ones it has
    {{ run_timestamp() }} as _first_processed_at
from ranked
where delivery_rank = 1
