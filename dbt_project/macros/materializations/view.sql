{#- Views on DuckDB (the Bronze staging models), re-created only when their
    definition changed. A staging view's SQL changes with the project or the
    lake root, not with the data, yet dbt's own view materialization replaces
    the view in every run: on DuckLake several catalog changes per view,
    each re-reading every Bronze file's footer to bind the view's query. The
    view's comment holds a digest of the SQL it was created from (so a
    persisted description there would only make every run replace the view). -#}
{% materialization view, adapter='duckdb' -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set definition = 'streamlake view definition ' ~ local_md5(sql) -%}
    {%- if existing_relation is not none
        and existing_relation.is_view
        and not should_full_refresh()
        and view_comment(target_relation) == definition -%}
        {{ return(unchanged_view(target_relation)) }}
    {%- endif -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {%- if existing_relation is not none and not existing_relation.is_view %}
        {{ adapter.drop_relation(existing_relation) }}
    {%- endif %}
    {%- call statement('main') -%}
        create or replace view {{ target_relation }} as (
            {{ sql }}
        );
        comment on view {{ target_relation }} is '{{ definition }}'
    {%- endcall %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {%- do run_test_batch() %}

    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}

{#- The comment on a view, or none. -#}
{% macro view_comment(relation) -%}
    {%- set found = run_query(
        "select comment from duckdb_views()"
        ~ " where database_name = '" ~ relation.database ~ "'"
        ~ " and schema_name = '" ~ relation.schema ~ "'"
        ~ " and view_name = '" ~ relation.identifier ~ "'") -%}
    {{ return(found.columns[0].values()[0] if found.rows | length > 0 else none) }}
{%- endmacro %}

{#- Views on Athena (the Bronze staging models), re-created only when their
    definition changed, as on DuckDB: dbt-athena's view materialization sends a
    CREATE OR REPLACE VIEW every run (a statement, about half a second). The
    digest of the SQL a view was created from is kept as a parameter of its
    Glue table, which a re-creation clears; reading it is a Glue call, no
    Athena statement. -#}
{% materialization view, adapter='athena' -%}
    {%- set target_relation = this.incorporate(type='view') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set definition = local_md5(sql) -%}
    {%- set glue = adapter.get_glue_table(target_relation)
        if existing_relation is not none and existing_relation.is_view
        and not should_full_refresh() else none -%}
    {%- set kept = (glue or {}).get('Table', {}).get('Parameters', {}).get(
        view_definition_parameter()) -%}
    {%- if kept == definition -%}
        {{ return(unchanged_view(target_relation)) }}
    {%- endif -%}
    {%- set built = dbt.materialization_view_athena() -%}
    {%- do adapter.persist_docs_to_glue(target_relation, {
        'description': model.description,
        'unique_id': model.unique_id,
        'config': {'materialized': 'view', 'meta': {view_definition_parameter(): definition}},
        'columns': {}}, true, false, true) -%}
    {%- do run_test_batch() -%}
    {{ return(built) }}
{%- endmaterialization %}

{#- A view that already holds its definition: its hooks and tests, no statement. -#}
{% macro unchanged_view(target_relation) -%}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {%- call noop_statement('main', 'unchanged') -%}
        -- {{ target_relation }} already holds this definition
    {%- endcall %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {%- do run_test_batch() %}
    {{ return({'relations': [target_relation]}) }}
{%- endmacro %}

{#- The Glue table parameter holding a view's definition digest. -#}
{% macro view_definition_parameter() -%}
    {{ return('streamlake_view_definition') }}
{%- endmacro %}
