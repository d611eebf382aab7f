{#- The generic tests dbt_utils would give (the package hub is unreachable here),
    written in SQL that DuckDB and Athena both run. Each returns failing rows. -#}

{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}

{% test expression_is_true(model, expression) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}

{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
select {{ column_name }}
from {{ model }}
where
    {%- if min_value is not none %}
    {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}
    {%- endif %}
    {%- if min_value is not none and max_value is not none %} or {% endif %}
    {%- if max_value is not none %}
    {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}
    {%- endif %}
{% endtest %}

{% test not_empty(model) %}
select 1 as no_rows
from (select count(*) as row_count from {{ model }}) as counted
where row_count = 0
{% endtest %}

{#- Several columns that must never be null, in one query: one row per column
    with nulls, and how many. One test instead of one not_null per column, so a
    scheduled run sends one statement (on Athena, 10 MB billed at least) for the
    model's required columns, and reads them in one scan. -#}
{% test not_null_columns(model, column_names) %}
with counted as (
    select
        {%- for column in column_names %}
        sum(case when {{ column }} is null then 1 else 0 end) as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}
)

{% for column in column_names -%}
select '{{ column }}' as null_column, {{ column }} as null_rows
from counted
where {{ column }} > 0
{% if not loop.last %}union all
{% endif %}
{%- endfor %}
{% endtest %}
