{{ config(unique_key='user_id') }}

{#- A user's figures cover all of their events, but a run reads only the events
    new to Silver since this model last ran (their first write, which an
    earlier delivery replacing the row keeps) and adds them to the user's row.
    An hour or a day is new to a user when none of the user's earlier events
    fell in it, which needs the earlier events of the new events' days alone.
    Reading every event of each user with a new one grew with the history. -#}
{%- set processed_after = watermark('_processed_at') %}
{%- set new_event_days = event_days_after(processed_after, '_first_processed_at') %}

with new_events as (
    select
        user_id,
        event_time,
        date_trunc('hour', event_time) as activity_hour,
        event_date
    from {{ ref('events') }}
    where {{ date_in('event_date', new_event_days) }}
        and {{ after_watermark('_first_processed_at', processed_after) }}
),

added_events as (
    select
        user_id,
        count(*) as event_count,
        min(event_time) as first_seen,
        max(event_time) as last_seen
    from new_events
    group by user_id
),

{% if is_incremental() %}
    -- Events counted before, on the new events' days (rows written before the
    -- column existed have no first write: counted before too).
    earlier_events as (
        select
            events.user_id,
            date_trunc('hour', events.event_time) as activity_hour,
            events.event_date
        from {{ ref('events') }} as events
        inner join added_events on events.user_id = added_events.user_id
        where {{ date_in('events.event_date', new_event_days) }}
            and (
                events._first_processed_at is null
                or not {{ after_watermark('events._first_processed_at', processed_after) }}
            )
    ),
{% endif %}

-- The hours and days of the new events that no earlier event of the user fell in.
new_hours as (
    select distinct
        user_id,
        activity_hour
    from new_events
    {% if is_incremental() %}
        except
        select
            user_id,
            activity_hour
        from earlier_events
    {% endif %}
),

new_days as (
    select distinct
        user_id,
        event_date
    from new_events
    {% if is_incremental() %}
        except
        select
            user_id,
            event_date
        from earlier_events
    {% endif %}
),

added_hours as (
    select
        user_id,
        count(*) as active_hours
    from new_hours
    group by user_id
),

added_days as (
    select
        user_id,
        count(*) as active_days
    from new_days
    group by user_id
),

totals as (
    select
        added_events.user_id,
        {% if is_incremental() %}
            coalesce(previous.event_count, 0) + added_events.event_count as event_count,
            coalesce(previous.active_hours, 0) + coalesce(added_hours.active_hours, 0)
                as active_hours,
            coalesce(previous.active_days, 0) + coalesce(added_days.active_days, 0)
                as active_days,
            least(coalesce(previous.first_seen, added_events.first_seen), added_events.first_seen)
                as first_seen,
            greatest(coalesce(previous.last_seen, added_events.last_seen), added_events.last_seen)
                as last_seen
        {% else %}
            added_events.event_count,
            coalesce(added_hours.active_hours, 0) as active_hours,
            coalesce(added_days.active_days, 0) as active_days,
            added_events.first_seen,
            added_events.last_seen
        {% endif %}
    from added_events
    left join added_hours on added_events.user_id = added_hours.user_id
    left join added_days on added_events.user_id = added_days.user_id
    {% if is_incremental() %}
        left join {{ this }} as previous on added_events.user_id = previous.user_id
    {% endif %}
)

select
    user_id,
    cast(event_count as bigint) as event_count,
    cast(active_hours as bigint) as active_hours,
    cast(event_count as double) / active_hours as events_per_active_hour,
    cast(active_days as bigint) as active_days,
    first_seen,
    last_seen,
    {{ run_timestamp() }} as _processed_at
from totals
