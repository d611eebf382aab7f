{#- Incremental models on DuckDB: the same merge as dbt-duckdb's own
    materialization, in fewer statements. Every statement against the DuckLake
    catalog pays its own catalog work, and dbt-duckdb's incremental run asks for
    the columns of the new rows and of the target table four times over
    (expanding column types, then checking for schema changes) before it merges.
    Here one query gets the columns of the new rows, of the target and of the
    model's contract where it has one (dbt's own contract check runs two
    DESCRIBEs), new columns are added (on_schema_change append_new_columns)
    and the merge runs, so that a scheduled run spends its time on the data.
    First builds, full refreshes and any configuration this path does not
    cover (a strategy other than merge, no unique_key, grants, on_schema_change
    fail or sync_all_columns, Python models) go to dbt-duckdb's materialization
    as before. Athena keeps dbt-athena's. -#}
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
        {%- if model.language == 'sql' -%}
            {%- do assert_declared_columns(query_column_names()) -%}
        {%- endif -%}
        {%- set built = dbt.materialization_incremental_duckdb() -%}
        {%- do run_test_batch() -%}
        {{ return(built) }}
    {%- endif -%}

    {%- set target_relation = this.incorporate(type='table') -%}
    {#- Connection-local: it goes with the connection dbt closes after the model. -#}
    {%- set new_rows = make_temp_relation(target_relation).incorporate(
        database='temp', schema='main', type='table') -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- call statement('new_rows') -%}
        create or replace temporary table {{ new_rows.identifier }} as (
            {{ sql }}
        )
    {%- endcall %}

    {%- set contract = model['columns'] if config.get('contract').enforced else none -%}
    {%- set columns = incremental_columns(new_rows, target_relation, contract) -%}
    {%- do assert_declared_columns(columns.new_rows | map(attribute='name') | list) -%}
    {%- if contract is not none %}
        {%- do assert_new_rows_match_contract(columns.new_rows, columns.contract) -%}
    {%- endif %}
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
    {%- call statement('main', fetch_result=True) -%}
        {{ merge_sql }}
    {%- endcall %}
    {%- do remember_rows_merged(target_relation, load_result('main')) %}

    {%- do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {%- do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {%- do run_test_batch() %}

    {{ return({'relations': [target_relation]}) }}
{%- endmaterialization %}

{#- The columns of the new rows, of the target and of the contract (its
    declared types as DuckDB names them, as dbt's check gets them), in one
    query: {'new_rows': [Column], 'target': [Column], 'contract': [Column]}.
    pragma_table_info binds the two tables only; duckdb_columns() would bind
    every view, and a staging view binds by reading every Bronze footer. -#}
{% macro incremental_columns(new_rows, target, contract=none) -%}
    {%- set declared = [] -%}
    {%- for column in (contract or {}).values() -%}
        {%- if not column.data_type -%}
            {%- do exceptions.column_type_missing(column_names=[column.name]) -%}
        {%- endif -%}
        {%- do declared.append(
            " union all select 'contract', " ~ loop.index ~ ", '" ~ column.name | replace("'", "''")
            ~ "', typeof(" ~ cast('null', column.data_type) ~ ")") -%}
    {%- endfor -%}
    {%- set found = run_query(
        "select 'new_rows' as kind, cid, name, type"
        ~ " from pragma_table_info('temp.main." ~ new_rows.identifier ~ "')"
        ~ " union all select 'target', cid, name, type from pragma_table_info('"
        ~ target.database ~ "." ~ target.schema ~ "." ~ target.identifier ~ "')"
        ~ declared | join('')
        ~ " order by kind, cid") -%}
    {%- set columns = {'new_rows': [], 'target': [], 'contract': []} -%}
    {%- for row in found.rows -%}
        {%- do columns[row[0]].append(api.Column.create(row[2], row[3])) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{#- dbt's contract check (assert_columns_equivalent: the same columns, by
    name, with the same types, and the same error), on column lists already
    fetched. -#}
{% macro assert_new_rows_match_contract(new_rows, contract) -%}
    {%- set sql_columns = format_columns(new_rows) -%}
    {%- set yaml_columns = format_columns(contract) -%}
    {%- set yaml_formatted = yaml_columns | map(attribute='formatted') | list -%}
    {%- if not contract or sql_columns | length != yaml_columns | length -%}
        {%- do exceptions.raise_contract_error(yaml_columns, sql_columns) -%}
    {%- endif -%}
    {%- for column in sql_columns if column.formatted not in yaml_formatted -%}
        {%- do exceptions.raise_contract_error(yaml_columns, sql_columns) -%}
    {%- endfor -%}
{%- endmacro %}
