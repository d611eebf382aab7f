{{ config(unique_key=['event_hour', 'event_type']) }}

{%- set processed_after = watermark('_processed_at') %}

with events as (
    select events.*
    from {{ ref('events') }} as events
    inner join ({{ changed_event_dates(processed_after) }}) as changed
        on events.event_date = changed.event_date
)

select
    date_trunc('hour', event_time) as event_hour,
    event_type,
    count(*) as event_count,
    count(distinct user_id) as unique_users,
    {{ run_timestamp() }} as _processed_at
from events
group by date_trunc('hour', event_time), event_type
