{{ config(unique_key='user_id') }}

{%- set processed_after = watermark('_processed_at') %}

with changed_users as (
    select distinct user_id
    from {{ ref('events') }}
    where {{ after_watermark('_processed_at', processed_after) }}
),

-- One row per user and active hour first: the per-user figures then count
-- rows instead of distinct values over every event.
user_hours as (
    select
        events.user_id,
        date_trunc('hour', events.event_time) as activity_hour,
        count(*) as event_count,
        min(events.event_time) as first_seen,
        max(events.event_time) as last_seen
    from {{ ref('events') }} as events
    inner join changed_users on events.user_id = changed_users.user_id
    group by events.user_id, date_trunc('hour', events.event_time)
)

select
    user_id,
    cast(sum(event_count) as bigint) as event_count,
    count(activity_hour) as active_hours,
    cast(sum(event_count) as double) / count(activity_hour) as events_per_active_hour,
    count(distinct cast(activity_hour as date)) as active_days,
    min(first_seen) as first_seen,
    max(last_seen) as last_seen,
    {{ run_timestamp() }} as _processed_at
from user_hours
group by user_id
