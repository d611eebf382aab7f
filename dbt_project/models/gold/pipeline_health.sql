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
    'newest_gold_write',
    'plausibility_warnings',
]) %}

{{
    config(
        unique_key='bronze_source',
        merge_update_condition=write_when_changed,
        update_condition=write_when_changed,
    )
}}

{#- One row per Bronze source of the application: what landed, what was
    quarantined, how fresh it is, what Silver and Gold hold from it, and how
    many rows fail its models' plausibility tests (data_quality). The sources,
    their Silver models and every Gold model come from the application
    (macros/streamlake_application.sql, which `streamlake sources apply` writes);
    which Gold models a source feeds, from the graph. Small, so recomputed
    whole; rows are written only when a figure changed. -#}

{%- set application = streamlake_application() %}
{%- set staged = {} %}
{%- set silver_models = [] %}
{%- for source in application.sources %}
    {%- do staged.update({source.name: source.entities | map(attribute='staging') | list}) %}
    {%- for entity in source.entities %}
        {%- do silver_models.append((source.name, entity.silver)) %}
    {%- endfor %}
{%- endfor %}
{%- set gold_models = gold_models_by_source(application.gold_models) %}

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

silver_tables as (
    {% for bronze_source, model in silver_models %}
        select
            '{{ bronze_source }}' as bronze_source,
            count(*) as table_rows,
            max(_processed_at) as newest_write
        from {{ ref(model) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

silver as (
    select
        bronze_source,
        cast(sum(table_rows) as bigint) as silver_rows,
        max(newest_write) as newest_silver_write
    from silver_tables
    group by bronze_source
),

gold_tables as (
    {% for bronze_source, model, has_processed_at in gold_models %}
        select
            '{{ bronze_source }}' as bronze_source,
            count(*) as table_rows,
            {{ 'max(_processed_at)' if has_processed_at else 'cast(null as timestamp)' }}
                as newest_write
        from {{ ref(model) }}
        union all
    {% endfor %}
    -- keeps the union well formed with no Gold model at all
    select
        cast(null as varchar) as bronze_source,
        cast(0 as bigint) as table_rows,
        cast(null as timestamp) as newest_write
    where 1 = 0
),

gold as (
    select
        bronze_source,
        cast(sum(table_rows) as bigint) as gold_rows,
        max(newest_write) as newest_gold_write
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
    gold.newest_gold_write,
    coalesce(warnings.plausibility_warnings, 0) as plausibility_warnings,
    {{ run_timestamp() }} as _processed_at
from landed
left join quarantined on landed.bronze_source = quarantined.bronze_source
left join silver on landed.bronze_source = silver.bronze_source
left join gold on landed.bronze_source = gold.bronze_source
left join warnings on landed.bronze_source = warnings.bronze_source
