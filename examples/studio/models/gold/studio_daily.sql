{{
    config(
        unique_key='activity_date',
    )
}}

{#- One row per day: the classes members booked and attended, the sessions
    they started (expired ones too: a session the table's time to live removed
    still happened) and how active they were in the app. Small, so recomputed
    whole on every run; a day that no longer has any of them keeps a row of
    zeros. -#}

with bookings as (
    select
        class_date as activity_date,
        cast(sum(case when status <> 'cancelled' then 1 else 0 end) as bigint) as classes_booked,
        cast(sum(case when status = 'attended' then 1 else 0 end) as bigint) as classes_attended,
        sum(case when status <> 'cancelled' then price else 0 end) as booking_revenue
    from {{ ref('bookings') }}
    where not is_deleted
    group by class_date
),

sessions as (
    select
        cast(started_at as date) as activity_date,
        count(*) as sessions_started,
        cast(sum(case when is_expired then 1 else 0 end) as bigint) as sessions_expired
    from {{ ref('sessions') }}
    where not is_deleted or is_expired
    group by cast(started_at as date)
),

activity as (
    select
        event_date as activity_date,
        count(*) as app_events,
        count(distinct user_id) as active_members
    from {{ ref('app_activity') }}
    group by event_date
),

days as (
    select activity_date from bookings
    union
    select activity_date from sessions
    union
    select activity_date from activity
    {% if is_incremental() %}
        union
        select activity_date from {{ this }}
    {% endif %}
)

select
    days.activity_date,
    coalesce(bookings.classes_booked, 0) as classes_booked,
    coalesce(bookings.classes_attended, 0) as classes_attended,
    cast(coalesce(bookings.booking_revenue, 0) as decimal(18, 2)) as booking_revenue,
    coalesce(sessions.sessions_started, 0) as sessions_started,
    coalesce(sessions.sessions_expired, 0) as sessions_expired,
    coalesce(activity.app_events, 0) as app_events,
    coalesce(activity.active_members, 0) as active_members,
    {{ run_timestamp() }} as _processed_at
from days
left join bookings on days.activity_date = bookings.activity_date
left join sessions on days.activity_date = sessions.activity_date
left join activity on days.activity_date = activity.activity_date
