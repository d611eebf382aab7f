{#- The Silver events of the days whose events changed since this Gold model
    last ran (every day on a first run): event models recompute those days whole,
    however old they are. -#}
{% macro events_on_changed_days() -%}
    {%- set processed_after = watermark('_processed_at') -%}
    select events.*
    from {{ ref('events') }} as events
    inner join (
        select distinct event_date
        from {{ ref('events') }}
        where {{ after_watermark('_processed_at', processed_after) }}
    ) as changed_days
        on events.event_date = changed_days.event_date
{%- endmacro %}
