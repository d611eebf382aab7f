{{
    config(
        unique_key='activity_date',
        partitioned_by=iceberg_partitioning(['day(activity_date)']),
    )
}}

{#- A changed day moves the weekly and monthly counts of the 30 days after it.
    Activity more than 30 days before the first changed day counts for no day
    this run writes, so only the days after that are read. -#}
{%- set changed_days = changed_event_days() %}
{%- set first_changed = changed_days | min if changed_days else none %}
{%- if changed_days is none %}
    {%- set days_to_read = '1 = 1' %}
{%- elif first_changed is none %}
    {%- set days_to_read = '1 = 0' %}
{%- else %}
    {%- set read_after = (modules.datetime.date.fromisoformat(first_changed)
        - modules.datetime.timedelta(days=30)).isoformat() %}
    {%- set days_to_read = "event_date > date '" ~ read_after ~ "'" %}
{%- endif %}

with user_days as (
    select distinct
        event_date as activity_date,
        user_id
    from {{ ref('events') }}
    where {{ days_to_read }}
),

daily as (
    select
        activity_date,
        count(*) as daily_active_users
    from user_days
    group by activity_date
),

-- From each day a user was active, they count towards the weekly (monthly)
-- figure until their next active day or for 7 (30) days, whichever ends
-- first. One user's spans never overlap, so a running sum of the spans'
-- starts and ends counts each user once per day: one pass over user_days
-- instead of a 30-day self-join.
spans as (
    select
        activity_date,
        lead(activity_date) over (partition by user_id order by activity_date) as next_active_date
    from user_days
),

span_edges as (
    select
        activity_date as edge_date,
        1 as weekly_change,
        1 as monthly_change
    from spans
    {%- for window, days in [('weekly', 7), ('monthly', 30)] %}
        union all
        select
            case
                when next_active_date < {{ dbt.dateadd('day', days, 'activity_date') }}
                    then next_active_date
                else {{ dbt.dateadd('day', days, 'activity_date') }}
            end as edge_date,
            {{ -1 if window == 'weekly' else 0 }} as weekly_change,
            {{ -1 if window == 'monthly' else 0 }} as monthly_change
        from spans
    {%- endfor %}
),

changes_per_day as (
    select
        cast(edge_date as date) as edge_date,
        sum(weekly_change) as weekly_change,
        sum(monthly_change) as monthly_change
    from span_edges
    group by cast(edge_date as date)
),

running as (
    select
        edge_date,
        sum(weekly_change) over (
            order by edge_date rows between unbounded preceding and current row
        ) as weekly_active_users,
        sum(monthly_change) over (
            order by edge_date rows between unbounded preceding and current row
        ) as monthly_active_users
    from changes_per_day
)

select
    daily.activity_date,
    cast(daily.daily_active_users as bigint) as daily_active_users,
    cast(running.weekly_active_users as bigint) as weekly_active_users,
    cast(running.monthly_active_users as bigint) as monthly_active_users,
    {{ run_timestamp() }} as _processed_at
from daily
inner join running on daily.activity_date = running.edge_date
{%- if first_changed is not none %}
    where daily.activity_date >= date '{{ first_changed }}'
{%- endif %}
