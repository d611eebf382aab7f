{{
    config(
        unique_key='activity_date',
        partitioned_by=iceberg_partitioning(['day(activity_date)']),
    )
}}

{#- A changed day moves the weekly and monthly counts of the 30 days after it. -#}
{%- set processed_after = watermark('_processed_at') %}

with user_days as (
    select distinct
        event_date as activity_date,
        user_id
    from {{ ref('events') }}
),

first_changed as (
    select min(event_date) as first_date
    from {{ ref('events') }}
    where {{ after_watermark('_processed_at', processed_after) }}
),

target_days as (
    select distinct user_days.activity_date
    from user_days
    cross join first_changed
    where user_days.activity_date >= first_changed.first_date
)

select
    target_days.activity_date,
    count(distinct case when user_days.activity_date = target_days.activity_date
            then user_days.user_id
    end) as daily_active_users,
    count(distinct case when user_days.activity_date
            > {{ dbt.dateadd('day', -7, 'target_days.activity_date') }}
            then user_days.user_id
    end) as weekly_active_users,
    count(distinct user_days.user_id) as monthly_active_users,
    {{ run_timestamp() }} as _processed_at
from target_days
inner join user_days
    on target_days.activity_date >= user_days.activity_date
        and user_days.activity_date > {{ dbt.dateadd('day', -30, 'target_days.activity_date') }}
group by target_days.activity_date
