{{ config(unique_key='user_id') }}

{%- set processed_after = watermark('_processed_at') %}

with changed_users as (
    select distinct user_id
    from {{ ref('events') }}
    where {{ after_watermark('_processed_at', processed_after) }}
),

events as (
    select events.*
    from {{ ref('events') }} as events
    inner join changed_users on events.user_id = changed_users.user_id
)

select
    user_id,
    count(*) as event_count,
    count(distinct date_trunc('hour', event_time)) as active_hours,
    cast(count(*) as double) / count(distinct date_trunc('hour', event_time))
        as events_per_active_hour,
    count(distinct event_date) as active_days,
    min(event_time) as first_seen,
    max(event_time) as last_seen,
    {{ run_timestamp() }} as _processed_at
from events
group by user_id
