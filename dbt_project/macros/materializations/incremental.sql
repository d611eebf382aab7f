{#- Incremental models on DuckDB: the same merge as dbt-duckdb's own
    materialization, in fewer statements. Every statement against the DuckLake
    catalog pays its own catalog work, and dbt-duckdb's incremental run asks for
    the columns of the new rows and of the target table four times over
    (expanding column types, then checking for schema changes) before it merges.
    Here one query gets both column lists, new columns are added
    (on_schema_change append_new_columns) and the merge runs, so that a
    scheduled run spends its time on the data. First builds, full refreshes and
    any configuration this path does not cover (a strategy other than merge, no
    unique_key, grants, on_schema_change fail or sync_all_columns, Python
    models) go to dbt-duckdb's materialization as before. Athena keeps
    dbt-athena's. -#}
{% materialization incremental, adapter='duckdb' -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set on_schema_change = config.get('on_schema_change') or 'ignore' -%}
    {%- if existing_relation is none
        or not existing_relation.is_table
        or should_full_refresh()
        or model.language != 'sql'
        or config.get('incremental_strategy') != 'merge'
        or not config.get('unique_key')
        or config.get('grants')
        or on_schema_change not in ('ignore', 'append_new_columns') -%}
        {{ return(dbt.materialization_incremental_duckdb()) }}
    {%- endif -%}

    {%- set target_relation = this.incorporate(type='table') -%}
    {#- Connection-local: it goes with the connection dbt closes after the model. -#}
    {%- set new_rows = make_temp_relation(target_relation).incorporate(
        database='temp', schema='main', type='table') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if config.get('contract').enforced %}
        {{ get_assert_columns_equivalent(sql) }}
    {%- endif %}
    {%- call statement('new_rows') -%}
        create or replace temporary table {{ new_rows.identifier }} as (
            {{ sql }}
        )
    {%- endcall %}

    {%- set columns = incremental_columns(new_rows, target_relation) -%}
    {%- set dest_columns = columns.target -%}
    {%- if on_schema_change == 'append_new_columns' %}
        {%- set target_names = columns.target | map(attribute='name') | map('lower') | list -%}
        {%- set added_columns = [] -%}
        {%- for column in columns.new_rows if column.name | lower not in target_names -%}
            {%- do added_columns.append(column) -%}
        {%- endfor -%}
        {%- if added_columns %}
            {%- do alter_relation_add_remove_columns(target_relation, added_columns, none) -%}
            {%- set dest_columns = dest_columns + added_columns -%}
        {%- endif %}
    {%- endif %}

    {%- set merge_sql = adapter.get_incremental_strategy_macro(context, 'merge')({
        'target_relation': target_relation,
        'temp_relation': new_rows,
        'unique_key': config.get('unique_key'),
        'dest_columns': dest_columns,
        'incremental_predicates': config.get('predicates', none) or config.get('incremental_predicates', none),
    }) -%}
    {%- call statement('main') -%}
        {{ merge_sql }}
    {%- endcall %}

    {%- do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {%- do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}

{#- The columns of the new rows and of the target, in one catalog query:
    {'new_rows': [Column], 'target': [Column]}. -#}
{% macro incremental_columns(new_rows, target) -%}
    {%- set found = run_query(
        "select database_name = 'temp' as is_new_rows, column_name, data_type"
        ~ " from duckdb_columns()"
        ~ " where (database_name = 'temp' and schema_name = 'main'"
        ~ " and table_name = '" ~ new_rows.identifier ~ "')"
        ~ " or (database_name = '" ~ target.database ~ "'"
        ~ " and schema_name = '" ~ target.schema ~ "'"
        ~ " and table_name = '" ~ target.identifier ~ "')"
        ~ " order by is_new_rows, column_index") -%}
    {%- set columns = {'new_rows': [], 'target': []} -%}
    {%- for row in found.rows -%}
        {%- do columns['new_rows' if row[0] else 'target'].append(api.Column.create(row[1], row[2])) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}
