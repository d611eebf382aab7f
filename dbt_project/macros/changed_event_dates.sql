{#- The event dates whose Silver events changed since this Gold model last ran
    (all dates on a first run): event models recompute those days whole. -#}
{% macro changed_event_dates(processed_after) -%}
    select distinct event_date
    from {{ ref('events') }}
    where {{ after_watermark('_processed_at', processed_after) }}
{%- endmacro %}
