{{
    config(
        unique_key='source',
        merge_update_condition=changed_values_condition(
            ['rows_landed', 'files_landed', 'records_quarantined', 'newest_ingestion_time',
             'silver_rows', 'gold_rows']),
        update_condition=changed_values_condition(
            ['rows_landed', 'files_landed', 'records_quarantined', 'newest_ingestion_time',
             'silver_rows', 'gold_rows']),
    )
}}

{#- One row per Bronze source: what landed, what was quarantined, how fresh it
    is, and what Silver and Gold hold from it. Small, so recomputed whole; rows
    are written only when a figure changed. -#}

with landed as (
    select 'events' as source, count(*) as rows_landed,
        count(distinct source_file) as files_landed, max(ingestion_time) as newest_ingestion_time
    from {{ ref('stg_events') }}
    union all
    select 'customers', count(*), count(distinct source_file), max(ingestion_time)
    from {{ ref('stg_customers') }}
    union all
    select 'products', count(*), count(distinct source_file), max(ingestion_time)
    from {{ ref('stg_products') }}
    union all
    select 'orders', count(*), count(distinct source_file), max(ingestion_time)
    from {{ ref('stg_orders') }}
),

quarantined as (
    select source, count(*) as records_quarantined
    from {{ quarantine_relation() }}
    group by source
),

silver as (
    select 'events' as source, count(*) as silver_rows from {{ ref('events') }}
    union all
    select 'customers', count(*) from {{ ref('customers') }}
    union all
    select 'products', count(*) from {{ ref('products') }}
    union all
    select 'orders', count(*) from {{ ref('orders') }}
),

gold as (
    select 'events' as source, cast(sum(row_count) as bigint) as gold_rows
    from (
        select count(*) as row_count from {{ ref('events_hourly') }}
        union all
        select count(*) from {{ ref('top_events') }}
        union all
        select count(*) from {{ ref('geo_distribution') }}
        union all
        select count(*) from {{ ref('funnel_daily') }}
        union all
        select count(*) from {{ ref('user_activity') }}
    ) as event_models
    union all
    select 'orders', cast(sum(row_count) as bigint)
    from (
        select count(*) as row_count from {{ ref('daily_sales_by_region') }}
        union all
        select count(*) from {{ ref('product_performance') }}
    ) as order_models
)

select
    landed.source,
    landed.rows_landed,
    landed.files_landed,
    coalesce(quarantined.records_quarantined, 0) as records_quarantined,
    landed.newest_ingestion_time,
    coalesce(silver.silver_rows, 0) as silver_rows,
    coalesce(gold.gold_rows, 0) as gold_rows,
    {{ run_timestamp() }} as _processed_at
from landed
left join quarantined on landed.source = quarantined.source
left join silver on landed.source = silver.source
left join gold on landed.source = gold.source
