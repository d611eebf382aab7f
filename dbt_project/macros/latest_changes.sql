{#- The newest version of each key among the Bronze changes landed since the
    model's watermark (all of them on a first run). Several versions of one key
    in one run are reduced to the one with the highest sequence number; the
    merge then keeps it only if it is newer than the row already there.
    `key`: a column, or a list of them (a single-table design's composite key). -#}
{% macro latest_changes(staging_model, key) -%}
    {%- set keys = [key] if key is string else key -%}
    {%- set landed_after = bronze_watermark() -%}
    select *
    from (
        select
            changes.*,
            row_number() over (
                partition by
                {%- for column in keys %} changes.{{ column }}{{ ',' if not loop.last }}{% endfor %}
                order by changes.sequence_key desc
            ) as version_rank
        from {{ ref(staging_model) }} as changes
        where
            {{ dt_after_watermark(landed_after) }}
            and {{ after_watermark('changes.ingestion_time', landed_after) }}
    ) as ranked
    where version_rank = 1
{%- endmacro %}
