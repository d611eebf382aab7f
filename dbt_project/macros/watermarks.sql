{#- Incremental boundaries come from the target tables themselves (invariant 7).

    The watermark is read when the model runs and rendered as a literal, so that
    both engines can prune Bronze partitions (dt) and Iceberg files with it; a
    scalar subquery would be opaque to the planner. -#}

{% macro watermark(column, lookback_minutes=0) -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set result = run_query("select max(" ~ column ~ ") from " ~ this) -%}
    {%- set newest = result.columns[0].values()[0] if result and result.rows | length > 0 else none -%}
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
