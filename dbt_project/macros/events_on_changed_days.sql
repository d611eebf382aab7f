{#- The days whose Silver events changed since this Gold model last ran, as
    a list of 'YYYY-MM-DD' (none on a first run or a full refresh: every day).
    Read when the model runs and rendered as literals, so that Athena prunes
    Silver events' day partitions and DuckDB skips files and row groups by their
    statistics; a join on a subquery of the changed days reads every day. -#}
{% macro changed_event_days() -%}
    {{ return(event_days_after(watermark('_processed_at'))) }}
{%- endmacro %}

{#- The days of the Silver events whose changed_column is after a watermark
    the model has read already (none for no watermark: every day). -#}
{% macro event_days_after(processed_after, changed_column='_processed_at') -%}
    {%- if processed_after is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set changed = run_query(
        "select distinct event_date from " ~ ref('events')
        ~ " where " ~ after_watermark(changed_column, processed_after)
        ~ " order by event_date") -%}
    {{ return(changed.columns[0].values() | map('string') | list) }}
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
