{#- Incremental models on Athena: one MERGE straight from the model's query.

    dbt-athena's merge sends three statements per model and run: a CTAS of the
    new rows into a temporary table, the MERGE from it, and a `select '<result>'`
    as the model's main statement; a model with an enforced contract adds two
    schema probes (`select ... limit 0`). Athena bills each at least 10 MB and
    each takes a second or more, whatever it reads. Here the new rows are the
    MERGE's source query, and the columns come from the model's YAML and from
    Glue (free: no query), so an incremental run sends one statement per model.

    The YAML's column list is the model's output. A column the query returns but
    the YAML leaves out stops the model (declared_columns.sql): that costs one
    query that reads no rows, so it runs on a first build, a full refresh, and
    whenever the model's SQL file or declared columns changed since the table
    last recorded them (in the Glue table's parameters, free to read), not on
    every run. A declared column the table lacks
    (on_schema_change: append_new_columns), a first build, a full refresh and
    any configuration this path does not cover go to dbt-athena's own
    materialization, which adds the column and merges as before. -#}
{% materialization incremental, adapter='athena' -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set declared = model['columns'].values() | map(attribute='name') | list -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set target_columns = adapter.get_columns_in_relation(target_relation)
        if existing_relation is not none and existing_relation.is_table else [] -%}
    {%- set target_names = target_columns | map(attribute='name') | map('lower') | list -%}
    {%- set covered = declared | length > 0
        and declared | map('lower') | reject('in', target_names) | list | length == 0 -%}
    {%- if existing_relation is none
        or not existing_relation.is_table
        or should_full_refresh()
        or model.language != 'sql'
        or config.get('incremental_strategy') != 'merge'
        or config.get('table_type') != 'iceberg'
        or not config.get('unique_key')
        or config.get('force_batch')
        or config.get('lf_tags_config') or config.get('lf_grants')
        or (config.get('on_schema_change') or 'ignore') not in ('ignore', 'append_new_columns')
        or not covered -%}
        {%- if model.language == 'sql' -%}
            {%- do assert_declared_columns(query_column_names()) -%}
        {%- endif -%}
        {%- set result = dbt.materialization_incremental_athena() -%}
        {%- do record_declared_columns(this.incorporate(type='table')) -%}
        {%- do run_test_batch() -%}
        {{ return(result) }}
    {%- endif -%}

    {%- if recorded_columns_checksum(target_relation) != declared_columns_checksum() -%}
        {%- do assert_declared_columns(query_column_names()) -%}
        {%- set record_after = true -%}
    {%- endif -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- call statement('main') -%}
        {{ merge_from_query(target_relation, sql, declared) }}
    {%- endcall %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {%- do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {%- do persist_docs(target_relation, model) %}
    {%- if record_after %}{% do record_declared_columns(target_relation) %}{% endif %}
    {%- do adapter.expire_glue_table_versions(
        target_relation, config.get('versions_to_keep', 1) | as_number, False) %}
    {%- do run_test_batch() %}
    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}

{#- dbt-athena's Iceberg MERGE (its iceberg_merge: unique_key,
    incremental_predicates, delete_condition, update_condition,
    insert_condition, merge_update_columns or merge_exclude_columns), with the
    model's query as its source, and the target bound the model set while it
    was compiled (bound_merge_to_days). -#}
{% macro merge_from_query(target_relation, source_sql, columns) -%}
    {%- set unique_key = config.get('unique_key') -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set not_updated = keys | map('lower') | list -%}
    {%- set only_updated = (config.get('merge_update_columns') or []) | map('lower') | list -%}
    {%- do not_updated.extend((config.get('merge_exclude_columns') or []) | map('lower')) -%}
    {%- set updated = [] -%}
    {%- for column in columns if column | lower not in not_updated
        and (not only_updated or column | lower in only_updated) -%}
        {%- do updated.append(column) -%}
    {%- endfor -%}
    {%- set delete_condition = config.get('delete_condition') -%}
    {%- set update_condition = config.get('update_condition') -%}
    {%- set insert_condition = config.get('insert_condition') -%}
    merge into {{ target_relation }} as target
    using (
        {{ source_sql }}
    ) as src
    on (
        {%- for key in keys %}target.{{ key }} = src.{{ key }}{{ ' and ' if not loop.last }}{% endfor -%}
        {%- for predicate in (config.get('incremental_predicates') or [])
            + [run_cache('merge_target_bounds').get(model.unique_id)] | reject('none') | list %} and ({{ predicate }}){% endfor -%}
    )
    {%- if delete_condition %}
    when matched and ({{ delete_condition }}) then delete
    {%- endif %}
    {%- if updated %}
    when matched{% if update_condition %} and ({{ update_condition }}){% endif %} then update set
        {%- for column in updated %}
        {{ adapter.quote(column) }} = src.{{ adapter.quote(column) }}{{ ',' if not loop.last }}
        {%- endfor %}
    {%- endif %}
    when not matched{% if insert_condition %} and ({{ insert_condition }}){% endif %}
    then insert ({% for column in columns %}{{ adapter.quote(column) }}{{ ', ' if not loop.last }}{% endfor %})
    values ({% for column in columns %}src.{{ adapter.quote(column) }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}

{#- What the check of declared columns was last made for: the model's SQL file
    and its declared column names. -#}
{% macro declared_columns_checksum() -%}
    {{ return(local_md5(model.checksum.checksum ~ '|'
        ~ model['columns'].values() | map(attribute='name') | join(','))) }}
{%- endmacro %}

{% macro recorded_columns_checksum(relation) -%}
    {%- set table = adapter.get_glue_table(relation) -%}
    {%- if not table -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(table['Table'].get('Parameters', {}).get('streamlake_declared_columns')) }}
{%- endmacro %}

{#- Records in the Glue table's parameters that its columns were checked (one
    Glue call, no Athena query). -#}
{% macro record_declared_columns(relation) -%}
    {%- if recorded_columns_checksum(relation) == declared_columns_checksum() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- do adapter.persist_docs_to_glue(relation, {
        'description': model.description,
        'unique_id': model.unique_id,
        'columns': {},
        'config': {
            'materialized': 'incremental',
            'meta': {'streamlake_declared_columns': declared_columns_checksum()},
        },
    }, true, false) -%}
{%- endmacro %}
