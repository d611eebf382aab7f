{#- A MERGE into a day-partitioned Iceberg table on Athena reads the target's
    key columns in every partition it may match: a MERGE on the key alone reads
    the whole table, so its bytes grow with the history. Silver events' new
    rows fall on a few days (today's, and late events' days), so on Athena the
    model first asks which days its new rows fall on (one query, over the new
    Bronze alone) and bounds both the MERGE's target and its source to those
    days: the target's other partitions are never read.

    This holds because an event's day never changes: a redelivery or a retry
    repeats the event, with its time. The source is bounded to the days and to
    the newest ingestion time the question saw, so that Bronze landing between
    the question and the MERGE waits for the next run (the watermark lookback
    re-reads it) instead of reaching a day the target bound leaves out.

    Returns the condition on the model's new rows (true when unbounded: on a
    first build or a full refresh, and in a backfill; DuckDB has its own, below). -#}
{% macro bound_merge_to_days(new_rows_sql, day_expression, landed_column, target_day_column) -%}
    {{ return(adapter.dispatch('bound_merge_to_days', 'streamlake')(
        new_rows_sql, day_expression, landed_column, target_day_column)) }}
{%- endmacro %}

{% macro default__bound_merge_to_days(new_rows_sql, day_expression, landed_column, target_day_column) -%}
    {{ return('1 = 1') }}
{%- endmacro %}

{#- DuckDB reads no partitions a bound could skip. What its runs spend on is
    the watermark's lookback: every run reads the last minutes of Bronze again
    (var watermark_lookback_minutes), which at thousands of events a second is
    hundreds of thousands of rows ranked and merged each run for nothing.
    A scheduled build names the Bronze files its last successful build did not
    see (env STREAMLAKE_NEW_BRONZE_FILES): only those are read, and DuckDB
    skips the others by their names. Otherwise left out: the new rows whose
    delivery the target holds already (the same key, landed at the same
    moment), which the merge would leave as they are (its update condition
    wants an earlier delivery), looked up among the target's rows landed after
    the watermark; a row without a key stays, so that the tests still see it. -#}
{% macro duckdb__bound_merge_to_days(new_rows_sql, day_expression, landed_column, target_day_column) -%}
    {%- set key = config.get('unique_key') -%}
    {%- if not execute or not is_incremental() or var('backfill_from', none)
        or key is not string -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {%- set listed = env_var('STREAMLAKE_NEW_BRONZE_FILES', '') -%}
    {%- if listed -%}
        {#- A scheduled build named the Bronze files its last successful build did not
            see (flows/bronze_changes.py): every other file was read by that build. -#}
        {%- set sources = [] -%}
        {%- do _bronze_sources_upstream(model.unique_id, sources) -%}
        {%- set files = [] -%}
        {%- for path in fromjson(listed) if path.split('/')[1] in sources -%}
            {%- do files.append("'" ~ (var('lake_root') ~ '/' ~ path) | replace("'", "''") ~ "'") -%}
        {%- endfor -%}
        {{ return('source_file in (' ~ files | join(', ') ~ ')' if files else '1 = 0') }}
    {%- endif -%}
    {%- set landed_after = bronze_watermark() -%}
    {%- if landed_after is none -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {%- set merged -%}
        select {{ key }}, _ingested_at from {{ this }}
        where _ingested_at > timestamp '{{ landed_after }}'
            and {{ key }} is not null and _ingested_at is not null
    {%- endset -%}
    {{ return('(' ~ key ~ ' is null or (' ~ key ~ ', ' ~ utc_timestamp(landed_column)
        ~ ') not in (' ~ merged ~ '))') }}
{%- endmacro %}

{% macro athena__bound_merge_to_days(new_rows_sql, day_expression, landed_column, target_day_column) -%}
    {%- if not execute or not is_incremental() or var('backfill_from', none) -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {%- set found = run_query(
        "select cast(" ~ day_expression ~ " as varchar) as day,"
        ~ " cast(max(" ~ landed_column ~ ") as varchar) as landed_until"
        ~ " from (" ~ new_rows_sql ~ ") as new_rows group by 1") -%}
    {%- set days = found.rows | map(attribute='day') | reject('none') | map('string') | list -%}
    {%- set landed = found.rows | map(attribute='landed_until') | reject('none') | map('string') | list -%}
    {%- if found.rows | length == 0 -%}
        {%- do run_cache('merge_target_bounds').update({model.unique_id: '1 = 0'}) -%}
        {%- do run_cache('merge_days').update({model.unique_id: []}) -%}
        {{ return('1 = 0') }}
    {%- endif -%}
    {%- if days | length < found.rows | length or not landed -%}
        {#- A row without a time or an ingestion time has no day to bound by:
            this run reads and merges unbounded, as before. -#}
        {{ return('1 = 1') }}
    {%- endif -%}
    {%- set landed_until = landed | max -%}
    {%- do run_cache('merge_target_bounds').update(
        {model.unique_id: date_in('target.' ~ target_day_column, days)}) -%}
    {#- The days this merge can write, for what reads them after it
        (remember_changed_event_days). -#}
    {%- do run_cache('merge_days').update({model.unique_id: days | unique | sort}) -%}
    {{ return(date_in(day_expression, days) ~ ' and ' ~ landed_column
        ~ " <= timestamp '" ~ landed_until ~ "'") }}
{%- endmacro %}
