{{
    config(
        unique_key=['event_date', 'event_type'],
        partitioned_by=iceberg_partitioning(['day(event_date)']),
    )
}}

with events as (
    {{ events_on_changed_days() }}
)

select
    event_date,
    event_type,
    count(*) as event_count,
    count(distinct user_id) as unique_users,
    {{ run_timestamp() }} as _processed_at
from events
group by event_date, event_type
