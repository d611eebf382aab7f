{#- Rows each model of the run inserted, updated or deleted, said in one log
    line at the run's end (on-run-end), which the transform flow reads for
    its report: `rows changed by this run: {"silver.events": 1500, ...}`.

    An incremental merge counts what its MERGE statement reports (the project's
    DuckDB materialization keeps it, materializations/incremental.sql: no query
    of its own); a group a Gold merge emptied and its post-hook deleted counts
    once, as the update that emptied it. A table the run built whole counts
    its rows, a seed the rows it loaded. The flow used to read DuckLake's change
    feed instead: a connection of its own (loading DuckLake and attaching the
    catalog) and two catalog reads per table, seconds of each run under load.
    Athena reports no reliable merge counts: nothing is said there, and the
    report says n/a. -#}
{% macro report_rows_changed() -%}
    {{ return(adapter.dispatch('report_rows_changed', 'streamlake')()) }}
{%- endmacro %}

{% macro default__report_rows_changed() -%}
    {{ return('') }}
{%- endmacro %}

{% macro duckdb__report_rows_changed() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set merged = run_cache('rows_changed') -%}
    {%- set changed = {} -%}
    {%- set built_whole = [] -%}
    {%- for result in results
        if result.node.resource_type in ('model', 'seed') and result.status == 'success'
        and result.node.config.materialized in ('incremental', 'table', 'seed') -%}
        {%- set name = result.node.schema ~ '.' ~ result.node.alias -%}
        {%- if name in merged -%}
            {%- do changed.update({name: merged[name]}) -%}
        {%- elif result.node.resource_type == 'seed'
            and result.adapter_response.get('rows_affected') is not none -%}
            {%- do changed.update({name: result.adapter_response['rows_affected'] | int}) -%}
        {%- else -%}
            {%- do built_whole.append("select '" ~ name ~ "' as name, count(*) as changed from "
                ~ target.database ~ '.' ~ name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if built_whole -%}
        {%- for row in run_query(built_whole | join('\nunion all\n')).rows -%}
            {%- do changed.update({row['name']: row['changed'] | int}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if changed -%}
        {{ log('rows changed by this run: ' ~ tojson(changed), info=true) }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{#- In the DuckDB incremental materialization: what its MERGE reported. -#}
{% macro remember_rows_merged(relation, merge_result) -%}
    {%- set table = merge_result['table'] if merge_result else none -%}
    {%- if table is not none and table.rows | length == 1 and table.columns | length == 1 -%}
        {%- do run_cache('rows_changed').update(
            {relation.schema ~ '.' ~ relation.identifier: table.rows[0][0] | int}) -%}
    {%- endif -%}
{%- endmacro %}
