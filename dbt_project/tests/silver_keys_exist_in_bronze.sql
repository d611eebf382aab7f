-- A full audit of the whole table: a scheduled run excludes tag:full_audit.
{{ config(tags=['full_audit']) }}

-- Every Silver row comes from a Bronze record: nothing is invented between layers.
{%- set silver_tables = [
    ('customers', 'stg_customers', 'customer_id'),
    ('products', 'stg_products', 'product_id'),
    ('orders', 'stg_orders', 'order_id'),
    ('events', 'stg_events', 'event_id'),
] %}

{% for model, staging, key in silver_tables %}
    select
        '{{ model }}' as silver_model,
        silver.{{ key }} as missing_key
    from {{ ref(model) }} as silver
    left join {{ ref(staging) }} as bronze on silver.{{ key }} = bronze.{{ key }}
    where bronze.{{ key }} is null
    {% if not loop.last %}union all{% endif %}
{% endfor %}
