{{
    config(
        unique_key=['event_date', 'country', 'region'],
        partitioned_by=iceberg_partitioning(['day(event_date)']),
    )
}}

with events as (
    {{ events_on_changed_days() }}
)

select
    event_date,
    coalesce(geo_country, 'unknown') as country,
    coalesce(geo_region, 'unknown') as region,
    count(*) as event_count,
    count(distinct user_id) as unique_users,
    {{ run_timestamp() }} as _processed_at
from events
group by event_date, coalesce(geo_country, 'unknown'), coalesce(geo_region, 'unknown')
