{#- The Glue tables over Bronze on Athena, for an account without the CDK
    stack (which creates the same tables from the same definition):

        dbt run-operation create_bronze_tables --target aws
        dbt run-operation create_bronze_tables --target aws --args '{replace: true}'

    Columns, partition keys and table properties (partition projection on dt)
    come from the bronze sources, which dbt_project/bronze_sources.py generates
    from ingestion/bronze_catalog.py. A table that exists is left alone unless
    replace is true: these are external tables, so dropping one keeps its data. -#}
{% macro create_bronze_tables(replace=false) -%}
    {{ return(adapter.dispatch('create_bronze_tables', 'streamlake')(replace)) }}
{%- endmacro %}

{% macro default__create_bronze_tables(replace) -%}
    {{ exceptions.raise_compiler_error(
        "create_bronze_tables is for the aws target (Athena): locally dbt reads Bronze "
        ~ "straight from the lake folder") }}
{%- endmacro %}

{% macro athena__create_bronze_tables(replace) -%}
    {%- set database = layer_schema('bronze') -%}
    {%- set lake_root = var('lake_root').rstrip('/') -%}
    {%- if not lake_root.startswith('s3://') -%}
        {{ exceptions.raise_compiler_error(
            "the lake root must be an s3:// URI on the aws target, not " ~ lake_root) }}
    {%- endif -%}
    {%- do run_query('create database if not exists `' ~ database ~ '`') -%}
    {%- for source in graph.sources.values() if source.source_name == 'bronze' -%}
        {%- set table = '`' ~ database ~ '`.`' ~ source.name ~ '`' -%}
        {%- if replace -%}
            {%- do run_query('drop table if exists ' ~ table) -%}
        {%- endif -%}
        {%- do run_query(bronze_table_ddl(source, table, lake_root)) -%}
        {{- log('Bronze table ' ~ database ~ '.' ~ source.name ~ ' over '
            ~ source.meta.athena.location.replace('{lake_root}', lake_root), info=true) -}}
    {%- endfor -%}
{%- endmacro %}

{#- Hive DDL, which Athena runs for CREATE EXTERNAL TABLE: names in backticks. -#}
{% macro bronze_table_ddl(source, table, lake_root) -%}
    {%- set athena = source.meta.athena -%}
    create external table if not exists {{ table }} (
    {%- for column in source.columns.values() %}
        `{{ column.name }}` {{ column.data_type }}
        {%- if column.meta.glue_comment %} comment '{{ hive_text(column.meta.glue_comment) }}'{% endif %}
        {{- ',' if not loop.last }}
    {%- endfor %}
    )
    comment '{{ hive_text(athena.comment) }}'
    partitioned by (
    {%- for key in athena.partition_keys -%}
        `{{ key.name }}` {{ key.data_type }}{{ ', ' if not loop.last }}
    {%- endfor -%}
    )
    stored as parquet
    location '{{ athena.location.replace("{lake_root}", lake_root) }}'
    tblproperties (
    {%- for key, value in athena.tblproperties.items() %}
        '{{ key }}' = '{{ value.replace("{lake_root}", lake_root) }}'{{ ',' if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}

{#- Text in a Hive DDL string literal: a quote or backslash escaped with a backslash. -#}
{% macro hive_text(text) -%}
    {{ return(text | replace('\\', '\\\\') | replace("'", "\\'")) }}
{%- endmacro %}
