{{
    config(
        unique_key=['event_hour', 'event_type'],
        partitioned_by=iceberg_partitioning(['day(event_hour)']),
    )
}}

with events as (
    {{ events_on_changed_days() }}
)

select
    date_trunc('hour', event_time) as event_hour,
    event_type,
    count(*) as event_count,
    count(distinct user_id) as unique_users,
    {{ run_timestamp() }} as _processed_at
from events
group by date_trunc('hour', event_time), event_type
