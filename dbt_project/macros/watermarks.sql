{#- Incremental boundaries come from the target tables themselves (invariant 7).

    The watermark is read when the model runs and rendered as a literal, so that
    both engines can prune Bronze partitions (dt) and Iceberg files with it; a
    scalar subquery would be opaque to the planner. -#}

{% macro watermark(column, lookback_minutes=0) -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set read_at_start = run_cache('watermarks') -%}
    {%- if (model.unique_id, column) in read_at_start -%}
        {%- set newest = read_at_start[(model.unique_id, column)] -%}
    {%- else -%}
        {%- set result = run_query("select max(" ~ column ~ ") from " ~ this) -%}
        {%- set newest = result.columns[0].values()[0] if result and result.rows | length > 0 else none -%}
    {%- endif -%}
    {%- if newest is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set moment = newest - modules.datetime.timedelta(minutes=lookback_minutes) -%}
    {{ return(moment.strftime('%Y-%m-%d %H:%M:%S.%f')) }}
{%- endmacro %}

{#- `where <column> > <watermark>` on incremental runs with a watermark; true otherwise. -#}
{% macro after_watermark(column, watermark_value) -%}
    {%- if watermark_value is none -%}
        1 = 1
    {%- else -%}
        {{ column }} > timestamp '{{ watermark_value }}'
    {%- endif -%}
{%- endmacro %}

{#- The landed-after watermark of a Silver model that reads Bronze. A backfill
    (vars backfill_from and backfill_to, dates) has none: it reads its Bronze
    dates whole, and the merges keep only what is new or newer. -#}
{% macro bronze_watermark() -%}
    {%- if var('backfill_from', none) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(watermark('_ingested_at', var('watermark_lookback_minutes'))) }}
{%- endmacro %}

{#- Bronze partitions that can hold rows after the watermark, or a backfill's dates. -#}
{% macro dt_after_watermark(watermark_value) -%}
    {%- if var('backfill_from', none) -%}
        cast(dt as date) between date '{{ var("backfill_from") }}'
        and date '{{ var("backfill_to", var("backfill_from")) }}'
    {%- elif watermark_value is none -%}
        1 = 1
    {%- else -%}
        cast(dt as date) >= date '{{ watermark_value[:10] }}'
    {%- endif -%}
{%- endmacro %}

{#- This run's timestamp, stamped on every row a model writes. -#}
{% macro run_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp(6))
{%- endmacro %}

{#- The watermark columns the models read (watermark(column)), per table that has them. -#}
{% macro watermark_columns() -%}
    {{ return(['_ingested_at', '_processed_at']) }}
{%- endmacro %}

{#- on-run-start: every watermark of the run's incremental models in one query
    (on Athena each query is billed 10 MB at least and takes a second or more;
    one per model added a dozen to every run). A model's table is written by
    that model alone, so its watermark read at the start of the run is the one
    it would read when it runs. The values wait in run_cache('watermarks');
    a model the query did not cover (a table created during this run, or a
    command without on-run-start hooks) reads its own as before. -#}
{% macro read_watermarks() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set reads = [] -%}
    {%- for node in graph.nodes.values()
        if node.unique_id in selected_resources
        and node.resource_type == 'model'
        and node.config.materialized == 'incremental' -%}
        {%- set relation = load_cached_relation(api.Relation.create(
            database=node.database, schema=node.schema, identifier=node.alias)) -%}
        {%- set columns = watermark_columns() | select('in', node.columns) | list -%}
        {%- if relation is not none and relation.is_table and columns -%}
            {%- set values = [] -%}
            {%- for column in watermark_columns() -%}
                {#- As text, parsed by timestamp_of. -#}
                {%- do values.append(('cast(max(' ~ column ~ ') as varchar)'
                    if column in columns else 'cast(null as varchar)') ~ ' as ' ~ column) -%}
            {%- endfor -%}
            {%- do reads.append("select '" ~ node.unique_id ~ "' as unique_id, "
                ~ values | join(', ') ~ ' from ' ~ relation) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if reads -%}
        {%- set cache = run_cache('watermarks') -%}
        {%- set found = run_query(reads | join('\nunion all\n')) -%}
        {%- for row in found.rows -%}
            {%- for column in watermark_columns() -%}
                {%- do cache.update({(row['unique_id'], column): timestamp_of(row[column])}) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{#- A timestamp a query returned as text (cast to varchar: result types of
    a union with nulls differ between the engines' drivers), as a datetime;
    none for null. -#}
{% macro timestamp_of(text) -%}
    {{ return(modules.datetime.datetime.fromisoformat(text | string) if text is not none else none) }}
{%- endmacro %}

{#- A dict that lives for one dbt command, shared by its hooks and nodes: dbt
    renders each in a context of its own, but `graph` is the one manifest's. -#}
{% macro run_cache(name) -%}
    {%- set caches = graph.setdefault('streamlake_run_cache', {}) -%}
    {{ return(caches.setdefault(name, {})) }}
{%- endmacro %}
