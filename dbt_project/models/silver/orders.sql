{{
    config(
        unique_key='order_id',
        merge_update_condition=newer_version_condition(),
        update_condition=newer_version_condition(),
    )
}}

{%- set landed_after = watermark('_ingested_at', var('watermark_lookback_minutes')) %}

with changes as (
    select *
    from {{ ref('stg_orders') }}
    where {{ dt_after_watermark(landed_after) }}
        and {{ after_watermark('ingestion_time', landed_after) }}
),

ranked as (
    select
        *,
        row_number() over (partition by order_id order by sequence_key desc) as version_rank
    from changes
)

select
    order_id,
    customer_id,
    product_id,
    quantity,
    amount,
    status,
    created_at,
    cast(created_at as date) as order_date,
    updated_at,
    is_delete as is_deleted,
    case when is_delete then changed_at end as deleted_at,
    sequence_number,
    sequence_key,
    changed_at,
    {{ utc_timestamp('ingestion_time') }} as _ingested_at,
    {{ run_timestamp() }} as _processed_at
from ranked
where version_rank = 1
