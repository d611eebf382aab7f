{{
    config(
        unique_key='event_date',
        merge_insert_condition=merge_source_alias() ~ '.product_view_sessions > 0',
        insert_condition=merge_source_alias() ~ '.product_view_sessions > 0',
        delete_condition=emptied_group_condition('product_view_sessions'),
        post_hook="{{ delete_emptied_groups('product_view_sessions') }}",
        partitioned_by=iceberg_partitioning(['day(event_date)']),
    )
}}

{#- The definition is in the model's description (_gold__models.yml). A funnel
    day's row depends only on the events from one window before the day to one
    window after it, so an event can change only the funnel days within
    `reach` days of its own, and recomputing those reads `reach` days further
    either side: the changed days +- 2 * reach, rendered as literal days so
    that Silver's day partitions are pruned. -#}
{%- set window_hours = funnel_window_hours() %}
{%- set reach = (window_hours + 23) // 24 %}
{%- set processed_after = watermark('_processed_at') %}
{%- set changed_days = event_days_after(processed_after) %}

with funnel_events as (
    select
        events.session_id,
        events.event_time,
        events._processed_at,
        event_types.funnel_step
    from {{ ref('events') }} as events
    inner join {{ ref('event_types') }} as event_types
        on events.event_type = event_types.event_type
    where
        {{ date_in('events.event_date', days_around(changed_days, 2 * reach)) }}
        and events.session_id is not null
        and event_types.funnel_step between 1 and 4
),

-- Each product view with the session's product view before it (ties: the
-- later of two views at the same moment has the other as its previous one).
product_views as (
    select
        session_id,
        event_time,
        lag(event_time) over (partition by session_id order by event_time) as previous_view_at
    from funnel_events
    where funnel_step = 1
),

-- A session enters the funnel at a product view that follows none of its
-- product views within the window.
entries as (
    select
        session_id,
        event_time as entered_at,
        cast(event_time as date) as funnel_date
    from product_views
    where
        previous_view_at is null
        or event_time > {{ dbt.dateadd('hour', window_hours, 'previous_view_at') }}
),

-- The funnel events new to Silver since this model last ran (all of them on
-- a first build or a full refresh).
changed_events as (
    select
        session_id,
        event_time
    from funnel_events
    where {{ after_watermark('_processed_at', processed_after) }}
),

-- A changed event reaches the entries whose window holds it, and can make the
-- views in the window after it stop being entries (or itself become one): so
-- the funnel days to recompute are the days of the session's views within the
-- window either side of it, the days an entry left included.
recomputed_days as (
    select distinct cast(product_views.event_time as date) as funnel_date
    from product_views
    inner join changed_events
        on product_views.session_id = changed_events.session_id
            and product_views.event_time
            between {{ dbt.dateadd('hour', -window_hours, 'changed_events.event_time') }}
            and {{ dbt.dateadd('hour', window_hours, 'changed_events.event_time') }}
),

recomputed_entries as (
    select
        entries.session_id,
        entries.entered_at,
        entries.funnel_date
    from entries
    inner join recomputed_days
        on entries.funnel_date = recomputed_days.funnel_date
),

-- Each entry's later steps: at or after the entry, within the window.
entry_steps as (
    select
        recomputed_entries.session_id,
        recomputed_entries.entered_at,
        funnel_events.funnel_step,
        funnel_events.event_time
    from recomputed_entries
    inner join funnel_events
        on recomputed_entries.session_id = funnel_events.session_id
            and funnel_events.funnel_step > 1
            and funnel_events.event_time
            between recomputed_entries.entered_at
            and {{ dbt.dateadd('hour', window_hours, 'recomputed_entries.entered_at') }}
),

-- Step 2 is reached at its earliest event in the window; each later step at
-- its earliest event at or after the step before it was reached (the earliest
-- leaves the most room for the steps after it).
reached_step_2 as (
    select
        session_id,
        entered_at,
        min(case when funnel_step = 2 then event_time end) as reached_at
    from entry_steps
    group by session_id, entered_at
),

reached_step_3 as (
    select
        entry_steps.session_id,
        entry_steps.entered_at,
        min(
            case
                when
                    entry_steps.funnel_step = 3
                    and entry_steps.event_time >= reached_step_2.reached_at
                    then entry_steps.event_time
            end
        ) as reached_at
    from entry_steps
    inner join reached_step_2
        on entry_steps.session_id = reached_step_2.session_id
            and entry_steps.entered_at = reached_step_2.entered_at
    group by entry_steps.session_id, entry_steps.entered_at
),

reached_step_4 as (
    select
        entry_steps.session_id,
        entry_steps.entered_at,
        min(
            case
                when
                    entry_steps.funnel_step = 4
                    and entry_steps.event_time >= reached_step_3.reached_at
                    then entry_steps.event_time
            end
        ) as reached_at
    from entry_steps
    inner join reached_step_3
        on entry_steps.session_id = reached_step_3.session_id
            and entry_steps.entered_at = reached_step_3.entered_at
    group by entry_steps.session_id, entry_steps.entered_at
),

funnel_sessions as (
    select
        recomputed_entries.session_id,
        recomputed_entries.funnel_date,
        -- the session, where the entry reached the step
        case when reached_step_2.reached_at is not null then recomputed_entries.session_id end
            as add_to_cart_session,
        case when reached_step_3.reached_at is not null then recomputed_entries.session_id end
            as checkout_start_session,
        case when reached_step_4.reached_at is not null then recomputed_entries.session_id end
            as purchase_session
    from recomputed_entries
    left join reached_step_2
        on recomputed_entries.session_id = reached_step_2.session_id
            and recomputed_entries.entered_at = reached_step_2.entered_at
    left join reached_step_3
        on recomputed_entries.session_id = reached_step_3.session_id
            and recomputed_entries.entered_at = reached_step_3.entered_at
    left join reached_step_4
        on recomputed_entries.session_id = reached_step_4.session_id
            and recomputed_entries.entered_at = reached_step_4.entered_at
),

-- Every recomputed day, those left without entries too: an incremental run
-- hands them to the merge, which removes their rows; a full build has none to
-- remove and leaves them out.
steps as (
    select
        recomputed_days.funnel_date as event_date,
        count(distinct funnel_sessions.session_id) as product_view_sessions,
        count(distinct funnel_sessions.add_to_cart_session) as add_to_cart_sessions,
        count(distinct funnel_sessions.checkout_start_session) as checkout_start_sessions,
        count(distinct funnel_sessions.purchase_session) as purchase_sessions
    from recomputed_days
    left join funnel_sessions
        on recomputed_days.funnel_date = funnel_sessions.funnel_date
    group by recomputed_days.funnel_date
)

select
    event_date,
    product_view_sessions,
    add_to_cart_sessions,
    checkout_start_sessions,
    purchase_sessions,
    -- rounded: a ratio's last bits depend on how the engine evaluates it
    round(cast(add_to_cart_sessions as double) / nullif(product_view_sessions, 0), 6)
        as view_to_cart_rate,
    round(cast(checkout_start_sessions as double) / nullif(add_to_cart_sessions, 0), 6)
        as cart_to_checkout_rate,
    round(cast(purchase_sessions as double) / nullif(checkout_start_sessions, 0), 6)
        as checkout_to_purchase_rate,
    round(cast(purchase_sessions as double) / nullif(product_view_sessions, 0), 6)
        as overall_conversion_rate,
    {{ run_timestamp() }} as _processed_at
from steps
where {{ '1 = 1' if processed_after is not none else 'product_view_sessions > 0' }}
