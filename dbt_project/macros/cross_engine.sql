{#- What differs between DuckDB and Athena (Trino), behind adapter.dispatch.
    Models call these and never branch on target.type themselves. -#}

{#- The relation holding a Bronze source's rows. -#}
{% macro bronze_relation(source_name) -%}
    {{ return(adapter.dispatch('bronze_relation', 'streamlake')(source_name)) }}
{%- endmacro %}

{% macro default__bronze_relation(source_name) -%}
    {{ source('bronze', source_name) }}
{%- endmacro %}

{% macro duckdb__bronze_relation(source_name) -%}
    {#- union_by_name reads files from before and after a new column together;
        hive partitioning exposes dt, so filters on it skip whole folders. -#}
    read_parquet(
        '{{ bronze_files(source_name) }}',
        hive_partitioning = true,
        union_by_name = true,
        filename = true
    )
{%- endmacro %}

{#- The local glob of a Bronze source's files: every dt partition, or one day's. -#}
{% macro bronze_files(source_name, day=none) -%}
    {{ var('lake_root') }}/bronze/{{ source_name }}/{{ 'dt=' ~ day if day else '*' }}/*.parquet
{%- endmacro %}

{#- Per Bronze source (staged: source name -> its staging models): rows and
    files landed and the newest ingestion time, as rows of (bronze_source,
    rows_landed, files_landed, newest_ingestion_time) joined by union all.
    Counted on the source itself (a single table's entities each stage a part
    of it); ref() still names the staging models, so that the lineage runs
    through them on both engines. -#}
{% macro bronze_landed(staged) -%}
    {{ return(adapter.dispatch('bronze_landed', 'streamlake')(staged)) }}
{%- endmacro %}

{% macro default__bronze_landed(staged) -%}
    {%- for bronze_source, models in staged.items() %}
        {%- for model in models %}{% do ref(model) %}{% endfor %}
        select
            '{{ bronze_source }}' as bronze_source,
            count(*) as rows_landed,
            count(distinct {{ source_file_column() }}) as files_landed,
            {{ utc_timestamp('max(ingestion_time)') }} as newest_ingestion_time
        from {{ bronze_relation(bronze_source) }}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{#- Counting rows through the staging views reads every Bronze file, and
    binding a view reads every footer: costs that grow with the lake. The
    footers alone hold the row counts, and the newest ingestion time lies in
    the newest dt partition (a handler's dt is the date of its ingestion
    time), so only that partition's files are read for it. ref() still names
    the staging model, so that the lineage is the same on both engines. -#}
{% macro duckdb__bronze_landed(staged) -%}
    {%- set newest_days = {} -%}
    {%- if execute -%}
        {%- set queries = [] -%}
        {%- for bronze_source in staged -%}
            {%- do queries.append("select '" ~ bronze_source ~ "', max(regexp_extract(file, "
                ~ "'/dt=([0-9]{4}-[0-9]{2}-[0-9]{2})/', 1)) from glob('"
                ~ bronze_files(bronze_source) ~ "')") -%}
        {%- endfor -%}
        {%- for row in run_query(queries | join(' union all ')).rows if row[1] -%}
            {%- do newest_days.update({row[0]: row[1]}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for bronze_source, models in staged.items() %}
        {%- for model in models %}{% do ref(model) %}{% endfor %}
        {%- if bronze_source in newest_days %}
        select
            '{{ bronze_source }}' as bronze_source,
            cast(sum(footers.num_rows) as bigint) as rows_landed,
            count(*) as files_landed,
            (
                select {{ utc_timestamp('max(newest.ingestion_time)') }}
                from read_parquet('{{ bronze_files(bronze_source, newest_days[bronze_source]) }}')
                    as newest
            ) as newest_ingestion_time
        from parquet_file_metadata('{{ bronze_files(bronze_source) }}') as footers
        {%- else %}
        select
            '{{ bronze_source }}' as bronze_source,
            cast(0 as bigint) as rows_landed,
            cast(0 as bigint) as files_landed,
            cast(null as timestamp) as newest_ingestion_time
        {%- endif %}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{#- A scalar from JSON text, as varchar; path like '$.status'. A quote in the
    path (a quoted member such as $."it's") is doubled for the SQL literal. -#}
{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text', 'streamlake')(column, path)) }}
{%- endmacro %}

{% macro default__json_text(column, path) -%}
    json_extract_scalar({{ column }}, '{{ path | replace("'", "''") }}')
{%- endmacro %}

{% macro duckdb__json_text(column, path) -%}
    json_extract_string({{ column }}, '{{ path | replace("'", "''") }}')
{%- endmacro %}

{#- An ISO-8601 string with an offset (e.g. 2026-11-20T10:00:00.000Z) as a UTC timestamp. -#}
{% macro iso_timestamp(expression) -%}
    {{ return(adapter.dispatch('iso_timestamp', 'streamlake')(expression)) }}
{%- endmacro %}

{% macro default__iso_timestamp(expression) -%}
    {#- a cast alone would keep the wall time of the string's own offset -#}
    cast(from_iso8601_timestamp({{ expression }}) at time zone 'UTC' as timestamp(6))
{%- endmacro %}

{% macro duckdb__iso_timestamp(expression) -%}
    {#- the connection's TimeZone is UTC (profiles.yml), so this is UTC wall time -#}
    cast(cast({{ expression }} as timestamptz) as timestamp(6))
{%- endmacro %}

{#- A timestamp from Bronze as a plain UTC timestamp in microseconds: Athena
    reads Parquet timestamps as timestamp(3), and Iceberg tables take only
    timestamp(6); DuckDB's timestamp(6) is its timestamp. -#}
{% macro utc_timestamp(expression) -%}
    {{ return(adapter.dispatch('utc_timestamp', 'streamlake')(expression)) }}
{%- endmacro %}

{% macro default__utc_timestamp(expression) -%}
    cast({{ expression }} as timestamp(6))
{%- endmacro %}

{#- Left-padded sequence numbers compare as numbers. -#}
{% macro sequence_key(column) -%}
    lpad({{ column }}, {{ var('sequence_width') }}, '0')
{%- endmacro %}

{#- The merge's names for the incoming row and the row already in the table. -#}
{% macro merge_source_alias() -%}
    {{ return(adapter.dispatch('merge_source_alias', 'streamlake')()) }}
{%- endmacro %}
{% macro default__merge_source_alias() %}src{% endmacro %}
{% macro duckdb__merge_source_alias() %}DBT_INTERNAL_SOURCE{% endmacro %}

{% macro merge_target_alias() -%}
    {{ return(adapter.dispatch('merge_target_alias', 'streamlake')()) }}
{%- endmacro %}
{% macro default__merge_target_alias() %}target{% endmacro %}
{% macro duckdb__merge_target_alias() %}DBT_INTERNAL_DEST{% endmacro %}

{#- Merge condition: the incoming version is newer by source order (invariant 3). -#}
{% macro newer_version_condition() -%}
    {{ merge_source_alias() }}.sequence_key > {{ merge_target_alias() }}.sequence_key
{%- endmacro %}

{#- Merge condition for append-only facts: keep the first delivery of a duplicate. -#}
{% macro earlier_delivery_condition() -%}
    {{ merge_source_alias() }}.sequence_key < {{ merge_target_alias() }}.sequence_key
{%- endmacro %}

{#- The object a Bronze row was read from (for counting landed files). On
    Athena "$path" is a hidden column of the Glue table: it must be selected
    straight from the table, since `select *` does not carry it. -#}
{% macro source_file_column() -%}
    {{ return(adapter.dispatch('source_file_column', 'streamlake')()) }}
{%- endmacro %}
{% macro default__source_file_column() %}"$path"{% endmacro %}
{% macro duckdb__source_file_column() %}filename{% endmacro %}

{#- Quarantined records of every source. Quarantine may well be empty, and
    DuckDB refuses a glob that matches no file, so locally the files are looked
    for first. -#}
{% macro quarantine_relation() -%}
    {{ return(adapter.dispatch('quarantine_relation', 'streamlake')()) }}
{%- endmacro %}

{% macro default__quarantine_relation() -%}
    {{ source('bronze', 'quarantine') }}
{%- endmacro %}

{% macro duckdb__quarantine_relation() -%}
    {%- set pattern = var("lake_root") ~ "/quarantine/*/*/*.parquet" -%}
    {%- set found = 0 -%}
    {%- if execute -%}
        {%- set found = run_query("select count(*) from glob('" ~ pattern ~ "')").columns[0].values()[0] -%}
    {%- endif -%}
    {%- if found > 0 -%}
        read_parquet('{{ pattern }}', hive_partitioning = true, union_by_name = true)
    {%- else -%}
        (
            select
                cast(null as varchar) as source,
                cast(null as varchar) as reason,
                cast(null as varchar) as sequence_number,
                cast(null as timestamp) as ingestion_time,
                cast(null as date) as dt
            where 1 = 0
        )
    {%- endif -%}
{%- endmacro %}

{#- A model's Iceberg partition spec (e.g. ['day(order_date)']) on Athena.
    DuckLake tables stay unpartitioned: dbt-duckdb would apply partitioned_by
    to them, and a partition per day would have every incremental run write a
    small file into each day it touches (late events touch weeks of days),
    where an unpartitioned table gets one file per run. Measured on Silver
    events: the Gold models that recompute changed days were hardly faster
    with it, their cost being the aggregation, not the read. -#}
{% macro iceberg_partitioning(transforms) -%}
    {{ return(adapter.dispatch('iceberg_partitioning', 'streamlake')(transforms)) }}
{%- endmacro %}

{% macro default__iceberg_partitioning(transforms) -%}
    {{ return(transforms) }}
{%- endmacro %}

{% macro duckdb__iceberg_partitioning(transforms) -%}
    {{ return(none) }}
{%- endmacro %}
