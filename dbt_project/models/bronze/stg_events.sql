-- depends_on: {{ source('bronze', 'events') }}
with landed as (
    select
        *,
        {{ source_file_column() }} as source_file
    from {{ bronze_relation('events') }}
)

select
    event_id,
    event_type,
    user_id,
    session_id,
    {{ utc_timestamp('event_time') }} as event_time,
    properties,
    geo_country,
    geo_region,
    geo_city,
    device_type,
    device_os,
    device_browser,
    stream,
    shard_id,
    sequence_number,
    {{ sequence_key('sequence_number') }} as sequence_key,
    {{ utc_timestamp('arrival_time') }} as arrival_time,
    -- as landed, not cast: incremental filters on it reach the Parquet statistics
    ingestion_time,
    cast(dt as date) as dt,
    source_file
from landed
