-- A full audit of the whole table: a scheduled run excludes tag:full_audit.
{{ config(tags=['full_audit']) }}

-- Every Silver row comes from a Bronze record: nothing is invented between layers.
-- Each Silver model of the application (macros/streamlake_application.sql)
-- against its staging view, on every column of its key.
{%- set tables = [] %}
{%- for source in streamlake_application().sources %}
    {%- for entity in source.entities %}
        {%- do tables.append(entity) %}
    {%- endfor %}
{%- endfor %}

{% for entity in tables %}
    {%- set on_key = [] %}
    {%- for key in entity.key %}
        {%- do on_key.append('silver.' ~ key ~ ' = bronze.' ~ key) %}
    {%- endfor %}
    select
        '{{ entity.silver }}' as silver_model,
        cast(silver.{{ entity.key[0] }} as varchar) as missing_key
    from {{ ref(entity.silver) }} as silver
    left join {{ ref(entity.staging) }} as bronze on {{ on_key | join(' and ') }}
    where bronze.{{ entity.key[0] }} is null
    {% if not loop.last %}union all{% endif %}
{% endfor %}
