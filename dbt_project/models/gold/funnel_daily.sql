{{
    config(
        unique_key='event_date',
        partitioned_by=iceberg_partitioning(['day(event_date)']),
    )
}}

with events as (
    {{ events_on_changed_days() }}
),

-- Each step counts the sessions that reached it that day; the event_types
-- seed says which event type is which step.
steps as (
    select
        events.event_date,
        count(distinct case when event_types.funnel_step = 1 then events.session_id end)
            as product_view_sessions,
        count(distinct case when event_types.funnel_step = 2 then events.session_id end)
            as add_to_cart_sessions,
        count(distinct case when event_types.funnel_step = 3 then events.session_id end)
            as checkout_start_sessions,
        count(distinct case when event_types.funnel_step = 4 then events.session_id end)
            as purchase_sessions
    from events
    left join {{ ref('event_types') }} as event_types
        on events.event_type = event_types.event_type
    group by events.event_date
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
