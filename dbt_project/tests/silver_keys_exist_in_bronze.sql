-- Every Silver row comes from a Bronze record: nothing is invented between layers.
select 'customers' as model, customer_id as missing_key
from {{ ref('customers') }}
where customer_id not in (select customer_id from {{ ref('stg_customers') }})
union all
select 'products', product_id
from {{ ref('products') }}
where product_id not in (select product_id from {{ ref('stg_products') }})
union all
select 'orders', order_id
from {{ ref('orders') }}
where order_id not in (select order_id from {{ ref('stg_orders') }})
union all
select 'events', event_id
from {{ ref('events') }}
where event_id not in (select event_id from {{ ref('stg_events') }})
