{#- Rows are written only when one of these values changed (one condition,
    under the name each adapter reads). -#}
{%- set write_when_changed = changed_values_condition([
    'rows_landed',
    'files_landed',
    'records_quarantined',
    'newest_ingestion_time',
    'silver_rows',
    'newest_silver_write',
    'gold_rows',
    'plausibility_warnings',
]) %}

{{
    config(
        unique_key='bronze_source',
        merge_update_condition=write_when_changed,
        update_condition=write_when_changed,
    )
}}

{#- One row per Bronze source: what landed, what was quarantined, how fresh it
    is, what Silver and Gold hold from it, and how many rows fail its models'
    plausibility tests (data_quality). Small, so recomputed whole; rows are
    written only when a figure changed. -#}

{%- set staged = {'events': 'stg_events', 'customers': 'stg_customers',
                  'products': 'stg_products', 'orders': 'stg_orders'} %}
{%- set gold_models = [
    ('events', 'events_hourly'), ('events', 'top_events'), ('events', 'geo_distribution'),
    ('events', 'funnel_daily'), ('events', 'user_activity'), ('events', 'active_users'),
    ('orders', 'daily_sales_by_region'), ('orders', 'product_performance'),
] %}

with landed as (
    {{ bronze_landed(staged) }}
),

quarantined as (
    select
        source as bronze_source,
        count(*) as records_quarantined
    from {{ quarantine_relation() }}
    group by source
),

silver as (
    {% for bronze_source in staged %}
        select
            '{{ bronze_source }}' as bronze_source,
            count(*) as silver_rows,
            max(_processed_at) as newest_silver_write
        from {{ ref(bronze_source) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

gold_tables as (
    {% for bronze_source, model in gold_models %}
        select
            '{{ bronze_source }}' as bronze_source,
            count(*) as table_rows
        from {{ ref(model) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

gold as (
    select
        bronze_source,
        cast(sum(table_rows) as bigint) as gold_rows
    from gold_tables
    group by bronze_source
),

warnings as (
    select
        bronze_source,
        cast(sum(failing_rows) as bigint) as plausibility_warnings
    from {{ ref('data_quality') }}
    group by bronze_source
)

select
    landed.bronze_source,
    landed.rows_landed,
    landed.files_landed,
    landed.newest_ingestion_time,
    coalesce(quarantined.records_quarantined, 0) as records_quarantined,
    coalesce(silver.silver_rows, 0) as silver_rows,
    silver.newest_silver_write,
    coalesce(gold.gold_rows, 0) as gold_rows,
    coalesce(warnings.plausibility_warnings, 0) as plausibility_warnings,
    {{ run_timestamp() }} as _processed_at
from landed
left join quarantined on landed.bronze_source = quarantined.bronze_source
left join silver on landed.bronze_source = silver.bronze_source
left join gold on landed.bronze_source = gold.bronze_source
left join warnings on landed.bronze_source = warnings.bronze_source
