{#- funnel_daily's conversion window, checked: it bounds how far around a
    changed day a recompute reads, so it must be a whole number of hours. -#}
{% macro funnel_window_hours() -%}
    {%- set hours = var('funnel_conversion_window_hours') -%}
    {%- if hours is not integer or hours < 1 -%}
        {{ exceptions.raise_compiler_error(
            "var funnel_conversion_window_hours must be a whole number of hours, 1 or more; got "
            ~ hours) }}
    {%- endif -%}
    {{ return(hours) }}
{%- endmacro %}

{#- The days within `reach` days of any of the days, as sorted 'YYYY-MM-DD'
    strings (none for none: every day), rendered as literals by date_in() so
    that Silver's day partitions are pruned. -#}
{% macro days_around(days, reach) -%}
    {%- if days is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set around = {} -%}
    {%- for day in days -%}
        {%- set center = modules.datetime.date.fromisoformat(day) -%}
        {%- for offset in range(-reach, reach + 1) -%}
            {%- do around.update({(center + modules.datetime.timedelta(days=offset)).isoformat(): true}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(around.keys() | sort) }}
{%- endmacro %}
