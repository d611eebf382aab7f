{#- The days whose Silver events changed since this Gold model last ran, as
    a list of 'YYYY-MM-DD' (none on a first run or a full refresh: every day).
    Read when the model runs and rendered as literals, so that Athena prunes
    Silver events' day partitions and DuckDB skips files and row groups by their
    statistics; a join on a subquery of the changed days reads every day. -#}
{% macro changed_event_days() -%}
    {{ return(event_days_after(watermark('_processed_at'))) }}
{%- endmacro %}

{#- The days of the Silver events whose changed_column is after a watermark
    the model has read already (none for no watermark: every day).

    The Gold event models each ask with their own watermark, and on Athena
    each query is billed 10 MB at least: Silver events' post-hook asks once
    for all of them (remember_changed_event_days), and each model keeps the
    days newer than its own watermark from that answer. A model whose
    watermark is older than the answer covers asks for itself. -#}
{% macro event_days_after(processed_after, changed_column='_processed_at') -%}
    {%- if processed_after is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set after = timestamp_of(processed_after) -%}
    {%- set remembered = run_cache('event_days') -%}
    {%- set changed = remembered if remembered.get('since') and after >= remembered['since']
        else changed_event_days_since(ref('events'), after) -%}
    {%- set wanted = [] -%}
    {%- for day in changed['days']
        if day[changed_column] is not none and day[changed_column] > after -%}
        {%- do wanted.append(day['day']) -%}
    {%- endfor -%}
    {{ return(wanted | sort) }}
{%- endmacro %}

{#- Silver events' post-hook: the changed days for every Gold model of the run
    that asks for them (it calls one of the macros above), from the earliest of
    their watermarks (read at the run's start), kept in run_cache('event_days'). On Athena, when every
    one of those models had read all of Silver events before this run (no
    watermark older than Silver's own at the start), the days this run's merge
    wrote are the days its new rows fall on, which the merge's bound asked for
    already (bound_merge_to_days): no query. -#}
{% macro remember_changed_event_days() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set readers = [] -%}
    {%- set asking = ['macro.streamlake.events_on_changed_days',
        'macro.streamlake.changed_event_days', 'macro.streamlake.event_days_after'] -%}
    {%- for node in graph.nodes.values()
        if node.unique_id in selected_resources and model.unique_id in node.depends_on.nodes
        and node.depends_on.macros | select('in', asking) | list -%}
        {%- do readers.append(node.unique_id) -%}
    {%- endfor -%}
    {%- set watermarks = [] -%}
    {%- for key, newest in run_cache('watermarks').items()
        if key[0] in readers and key[1] == '_processed_at' and newest is not none -%}
        {%- do watermarks.append(newest) -%}
    {%- endfor -%}
    {%- if watermarks -%}
        {%- set merged_days = run_cache('merge_days').get(model.unique_id) -%}
        {%- set silver_before = run_cache('watermarks').get((model.unique_id, '_processed_at')) -%}
        {%- if merged_days is not none and silver_before is not none
            and watermarks | min >= silver_before -%}
            {%- set stamp = timestamp_of(run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f')) -%}
            {%- set days = [] -%}
            {%- for day in merged_days -%}
                {%- do days.append(
                    {'day': day, '_processed_at': stamp, '_first_processed_at': stamp}) -%}
            {%- endfor -%}
            {%- do run_cache('event_days').update({'since': watermarks | min, 'days': days}) -%}
        {%- else -%}
            {%- do run_cache('event_days').update(
                changed_event_days_since(this, watermarks | min)) -%}
        {%- endif -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{#- {'since': moment, 'days': [{'day', '_processed_at', '_first_processed_at'}]}:
    each day with rows of `events` (Silver events) changed after `since`, and
    its newest changes. -#}
{% macro changed_event_days_since(events, since) -%}
    {%- set found = run_query(
        "select cast(event_date as varchar) as event_date,"
        ~ " cast(max(_processed_at) as varchar) as _processed_at,"
        ~ " cast(max(_first_processed_at) as varchar) as _first_processed_at"
        ~ " from " ~ events
        ~ " where " ~ after_watermark('_processed_at', since.strftime('%Y-%m-%d %H:%M:%S.%f'))
        ~ " group by event_date") -%}
    {%- set days = [] -%}
    {%- for row in found.rows -%}
        {%- do days.append({
            'day': row['event_date'] | string,
            '_processed_at': timestamp_of(row['_processed_at']),
            '_first_processed_at': timestamp_of(row['_first_processed_at'])}) -%}
    {%- endfor -%}
    {{ return({'since': since, 'days': days}) }}
{%- endmacro %}

{#- `<column>` is one of the days (true for none: every day; false for no day). -#}
{% macro date_in(column, days) -%}
    {%- if days is none -%}
        1 = 1
    {%- elif days | length == 0 -%}
        1 = 0
    {%- else -%}
        {#- The range lets DuckDB skip row groups by their min and max; it turns
            a long list into a join, which skips none. -#}
        {{ column }} between date '{{ days | min }}' and date '{{ days | max }}'
        and {{ column }} in (
            {%- for day in days %}date '{{ day }}'{{ ', ' if not loop.last }}{% endfor -%}
        )
    {%- endif -%}
{%- endmacro %}

{#- The Silver events of the days whose events changed since this Gold model
    last ran (every day on a first run): event models recompute those days whole,
    however old they are. -#}
{% macro events_on_changed_days() -%}
    select events.*
    from {{ ref('events') }} as events
    where {{ date_in('events.event_date', changed_event_days()) }}
{%- endmacro %}
