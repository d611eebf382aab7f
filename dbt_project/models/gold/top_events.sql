{{ config(unique_key=['event_date', 'event_type']) }}

{%- set processed_after = watermark('_processed_at') %}

with changed_dates as (
    {{ changed_event_dates(processed_after) }}
),

events as (
    select events.*
    from {{ ref('events') }} as events
    inner join changed_dates on events.event_date = changed_dates.event_date
)

select
    event_date,
    event_type,
    count(*) as event_count,
    count(distinct user_id) as unique_users,
    {{ run_timestamp() }} as _processed_at
from events
group by event_date, event_type
