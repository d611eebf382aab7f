{#- Rows are written only when one of these values changed (one condition,
    under the name each adapter reads). -#}
{%- set write_when_changed = changed_values_condition([
    'model_name',
    'tested_column',
    'failing_rows',
]) %}

{{
    config(
        unique_key=['test_name', 'bronze_source'],
        merge_update_condition=write_when_changed,
        update_condition=write_when_changed,
        merge_insert_condition=merge_source_alias() ~ '.failing_rows is not null',
        insert_condition=merge_source_alias() ~ '.failing_rows is not null',
        delete_condition=merge_source_alias() ~ '.failing_rows is null',
        post_hook="{{ delete_retired_checks() }}",
    )
}}

{#- One row per plausibility test (models/_test_policy.md) and Bronze source
    upstream of the model it tests: how many rows fail it now, over the whole
    current tables. The tests come from the graph (macros/data_quality.sql), so
    a test added to the YAML with the plausibility tag is counted here with no
    edit.
    Small, so recomputed whole; rows are written only when a count changed.
    It runs after every model and seed a plausibility test may read: each
    Silver and Gold model and seed of the application (macros/streamlake_application.sql). -#}

{%- set application = streamlake_application() %}
{%- for model in application.silver_models + application.gold_models + application.seeds %}
    {%- do ref(model) %}
{%- endfor %}

{%- set checks = plausibility_checks() if execute else [] %}

with checks as (
    {%- for check in checks %}
        {%- for bronze_source in check.bronze_sources %}
            select
                cast('{{ check.test_name }}' as varchar) as test_name,
                cast('{{ check.model_name }}' as varchar) as model_name,
                {%- set column = "'" ~ check.column_name ~ "'" if check.column_name else 'null' %}
                cast({{ column }} as varchar) as tested_column,
                cast('{{ bronze_source }}' as varchar) as bronze_source,
                cast({{ check.fail_calc }} as bigint) as failing_rows
            from (
                -- the test's own SQL, as dbt's and the project's test macros write it
                -- noqa: disable=references.qualification
                {{ check.sql }}
                -- noqa: enable=all
            ) as failures
            union all
        {%- endfor %}
    {%- endfor %}
    -- keeps the union well formed (and the columns typed) with no tests at all
    select
        cast(null as varchar) as test_name,
        cast(null as varchar) as model_name,
        cast(null as varchar) as tested_column,
        cast(null as varchar) as bronze_source,
        cast(null as bigint) as failing_rows
    where 1 = 0
){% if is_incremental() %},

-- Rows of tests no longer in the project (or no longer plausibility tests): a
-- null count marks them for deletion.
retired as (
    select
        previous.test_name,
        previous.model_name,
        previous.tested_column,
        previous.bronze_source,
        cast(null as bigint) as failing_rows
    from {{ this }} as previous
    left join checks
        on previous.test_name = checks.test_name
            and previous.bronze_source = checks.bronze_source
    where checks.test_name is null
){% endif %}

select
    test_name,
    model_name,
    tested_column,
    bronze_source,
    failing_rows,
    {{ run_timestamp() }} as _processed_at
from checks
{% if is_incremental() %}
    union all
    select
        test_name,
        model_name,
        tested_column,
        bronze_source,
        failing_rows,
        {{ run_timestamp() }} as _processed_at
    from retired
{% endif %}
